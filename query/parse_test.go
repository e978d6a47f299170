package query

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExamplesParse(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	more, _ := filepath.Glob("../examples/*.json")
	files = append(files, more...)
	more, _ = filepath.Glob("../examples/*/*.yaml")
	files = append(files, more...)
	if len(files) < 5 {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		if d := filepath.Base(filepath.Dir(f)); d == "connectors" || d == "nexmark" {
			continue // their kinds are package connector's; runtime.TestExamplesRun runs them
		}
		s, err := ParseFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if s.spec.Name == "" || len(s.spec.Sources) == 0 || s.spec.LatencyTarget <= 0 {
			t.Errorf("%s: %+v", f, s)
		}
	}
}

func TestQuickstartFields(t *testing.T) {
	s, err := ParseFile("../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := s.spec.Sources[0].Input.(*Generator)
	if s.spec.LatencyTarget != 50*time.Millisecond || s.spec.Parallelism != 2 || s.spec.Tenant != "ops" || g.Rate != 20000 ||
		g.Keys.Distribution != "zipf" || len(g.Fields) != 2 || g.Fields[1].Type() != "int" || len(g.Bursts) != 1 {
		t.Errorf("parsed %+v / %+v", s, g)
	}
	kinds := []string{}
	for _, op := range s.spec.Pipeline {
		kinds = append(kinds, op.Kind().String())
	}
	if got := strings.Join(kinds, " "); got != "filter key_by window" {
		t.Errorf("kinds %s", got)
	}
	w := s.spec.Pipeline[2].Window
	if w.Size != time.Second || len(w.Aggregates) != 2 || w.Aggregates[1].Func != "sum" || w.Aggregates[1].Arg != "latency_ms" {
		t.Errorf("window %+v", w)
	}
	if s.progs[0][0] == nil || len(s.progs[2]) != 2 || s.progs[2][0] != nil {
		t.Errorf("programs not compiled as documented")
	}
}

const base = `name: q
latency_target: 50ms
sources:
  - name: logs
    generator:
      rate: 100
      fields:
        level: {choice: [info, error]}
        ms: {uniform: [1, 500]}
`

// Every bad spec gets an error naming its line and field and saying what
// would be valid.
func TestBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"malformed", "name: [q\n", "spec.yaml:1:1: malformed YAML/JSON: did not find expected"},
		{"empty", "", "empty spec"},
		{"not a mapping", "- a\n", "want a mapping with"},
		{"unknown top field", base + "colour: blue\n", "spec.yaml:10:1: unknown field \"colour\" (valid: latency_target, name, overload, parallelism, pipeline, sink, sources, tenant, weight)"},
		{"missing name", "latency_target: 1s\nsources: [{name: a, generator: {rate: 1}}]\n", "spec.yaml:1:1: name: missing (required)"},
		{"bad duration", strings.Replace(base, "50ms", "50 msec", 1), "spec.yaml:2:17: latency_target: bad duration \"50 msec\" (want a number with a unit, e.g. 50ms, 1s, 2m)"},
		{"zero target", strings.Replace(base, "50ms", "0s", 1), "latency_target: must be > 0 and at most 24h0m0s, got 0s"},
		{"negative rate", strings.Replace(base, "rate: 100", "rate: -5", 1), "spec.yaml:6:13: sources[0].generator.rate: must be 0.001 to 1e+07 events per second, got -5"},
		{"rate as string", strings.Replace(base, "rate: 100", "rate: fast", 1), "spec.yaml:6:13: sources[0].generator.rate: want a number, got \"fast\""},
		{"unknown operator", base + "pipeline:\n  - flter: 'level == \"error\"'\n", "spec.yaml:11:5: pipeline[0]: unknown field \"flter\" (valid: aggregate, filter, join, key_by, map, node, nodes, union, window)"},
		{"two operators", base + "pipeline:\n  - {filter: 'true', key_by: key}\n", "pipeline[0]: 2 operators in one step"},
		{"window without shape", base + "pipeline:\n  - window: {}\n    aggregate: {n: count()}\n", "spec.yaml:11:13: pipeline[0].window: no shape: want tumbling: 1s, sliding: {size: 10s, slide: 1s} or session: 30s"},
		{"session with size", base + "pipeline:\n  - key_by: key\n  - window: {session: 0s}\n    aggregate: {n: count()}\n", "pipeline[1].window.session: a session window's gap must be > 0"},
		{"top_k without k", base + "pipeline:\n  - key_by: key\n  - window: {tumbling: 1s}\n    aggregate: {t: top_k(ms)}\n", "pipeline[1].aggregate.t: top_k(x, k): want an expression and a count k of 1 to 1000, got \"ms\""},
		{"top_k too many", base + "pipeline:\n  - key_by: key\n  - window: {tumbling: 1s}\n    aggregate: {t: 'top_k(ms, 5000)'}\n", "top_k(x, k): want an expression and a count k of 1 to 1000"},
		{"max_by of a string", base + "pipeline:\n  - key_by: key\n  - window: {tumbling: 1s}\n    aggregate: {t: max_by(level)}\n", "pipeline[1].aggregate.t: max_by orders rows by a number, but level is a string"},
		{"window without aggregate", base + "pipeline:\n  - key_by: key\n  - window: {tumbling: 1s}\n", "pipeline[1].aggregate: missing: a window needs aggregates"},
		{"bad expression", base + "pipeline:\n  - filter: 'level =='\n", "spec.yaml:11:13: pipeline[0].filter: expression \"level ==\" does not compile: unexpected token EOF (1:8)"},
		{"unknown field in expression", base + "pipeline:\n  - filter: 'levl == \"error\"'\n", "unknown name levl"},
		{"filter not bool", base + "pipeline:\n  - filter: 'ms + 1'\n", "pipeline[0].filter: expression \"ms + 1\" does not compile"},
		{"sum of string", base + "pipeline:\n  - key_by: key\n  - window: {tumbling: 1s}\n    aggregate: {s: sum(level)}\n", "spec.yaml:13:20: pipeline[1].aggregate.s: sum(level) needs a number, but level is a string"},
		{"unknown aggregate", base + "pipeline:\n  - key_by: key\n  - window: {tumbling: 1s}\n    aggregate: {s: median(ms)}\n", "unknown aggregate \"median\" (valid: count, sum, min, max, avg, count_distinct, max_by, min_by, first, last, top_k)"},
		{"slide above size", base + "pipeline:\n  - key_by: key\n  - window: {sliding: {size: 1s, slide: 2s}}\n    aggregate: {n: count()}\n", "pipeline[1].window.sliding.slide: must be > 0 and <= size 1s, got 2s"},
		{"cycle", base + "pipeline:\n  - union: [logs]\n", "pipeline[0].union[0]: cycle: source \"logs\" is already the pipeline's input"},
		{"unknown source", base + "pipeline:\n  - union: [clicks]\n", "unknown source \"clicks\" (sources: logs)"},
		{"unused source", base + "  - name: other\n    generator: {rate: 1}\n", "spec.yaml:10:5: sources[1]: source \"other\" is never used"},
		{"used twice", base + "  - name: other\n    generator: {rate: 1}\npipeline:\n  - union: [other]\n  - union: [other]\n", "source \"other\" is already used by pipeline[0].union[0]"},
		{"weights mismatch", strings.Replace(base, "choice: [info, error]}", "choice: [info, error], weights: [1]}", 1), "sources[0].generator.fields.level.weights: 1 weights for 2 choices"},
		{"uniform reversed", strings.Replace(base, "[1, 500]", "[500, 1]", 1), "low 500 above high 1"},
		{"zipf exponent", strings.Replace(base, "rate: 100", "rate: 100\n      keys: {count: 5, distribution: zipf, zipf_s: 0.5}", 1), "keys.zipf_s: must be > 1 and at most 100, got 0.5"},
		{"bad distribution", strings.Replace(base, "rate: 100", "rate: 100\n      keys: {distribution: normal}", 1), "keys.distribution: \"normal\": want uniform or zipf"},
		{"parallelism", base + "parallelism: 0\n", "parallelism: must be 1 to 1024, got 0"},
		{"sink two kinds", base + "sink: {stdout: {}, discard: {}}\n", "sink: want exactly one of discard, file, stdout; got 2"},
		{"file sink without path", base + "sink: {file: {}}\n", "sink.file.path: missing"},
		{"jsonl both", "name: q\nlatency_target: 1s\nsources:\n  - name: a\n    jsonl: {path: x, stdin: true}\n", "sources[0].jsonl: both path and stdin"},
		{"event time format", "name: q\nlatency_target: 1s\nsources:\n  - name: a\n    jsonl: {path: x}\n    event_time: {field: ts, format: iso}\n", "event_time.format: \"iso\": want one of unix_ms, unix_s, unix_ns, rfc3339"},
		{"mixed time union", base + "  - name: late\n    jsonl: {path: x}\n    event_time: {field: ts}\npipeline:\n  - union: [late]\n", "source \"late\" and the stream differ in time"},
		{"duplicate key", base + "name: other\n", "spec.yaml:10:1: name: given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("spec.yaml", []byte(tc.spec))
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			if !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("error does not wrap ErrInvalidSpec: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
		})
	}
}

