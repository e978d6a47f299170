package connector_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cameo-go/cameo/connector"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// A kind from outside the engine, registered in one place as a broker's
// connector would be: "seq" counts from one number to another, a record
// per step, with a corrupt record every `bad` steps (dropped and counted by
// the engine); "collect" keeps results in a named slice.

type seqSpec struct {
	From, To int64
	Bad      int64
}

func (*seqSpec) Kind() string { return "seq" }

func (s *seqSpec) Check(c *query.Checker) map[string]string {
	if s.To < s.From {
		c.Fail("to", "%d is below from (%d)", s.To, s.From)
	}
	if s.To-s.From > 1_000_000 {
		c.Fail("to", "at most 1,000,000 records")
	}
	if s.Bad < 0 {
		c.Fail("bad", "must be >= 0, got %d", s.Bad)
	}
	return map[string]string{"n": "int", "parity": "string"}
}

type seqInput struct {
	s     *seqSpec
	next  int64
	env   *connector.Env
	ready chan struct{}
	done  bool
}

func (in *seqInput) Read(_ int64, max int, buf []query.Event) ([]query.Event, bool, error) {
	for len(buf) < max && in.next <= in.s.To {
		n := in.next
		in.next++
		if in.s.Bad > 0 && n%in.s.Bad == 0 {
			in.env.Drop(0, fmt.Errorf("seq: record %d is corrupt", n))
			continue
		}
		buf = append(buf, query.Event{Key: "k", Fields: query.MakeFields(map[string]any{"n": n, "parity": []string{"even", "odd"}[n%2]})})
	}
	return buf, in.next > in.s.To, nil
}

func (in *seqInput) Ready() <-chan struct{} { return in.ready }
func (in *seqInput) Close() error           { in.done = true; return nil }

var collected = struct {
	sync.Mutex
	by map[string][]query.Event
}{by: map[string][]query.Event{}}

type collectSpec struct{ Name string }

func (*collectSpec) Kind() string { return "collect" }
func (c *collectSpec) Check(ch *query.Checker) {
	if c.Name == "" {
		ch.Fail("name", "missing: where to collect")
	}
}

type collectOutput struct{ name string }

func (o collectOutput) Write(results []query.Event) error {
	collected.Lock()
	defer collected.Unlock()
	collected.by[o.name] = append(collected.by[o.name], results...)
	return nil
}
func (collectOutput) Close() error { return nil }

func init() {
	connector.RegisterInput(query.InputKind{Name: "seq", Parse: func(s *query.Section) query.InputSpec {
		spec := &seqSpec{}
		s.Fields(map[string]func(*query.Value){
			"from": func(v *query.Value) { spec.From = v.Int() },
			"to":   func(v *query.Value) { spec.To = v.Int() },
			"bad":  func(v *query.Value) { spec.Bad = v.Int() },
		})
		s.Require("to")
		return spec
	}}, func(spec query.InputSpec, env *connector.Env) (connector.Input, error) {
		s := spec.(*seqSpec)
		ready := make(chan struct{}, 1)
		ready <- struct{}{}
		return &seqInput{s: s, next: s.From, env: env, ready: ready}, nil
	})
	connector.RegisterOutput(query.OutputKind{Name: "collect", Parse: func(s *query.Section) query.OutputSpec {
		c := &collectSpec{}
		s.Fields(map[string]func(*query.Value){"name": func(v *query.Value) { c.Name = v.Text() }})
		return c
	}}, func(spec query.OutputSpec, _ *connector.Env) (connector.Output, error) {
		return collectOutput{name: spec.(*collectSpec).Name}, nil
	})
}

func TestRegisteredKindsParseWithPositions(t *testing.T) {
	if !slices.Contains(query.InputKinds(), "seq") || !slices.Contains(query.OutputKinds(), "collect") {
		t.Fatalf("kinds: %v %v", query.InputKinds(), query.OutputKinds())
	}
	for _, c := range []struct{ name, spec, want string }{
		{"bad range", "sources:\n  - name: s\n    seq: {from: 10, to: 3}\n", "spec.yaml:5:25: sources[0].seq.to: 3 is below from (10)"},
		{"unknown field", "sources:\n  - name: s\n    seq: {to: 3, step: 2}\n", "spec.yaml:5:18: sources[0].seq: unknown field \"step\" (valid: bad, from, to)"},
		{"missing", "sources:\n  - name: s\n    seq: {from: 1}\n", "spec.yaml:5:10: sources[0].seq.to: missing (required)"},
		{"wrong type", "sources:\n  - name: s\n    seq: {to: many}\n", "spec.yaml:5:15: sources[0].seq.to: want a whole number, got \"many\""},
		{"two inputs", "sources:\n  - name: s\n    seq: {to: 3}\n    generator: {rate: 1}\n", "sources[0]: seq and generator: a source reads one input"},
		{"no input", "sources:\n  - name: s\n", "sources[0]: no input: want one of generator, jsonl, kafka, nats, nexmark, seq"},
		{"schema", "sources:\n  - name: s\n    seq: {to: 3}\npipeline:\n  - filter: nope > 1\n", "pipeline[0].filter: expression \"nope > 1\" does not compile: unknown name nope"},
		{"sink", "sources:\n  - name: s\n    seq: {to: 3}\nsink: {collect: {}}\n", "sink.collect.name: missing: where to collect"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := query.Parse("spec.yaml", []byte("name: q\nlatency_target: 1s\n"+c.spec))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, c.want)
			}
		})
	}
}

func TestRegisteredKindsRun(t *testing.T) {
	spec, err := query.Parse("spec.yaml", []byte(`
name: q
latency_target: 1s
sources:
  - name: s
    seq: {from: 1, to: 1000, bad: 100}
pipeline:
  - filter: parity == "even"
  - key_by: parity
  - window: {tumbling: 1h}
    aggregate: {count: count(), total: sum(n)}
sink:
  collect: {name: run}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, q := startQuery(t, spec, runtime.WithWorkers(2))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	got := takeCollected("run")
	// Even numbers 2..1000 without the multiples of 100: 500 - 10.
	var wantTotal int64
	for n := int64(2); n <= 1000; n += 2 {
		if n%100 != 0 {
			wantTotal += n
		}
	}
	if len(got) != 1 || got[0].Fields.Get("count") != int64(490) || got[0].Fields.Get("total") != wantTotal {
		t.Fatalf("results %v, want one window of 490 events summing to %d", got, wantTotal)
	}
	st := q.Stats()
	if st.Dropped != 10 || st.EventsIn != 990 {
		t.Fatalf("dropped %d, in %d: want the 10 corrupt records counted as dropped, 990 in", st.Dropped, st.EventsIn)
	}
}

func TestOpenUnknownKind(t *testing.T) {
	_, err := connector.OpenInput(noOpener{}, &connector.Env{})
	if err == nil || !strings.Contains(err.Error(), `input kind "nope" has no connector`) {
		t.Fatalf("err %v", err)
	}
}

type noOpener struct{}

func (noOpener) Kind() string                           { return "nope" }
func (noOpener) Check(*query.Checker) map[string]string { return nil }

// startQuery submits plan to a new engine with opts; the engine stops
// when the test ends.
func startQuery(t *testing.T, plan *query.Plan, opts ...runtime.Option) (*runtime.Engine, *runtime.Query) {
	t.Helper()
	eng, err := runtime.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Stop(context.Background()) })
	q, err := eng.Submit(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	return eng, q
}
