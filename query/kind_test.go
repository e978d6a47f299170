package query

import (
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr/vm"
)

// Each operator field gives its kind; the names are the spec's words.
func TestOperatorKinds(t *testing.T) {
	for _, c := range []struct {
		op        Operator
		kind      Kind
		name      string
		stateless bool
	}{
		{Operator{Filter: "true"}, KindFilter, "filter", true},
		{Operator{Map: []NamedExpr{}}, KindMap, "map", true},
		{Operator{KeyBy: "key"}, KindKeyBy, "key_by", true},
		{Operator{KeyFunc: func(Event) string { return "" }}, KindKeyBy, "key_by", true},
		{Operator{Process: func(ev Event, out []Event) ([]Event, error) { return out, nil }}, KindProcess, "process", true},
		{Operator{Window: &Window{}}, KindWindow, "window", false},
		{Operator{Join: &Join{}}, KindJoin, "join", false},
		{Operator{Union: []string{}}, KindUnion, "union", false},
		{Operator{}, KindNone, "none", false},
	} {
		if k := c.op.Kind(); k != c.kind || k.String() != c.name || k.Stateless() != c.stateless || k.Stateful() != (k == KindWindow || k == KindJoin) {
			t.Errorf("%+v: kind %v (%q), stateless %v; want %v (%q), %v", c.op, k, k.String(), k.Stateless(), c.kind, c.name, c.stateless)
		}
	}
	if KindSink.String() != "sink" || Kind(200).String() != "kind(200)" {
		t.Errorf("names: %q %q", KindSink, Kind(200))
	}
}

// Every kind of step has a state machine, and only those.
func TestPlanMachine(t *testing.T) {
	plan := mustParse(t, windowSpec)
	spec := plan.Spec()
	for i := range spec.Pipeline {
		if _, err := plan.Machine(i, 0); err != nil {
			t.Errorf("pipeline[%d] %s: %v", i, spec.Pipeline[i].Kind(), err)
		}
	}
	if _, err := plan.Machine(len(spec.Pipeline), 0); err == nil {
		t.Error("a step past the pipeline got a state machine")
	}
	u := &Plan{spec: Spec{Pipeline: []Operator{{Union: []string{"x"}}, {}}}, progs: make([][]*vm.Program, 2)}
	if m, err := u.Machine(0, 0); err != nil || m.Advance(1, 1) != nil {
		t.Errorf("union: %v %v", m, err)
	}
	if _, err := u.Machine(1, 0); err == nil {
		t.Error("a step with no operator got a state machine")
	}
	if _, err := plan.JoinKeyer(0); err == nil {
		t.Error("a step that is not a join got a join keyer")
	}
}

// A plan keeps its own copy: editing the spec it came from, or the one
// Spec returns, changes nothing of it.
func TestPlanIsImmutable(t *testing.T) {
	b := NewBuilder("q").Generator("g", Generator{Rate: 10, Fields: []Field{{Name: "v", Choice: []string{"a", "b"}}}}).
		KeyBy("v").Tumbling(time.Second, Count("n")).Discard()
	plan, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	edit := plan.Spec()
	edit.Name = "other"
	edit.Sources[0].Input.(*Generator).Rate = 0
	edit.Sources[0].Input.(*Generator).Fields[0].Choice[0] = "z"
	edit.Pipeline[1].Window.Size = time.Hour
	b.Tumbling(time.Minute, Count("m")) // the builder goes on
	again := plan.Spec()
	g := again.Sources[0].Input.(*Generator)
	if plan.Name() != "q" || g.Rate != 10 || g.Fields[0].Choice[0] != "a" || again.Pipeline[1].Window.Size != time.Second || len(again.Pipeline) != 2 {
		t.Fatalf("the plan changed: %+v", again)
	}
	if _, err := Compile(edit); err == nil || !strings.Contains(err.Error(), "rate") {
		t.Fatalf("compiling the edited spec: %v, want its rate refused", err)
	}
}

// Output counts what a firing would emit without firing: a window's due
// groups, a join's pairs per key.
func TestMachineOutput(t *testing.T) {
	spec := mustParse(t, windowSpec)
	w, _ := machineOf[*WindowAgg](spec, 1, 0)
	for i, k := range []string{"a", "b", "a"} {
		_, _ = w.Add(Event{Key: k, EventTime: int64(i), Watermark: NoWatermark, Fields: MakeFields(map[string]any{"v": 1, "x": 0.5})})
	}
	// Windows of 30 ns every 10: [−20,10), [−10,20), [0,30) hold t = 0..2.
	if n, fired := w.Output(1<<40), len(w.Advance(1<<40, 0)); n != int64(fired) || n != 6 {
		t.Errorf("window: Output %d, Advance emitted %d; want 6 (three windows × two keys)", n, fired)
	}
	j := &JoinOp{size: 10, wm: NoWatermark, sides: [2]map[int64]map[string][]Event{{}, {}}}
	for i := range 4 {
		j.add(0, Event{Key: "k", EventTime: int64(i)})
	}
	for i := range 3 {
		j.add(1, Event{Key: "k", EventTime: int64(i), Fields: MakeFields(map[string]any{})})
	}
	j.add(1, Event{Key: "other", EventTime: 1})
	if n, fired := j.Output(100), len(j.Advance(100, 0)); n != 12 || fired != 12 {
		t.Errorf("join: Output %d, Advance emitted %d; want 4 × 3 = 12", n, fired)
	}
}
