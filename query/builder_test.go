package query

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestBuilderMatchesSpec(t *testing.T) {
	yamlPlan, err := ParseFile("../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := yamlPlan.Spec()
	g := *yaml.Sources[0].Input.(*Generator)
	builtPlan, err := NewBuilder("error-alerts").Tenant("ops").LatencyTarget(50*time.Millisecond).Parallelism(2).
		Generator("logs", g).
		Filter(`level == "error"`).
		KeyBy("key").
		Tumbling(time.Second, Count("errors"), Sum("total_ms", "latency_ms")).
		Stdout().
		Build()
	if err != nil {
		t.Fatal(err)
	}
	built := builtPlan.Spec()
	if built.Name != yaml.Name || built.Tenant != yaml.Tenant || built.LatencyTarget != yaml.LatencyTarget || built.Parallelism != yaml.Parallelism {
		t.Fatalf("header differs: %+v", built)
	}
	if len(built.Pipeline) != len(yaml.Pipeline) {
		t.Fatalf("%d steps, spec has %d", len(built.Pipeline), len(yaml.Pipeline))
	}
	for i := range built.Pipeline {
		b, y := built.Pipeline[i], yaml.Pipeline[i]
		if bp, yp := builtPlan.progs[i], yamlPlan.progs[i]; b.Kind() != y.Kind() || len(bp) != len(yp) {
			t.Errorf("step %d: built %s with %d programs, spec %s with %d", i, b.Kind(), len(bp), y.Kind(), len(yp))
		}
	}
	if w := built.Pipeline[2].Window; w.Size != time.Second || len(w.Aggregates) != 2 || w.Aggregates[1].Arg != "latency_ms" {
		t.Errorf("window: %+v", w)
	}
}

func TestBuilderErrors(t *testing.T) {
	_, err := NewBuilder("bad name!").LatencyTarget(0).
		Generator("s", Generator{Rate: 10, Fields: []Field{{Name: "v", Uniform: []float64{1, 5}}}}).
		Filter("v +").
		Tumbling(time.Second, Sum("s", "nope")).
		Build()
	if !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{
		"builder: name:",
		"builder: latency_target: must be > 0",
		`builder: pipeline[0].filter: expression "v +" does not compile`,
		`builder: pipeline[1].aggregate.s: expression "nope" does not compile`,
		"builder: sink: want one of discard, file, stdout",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestBuilderUserFunctions(t *testing.T) {
	spec, err := NewBuilder("u").
		SourceFunc("in", func(ctx context.Context, emit func(Event) error) error { return nil }, nil).
		FilterFunc("odd", func(ev Event) bool { return ev.Fields.Get("n").(int)%2 == 1 }).
		MapFunc("double", func(ev Event) (Event, error) {
			return Event{Key: ev.Key, Fields: MakeFields(map[string]any{"n": ev.Fields.Get("n").(int) * 2})}, nil
		}).
		KeyByFunc(func(ev Event) string { return "all" }).
		Tumbling(time.Second, Count("n"), UserAggregate("last", func() Accumulator { return &lastN{} })).
		SinkFunc(func([]Event) error { return nil }).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	var out []Event
	for i := range 3 {
		st, err := machineOf[*Stateless](spec, i, 0)
		if err != nil {
			t.Fatal(err)
		}
		in := out
		if in == nil {
			in = []Event{{Key: "a", Fields: MakeFields(map[string]any{"n": 1})}, {Key: "b", Fields: MakeFields(map[string]any{"n": 2})}, {Key: "c", Fields: MakeFields(map[string]any{"n": 3})}}
		}
		out, _ = st.Apply(in, nil)
	}
	if len(out) != 2 || out[0].Key != "all" || out[1].Fields.Get("n") != 6 {
		t.Fatalf("after filter, map, key_by: %+v", out)
	}
	w, err := machineOf[*WindowAgg](spec, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range out {
		if _, err := w.Add(ev); err != nil {
			t.Fatal(err)
		}
	}
	res := w.Advance(int64(2*time.Second), 0)
	if len(res) != 1 || res[0].Fields.Get("n") != int64(2) || res[0].Fields.Get("last") != 6 {
		t.Fatalf("window: %+v", res)
	}
}

type lastN struct{ n any }

func (l *lastN) Add(ev Event) error { l.n = ev.Fields.Get("n"); return nil }
func (l *lastN) Result() any        { return l.n }
