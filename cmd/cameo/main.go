// Command cameo is the command-line interface of Cameo for Go. It is thin:
// flags become configs, configs go into library calls.
package main

import "os"

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		os.Exit(report(os.Stderr, root, err))
	}
}
