package query

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestFields(t *testing.T) {
	n := NamesOf("b", "a", "c", "a")
	if n.Len() != 3 || n.Name(0) != "a" || n.Name(2) != "c" || n.Index("b") != 1 || n.Index("z") != -1 {
		t.Fatalf("names %v", n.names)
	}
	if NamesOf("c", "b", "a") != n {
		t.Fatal("one shape, two Names: not interned")
	}
	f := MakeFields(map[string]any{"b": 2, "a": "x"})
	if f.Len() != 2 || f.Get("a") != "x" || f.Get("b") != 2 || f.Get("z") != nil {
		t.Fatalf("fields %v", f)
	}
	if v, ok := f.Lookup("z"); ok || v != nil {
		t.Fatal("Lookup of a missing name")
	}
	if got := fmt.Sprint(f); got != fmt.Sprint(map[string]any{"a": "x", "b": 2}) {
		t.Fatalf("String %q: want a map's", got)
	}
	g := f.With("b", 3).With("c", true)
	if f.Get("b") != 2 || g.Get("b") != 3 || g.Get("c") != true || g.Len() != 3 {
		t.Fatalf("With changed the original or missed: %v %v", f, g)
	}
	if !f.Equal(MakeFields(map[string]any{"a": "x", "b": 2})) || f.Equal(g) {
		t.Fatal("Equal")
	}
	if c := g.Clone(); !c.Equal(g) || &c.v[0] == &g.v[0] {
		t.Fatal("Clone shares the values or differs")
	}
	b, err := json.Marshal(g)
	if err != nil || string(b) != `{"a":"x","b":3,"c":true}` {
		t.Fatalf("JSON %s %v", b, err)
	}
	var back Fields
	if err := json.Unmarshal(b, &back); err != nil || back.Get("c") != true {
		t.Fatalf("from JSON %v %v", back, err)
	}
	if (Fields{}).Len() != 0 || (Fields{}).Get("a") != nil || MakeFields(nil).Names() != nil || (Fields{}).Map() != nil {
		t.Fatal("the zero Fields")
	}
	var names []string
	for name, v := range g.All() {
		names = append(names, fmt.Sprint(name, "=", v))
	}
	if fmt.Sprint(names) != "[a=x b=3 c=true]" {
		t.Fatalf("All %v", names)
	}
	// Many names: the index is a map.
	var many []string
	for i := range 20 {
		many = append(many, fmt.Sprint("f", i))
	}
	m := NamesOf(many...)
	for i, name := range m.names {
		if m.Index(name) != i {
			t.Fatalf("%s at %d", name, m.Index(name))
		}
	}
}

// TestNamesOfIsBounded: sources whose events choose their own field names
// make a shape per set of names; past maxInterned, shapes are still right
// but no longer kept, so no input grows the table without limit.
func TestNamesOfIsBounded(t *testing.T) {
	for i := range maxInterned + 100 {
		n := NamesOf(fmt.Sprint("bounded", i))
		if n.Len() != 1 || n.Index(fmt.Sprint("bounded", i)) != 0 {
			t.Fatal("shape")
		}
	}
	if got := interned.n.Load(); got > maxInterned {
		t.Fatalf("%d shapes interned, at most %d", got, maxInterned)
	}
}

// TestShapesFollowTheMaps: a producer's Shapes reuses the last shape only
// for maps of the same names.
func TestShapesFollowTheMaps(t *testing.T) {
	var s Shapes
	for _, m := range []map[string]any{{"a": 1, "b": 2}, {"a": 3, "b": 4}, {"a": 5, "c": 6}, {"a": 7}, {"a": 8, "b": 9}} {
		f := s.Make(m)
		if fmt.Sprint(f) != fmt.Sprint(m) {
			t.Fatalf("%v from %v", f, m)
		}
	}
}

// TestMapRowsShareNoValues: a map step's rows share one allocation per
// batch, and an event that fails leaves no trace in the next one's row.
func TestMapRowsShareNoValues(t *testing.T) {
	plan := mustParse(t, `
name: m
tenant: t
latency_target: 1s
sources: [{name: s, generator: {rate: 10, keys: {count: 2}, fields: {x: {uniform: [0, 10]}}}}]
pipeline:
  - map: {y: '10 / x', z: 'x + 1'}
sink: {discard: {}}
`)
	m, err := plan.Machine(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var in []Event
	for i := range 30 {
		in = append(in, Event{Key: "k", Fields: MakeFields(map[string]any{"x": i % 3})})
	}
	out, errs := m.(*Stateless).Apply(in, nil)
	if len(errs) != 10 || len(out) != 20 {
		t.Fatalf("%d out, %d errors: want 20 and the 10 divisions by zero", len(out), len(errs))
	}
	for i, ev := range out {
		x := []int{1, 2}[i%2]
		if ev.Fields.Get("y") != 10/float64(x) || ev.Fields.Get("z") != x+1 || ev.Fields.Len() != 2 {
			t.Fatalf("row %d: %v, want x = %d", i, ev.Fields, x)
		}
	}
}
