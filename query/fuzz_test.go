package query

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no input makes Parse panic; every failure is an Errors of
// positioned problems, and every success is a valid spec.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../examples/*")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{base, "", "name: [", "{}", "- 1", base + "pipeline:\n  - key_by: key\n  - window: {tumbling: 1s}\n    aggregate: {n: count()}\n",
		"name: q\nlatency_target: 1s\nsources: [{name: a, jsonl: {stdin: true}}]\npipeline: [{filter: 'x > 1'}]\n", "a: &x [*x]\n",
		base + "overload: {policy: shed, shed_after: 2s, shed_sink: s.jsonl}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
			}
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("error does not wrap ErrInvalidSpec: %v", err)
			}
			return
		}
		if s.spec.Name == "" || s.spec.LatencyTarget <= 0 || len(s.spec.Sources) == 0 || s.spec.Parallelism < 1 {
			t.Fatalf("accepted an invalid spec: %+v", s)
		}
	})
}
