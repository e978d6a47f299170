// Command cameo is the command-line interface of Cameo for Go. It is thin:
// flags become configs, configs go into library calls.
package main

import "os"

// gc is what the collector runs with (gc.go), for serve's first lines.
var gc string

func main() {
	gc = gcSettings(os.Getenv)
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		os.Exit(report(os.Stderr, root, err))
	}
}
