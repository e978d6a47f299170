// Command cameo is the command-line interface of Cameo for Go. It is thin:
// flags become configs, configs go into library calls.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			os.Exit(exit.code)
		}
		fmt.Fprintln(os.Stderr, "cameo:", err)
		os.Exit(1)
	}
}
