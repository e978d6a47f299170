package connector

import "github.com/cameo-go/cameo/query"

// The file sink: results as JSON lines in a file the query creates (or
// truncates), under the engine's file rules.

func init() {
	registerOutput("file", func(spec query.OutputSpec, env *Env) (Output, error) {
		f, err := env.Create(spec.(*query.File).Path)
		if err != nil {
			return nil, err
		}
		return NewLineWriter(f, f), nil
	})
}