// Several problems are all reported, in file order.
func TestAllErrorsReported(t *testing.T) {
	spec := "name: q\nlatency_target: 1s\nsources:\n  - name: a\n    generator: {rate: 0}\npipeline:\n  - filter: 'x >'\n  - key_by: ''\n"
	_, err := Parse("f.yaml", []byte(spec))
	var es Errors
	if !errors.As(err, &es) || len(es) < 2 {
		t.Fatalf("want several errors, got %v", err)
	}
	for i := 1; i < len(es); i++ {
		if es[i].Pos.Line < es[i-1].Pos.Line {
			t.Errorf("errors out of order: %v", err)
		}
	}
}

func TestJSONSpecHasLines(t *testing.T) {
	data, err := os.ReadFile("../examples/join.json")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), `"200ms"`, `"-1s"`, 1)
	_, err = Parse("join.json", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), "latency_target: must be > 0") {
		t.Errorf("err = %v", err)
	}
	bad = strings.Replace(string(data), `"with": "payments"`, `"with": "refunds"`, 1)
	if _, err = Parse("join.json", []byte(bad)); err == nil || !strings.Contains(err.Error(), "join.json:13:") {
		t.Errorf("JSON error without its line: %v", err)
	}
}

func TestGeneratorArrivals(t *testing.T) {
	src := `
name: a
tenant: t
latency_target: 1s
sources: [{name: s, generator: {rate: 10, arrivals: bursty}}]
pipeline: []
sink: {discard: {}}
`
	_, err := Parse("a.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), `a.yaml:5:`) || !strings.Contains(err.Error(), `sources[0].generator.arrivals: "bursty": want steady or poisson`) {
		t.Fatalf("err %v", err)
	}
	s, err := Parse("a.yaml", []byte(strings.Replace(src, "bursty", "poisson", 1)))
	if err != nil || s.spec.Sources[0].Input.(*Generator).Arrivals != "poisson" {
		t.Fatalf("%v %+v", err, s)
	}
}
