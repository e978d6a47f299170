package query

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/expr-lang/expr/vm"
)

// randExpr writes a random expression over the fields i, f, s, b, m, the
// built-in fields and literals, of at most depth levels. Most are
// well typed against nativeSchema; the rest fail to compile and are
// skipped.
func randExpr(rng *rand.Rand, depth int) string {
	atoms := []string{"i", "f", "s", "b", "m", "key", "arrival", "event_time", "missing",
		"0", "1", "-3", "7", "2.5", "-0.5", "1e300", `"x"`, `"warn"`, `""`, "true", "false", "nil", `["a", "x", 1, 2.5]`, "[1, 2, 3]"}
	if depth <= 0 || rng.IntN(4) == 0 {
		return atoms[rng.IntN(len(atoms))]
	}
	switch rng.IntN(10) {
	case 0:
		return []string{"!", "not ", "-", "+"}[rng.IntN(4)] + randExpr(rng, depth-1)
	case 1:
		return fmt.Sprintf("(%s ? %s : %s)", randExpr(rng, depth-1), randExpr(rng, depth-1), randExpr(rng, depth-1))
	case 2:
		return "(" + randExpr(rng, depth-1) + ")"
	}
	ops := []string{"==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "**", "and", "or", "&&", "||", "in", "contains", "startsWith", "endsWith", "??"}
	return fmt.Sprintf("%s %s %s", randExpr(rng, depth-1), ops[rng.IntN(len(ops))], randExpr(rng, depth-1))
}

var nativeSchema = schema{"i": "int", "f": "float", "s": "string", "b": "bool", "m": "map"}

// randEvent draws an event; typed true keeps each field to its schema type
// (as a generator's events are), false puts anything anywhere (as a JSON
// source's events may carry), or leaves it out.
func randEvent(rng *rand.Rand, typed bool) Event {
	vals := []any{nil, 0, 3, -7, int64(5), 2.5, -0.0, math.Inf(1), math.NaN(), "", "x", "warn", "a", true, false, map[string]any{"x": 1}, []any{1, "x"}}
	f := map[string]any{}
	if typed {
		f["i"] = rng.IntN(21) - 10
		f["f"] = []float64{0, 1.5, -2.25, 1e300, math.Inf(-1)}[rng.IntN(5)]
		f["s"] = []string{"", "x", "warn", "a", "xa"}[rng.IntN(5)]
		f["b"] = rng.IntN(2) == 0
		f["m"] = map[string]any{"x": rng.IntN(3)}
	} else {
		for _, name := range []string{"i", "f", "s", "b", "m", "missing"} {
			if rng.IntN(5) > 0 {
				f[name] = vals[rng.IntN(len(vals))]
			}
		}
	}
	return Event{Arrival: int64(rng.IntN(1000)), EventTime: int64(rng.IntN(1000)), Key: []string{"", "k1", "x"}[rng.IntN(3)], Fields: MakeFields(f)}
}

// TestNativeMatchesVM checks the closures against the VM they replace:
// on random expressions (well typed against a schema, and against none,
// as for a JSON source) and random events, a runner with closures gives
// the same value and the same error, word for word, as one without. It
// also checks that the closures ran, not the VM, on most of them.
func TestNativeMatchesVM(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, tc := range []struct {
		name   string
		s      schema
		want   string
		typed  bool
		minRun int
	}{
		{"schema", nativeSchema, "", true, 300},
		{"schema, filter", nativeSchema, "bool", true, 150},
		{"no schema", nil, "", false, 300},
		{"no schema, filter", nil, "bool", false, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compiled, natives, ran := 0, 0, 0
			for range 6000 {
				src := randExpr(rng, 3)
				p := &parser{file: "t.yaml"}
				prog, _ := p.compile(Pos{}, "f", src, tc.s, tc.want)
				if prog == nil {
					continue
				}
				compiled++
				with := newRunner([]*vm.Program{prog})
				without := newRunner([]*vm.Program{prog})
				without.native[0] = nil
				if with.native[0] != nil {
					natives++
				}
				for range 8 {
					ev := randEvent(rng, tc.typed)
					v1, err1 := without.run([]*vm.Program{prog}, 0, &ev)
					v2, err2 := with.run([]*vm.Program{prog}, 0, &ev)
					if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
						t.Fatalf("%s on %v: VM error %v, with closures %v", src, ev, err1, err2)
					}
					if err1 == nil && !sameValue(v1, v2) {
						t.Fatalf("%s on %v: VM %#v, closures %#v", src, ev, v1, v2)
					}
					if with.native[0] != nil {
						*with.slot = ev
						if _, ok := runNative(with.native[0]); ok {
							ran++
						}
					}
				}
			}
			t.Logf("%d expressions compiled, %d to closures; %d evaluations by closures", compiled, natives, ran)
			if ran < tc.minRun {
				t.Fatalf("closures ran %d times, want at least %d: the test checks too little", ran, tc.minRun)
			}
		})
	}
}

func sameValue(a, b any) bool {
	if x, ok := a.(float64); ok {
		if y, ok := b.(float64); ok && math.IsNaN(x) && math.IsNaN(y) {
			return true
		}
	}
	return reflect.DeepEqual(a, b)
}

// TestNativeCompilesTheCommonForms pins which forms run as closures, so
// that a change in expr's tree (or here) that sends them back to the VM
// shows.
func TestNativeCompilesTheCommonForms(t *testing.T) {
	for _, tc := range []struct {
		src, want string
		native    bool
	}{
		{`s != "info"`, "bool", true},
		{`i > 3 and f <= 2.5 or not b`, "bool", true},
		{`s in ["warn", "error"]`, "bool", true},
		{`s startsWith "w" && key != ""`, "bool", true},
		{`i * 2 + f / 3 - arrival % 7`, "", true},
		{`b ? i : -i`, "", true},
		{`m.x`, "", false},
		{`len(s)`, "", false},
		{`s ?? "x"`, "", false},
	} {
		p := &parser{file: "t.yaml"}
		prog, _ := p.compile(Pos{}, "f", tc.src, nativeSchema, tc.want)
		if prog == nil {
			t.Fatalf("%s: %v", tc.src, p.errs)
		}
		if got := compileNative(prog, new(Event)) != nil; got != tc.native {
			t.Errorf("%s: compiled to closures %v, want %v", tc.src, got, tc.native)
		}
	}
}
