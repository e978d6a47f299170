package connector

import "github.com/cameo-go/cameo/query"

// The stdout sink: results as JSON lines on the engine's standard output
// (see docs/spec.md for the line format).

func init() {
	registerOutput("stdout", func(_ query.OutputSpec, env *Env) (Output, error) {
		return NewLineWriter(env.Stdout, nil), nil
	})
}
