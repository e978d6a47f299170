package query

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, spec string) *Plan {
	t.Helper()
	s, err := Parse("test.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// machineOf is step i's machine as its concrete type.
func machineOf[M Machine](p *Plan, i int, lateness time.Duration) (M, error) {
	var zero M
	m, err := p.Machine(i, lateness)
	if err != nil {
		return zero, err
	}
	return m.(M), nil
}

const windowSpec = `name: q
latency_target: 1s
sources:
  - name: s
    generator: {rate: 1, fields: {v: {uniform: [0, 100]}, x: {normal: [0, 1]}}}
pipeline:
  - key_by: key
  - window: {sliding: {size: 30ns, slide: 10ns}}
    aggregate: {n: count(), s: sum(v), lo: min(v), hi: max(v), m: avg(v), fs: sum(x)}
`

type group struct {
	k   int64
	key string
}

// referenceWindows is the straightforward computation: every event in every
// window [k·slide, k·slide+size) that holds it, aggregated at once.
func referenceWindows(events []Event, size, slide int64) map[group]map[string]any {
	groups := map[group][]Event{}
	for _, e := range events {
		for k := floorDiv(e.EventTime-size, slide) + 1; k*slide <= e.EventTime; k++ {
			groups[group{k, e.Key}] = append(groups[group{k, e.Key}], e)
		}
	}
	out := map[group]map[string]any{}
	for g, evs := range groups {
		var sum, lo, hi int64
		var fs float64
		for i, e := range evs {
			v := e.Fields.Get("v").(int)
			sum += int64(v)
			if i == 0 || int64(v) < lo {
				lo = int64(v)
			}
			if i == 0 || int64(v) > hi {
				hi = int64(v)
			}
			fs += e.Fields.Get("x").(float64)
		}
		out[g] = map[string]any{"n": int64(len(evs)), "s": sum, "lo": lo, "hi": hi, "m": float64(sum) / float64(len(evs)), "fs": fs,
			"window_start": g.k * slide, "window_end": g.k*slide + size}
	}
	return out
}

func sameResults(t *testing.T, got []Event, want map[group]map[string]any, slide int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for _, r := range got {
		k := r.Fields.Get("window_start").(int64) / slide
		w, ok := want[group{k, r.Key}]
		if !ok {
			t.Fatalf("unexpected result %v", r)
		}
		for name, v := range w {
			if f, isF := v.(float64); isF {
				if g := r.Fields.Get(name).(float64); math.Abs(g-f) > 1e-9*max(1, math.Abs(f)) {
					t.Fatalf("window %d key %s: %s = %v, want %v", k, r.Key, name, g, f)
				}
				continue
			}
			if r.Fields.Get(name) != v { // counts and integer sums: exact
				t.Fatalf("window %d key %s: %s = %v (%T), want %v (%T)", k, r.Key, name, r.Fields.Get(name), r.Fields.Get(name), v, v)
			}
		}
	}
}

// Randomised: events with bounded disorder, cut into random batches, the
// watermark advanced after each; the results are the reference's, and none
// is late.
func TestWindowAggMatchesReference(t *testing.T) {
	spec := mustParse(t, windowSpec)
	const size, slide, disorder = 30, 10, 7
	for seed := uint64(0); seed < 100; seed++ {
		r := rand.New(rand.NewPCG(seed, 3))
		events := make([]Event, 200+r.IntN(200))
		for i := range events {
			events[i] = Event{EventTime: int64(i/2) + r.Int64N(disorder+1), Key: fmt.Sprint("k", r.IntN(4)),
				Fields: MakeFields(map[string]any{"v": r.IntN(100), "x": r.NormFloat64()})}
			events[i].Arrival = int64(i)
		}
		w, err := machineOf[*WindowAgg](spec, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		wm := NewWatermarks(1, disorder*time.Nanosecond, 0)
		var got []Event
		for i := 0; i < len(events); {
			n := 1 + r.IntN(20)
			for _, e := range events[i:min(i+n, len(events))] {
				late, err := w.Add(e)
				if err != nil || late {
					t.Fatalf("seed %d: add %v: late %v err %v", seed, e, late, err)
				}
				wm.Observe(0, e.EventTime, e.Arrival)
			}
			i += n
			got = append(got, w.Advance(wm.Current(int64(i)), int64(i))...)
		}
		wm.Close(0)
		got = append(got, w.Advance(wm.Current(0), 0)...)
		if w.Open() != 0 || w.Late() != 0 {
			t.Fatalf("seed %d: %d groups still open, %d late", seed, w.Open(), w.Late())
		}
		sameResults(t, got, referenceWindows(events, size, slide), slide)
	}
}

func TestWindowAggLateness(t *testing.T) {
	spec := mustParse(t, strings.Replace(windowSpec, "{sliding: {size: 30ns, slide: 10ns}}", "{tumbling: 10ns}", 1))
	w, err := machineOf[*WindowAgg](spec, 1, 5*time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(t int64) Event {
		return Event{EventTime: t, Key: "a", Fields: MakeFields(map[string]any{"v": 1, "x": 0.5})}
	}
	w.Add(ev(3))
	if out := w.Advance(14, 100); len(out) != 0 {
		t.Fatalf("window [0,10) fired at watermark 14 with lateness 5: %v", out)
	}
	if late, _ := w.Add(ev(8)); late {
		t.Fatal("an event within the allowed lateness was late")
	}
	out := w.Advance(15, 200)
	if len(out) != 1 || out[0].Fields.Get("n") != int64(2) || out[0].Arrival != 200 || out[0].Fields.Get("window_end") != int64(10) {
		t.Fatalf("fired %v", out)
	}
	if late, _ := w.Add(ev(9)); !late || w.Late() != 1 {
		t.Fatalf("an event for a fired window: late %v, count %d", late, w.Late())
	}
	if out := w.Advance(10, 300); out != nil {
		t.Fatalf("the watermark went back and fired %v", out)
	}
}

func TestWindowAggBadArgument(t *testing.T) {
	spec := mustParse(t, strings.Replace(strings.Replace(windowSpec, "generator: {rate: 1, fields: {v: {uniform: [0, 100]}, x: {normal: [0, 1]}}}", "jsonl: {path: x}", 1),
		"{n: count(), s: sum(v), lo: min(v), hi: max(v), m: avg(v), fs: sum(x)}", "{s: sum(v)}", 1))
	w, _ := machineOf[*WindowAgg](spec, 1, 0)
	if _, err := w.Add(Event{Key: "a", Fields: MakeFields(map[string]any{"v": "seven"})}); err == nil || !strings.Contains(err.Error(), `sum(v): seven (string) is not a number`) {
		t.Errorf("err = %v", err)
	}
	if w.Open() != 0 {
		t.Error("a failed event was added")
	}
}

func TestWatermarks(t *testing.T) {
	w := NewWatermarks(2, 5, 0)
	if w.Current(0) != NoWatermark {
		t.Fatal("watermark before any input")
	}
	w.Observe(0, 100, 1)
	if w.Current(1) != NoWatermark {
		t.Fatal("input 1 unseen must hold the watermark")
	}
	w.Observe(1, 50, 2)
	w.Observe(0, 90, 3) // out of order: max stays 100
	if got := w.Current(3); got != 45 {
		t.Fatalf("min(100, 50) − 5 = %d, want 45", got)
	}
	w.Close(1)
	if got := w.Current(4); got != 95 {
		t.Fatalf("after input 1 closed: %d, want 95", got)
	}
	w.Close(0)
	if got := w.Current(5); got != math.MaxInt64 {
		t.Fatalf("all closed: %d", got)
	}

	idle := NewWatermarks(2, 0, 10)
	idle.Observe(0, 100, 0)
	idle.Observe(1, 20, 0)
	if got := idle.Current(5); got != 20 {
		t.Fatalf("both active: %d", got)
	}
	idle.Observe(0, 200, 15)
	if got := idle.Current(15); got != 200 {
		t.Fatalf("input 1 idle for 15 > 10 must not hold back: %d", got)
	}
	if got := idle.Current(100); got != 200 {
		t.Fatalf("all idle: the furthest sets the pace, got %d", got)
	}
}

func TestStatelessSteps(t *testing.T) {
	spec := mustParse(t, base+`pipeline:
  - filter: 'level == "error" && ms > 10'
  - map: {lvl: 'upper(level)', slow: 'ms > 100', ms: ms}
  - key_by: 'lvl + "/" + string(slow)'
`)
	in := []Event{
		{Key: "a", Fields: MakeFields(map[string]any{"level": "error", "ms": 500})},
		{Key: "b", Fields: MakeFields(map[string]any{"level": "info", "ms": 500})},
		{Key: "c", Fields: MakeFields(map[string]any{"level": "error", "ms": 5})},
		{Key: "d", Fields: MakeFields(map[string]any{"level": "error", "ms": 50})},
	}
	evs := in
	for i := range spec.spec.Pipeline {
		s, err := machineOf[*Stateless](spec, i, 0)
		if err != nil {
			t.Fatal(err)
		}
		var errs []error
		evs, errs = s.Apply(evs, nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
	}
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%s %v", e.Key, e.Fields))
	}
	slices.Sort(got)
	want := []string{"ERROR/false map[lvl:ERROR ms:50 slow:false]", "ERROR/true map[lvl:ERROR ms:500 slow:true]"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if _, ok := in[1].Fields.Lookup("key"); ok {
		t.Error("built-in fields leaked into the event")
	}
}

func TestStatelessEvalErrorsAreReported(t *testing.T) {
	spec := mustParse(t, "name: q\nlatency_target: 1s\nsources: [{name: s, jsonl: {stdin: true}}]\npipeline:\n  - filter: 'n > 1'\n")
	s, _ := machineOf[*Stateless](spec, 0, 0)
	out, errs := s.Apply([]Event{{Fields: MakeFields(map[string]any{"n": "x"})}, {Fields: MakeFields(map[string]any{"n": 2})}}, nil)
	if len(out) != 1 || len(errs) != 1 || !strings.Contains(errs[0].Error(), `filter "n > 1"`) {
		t.Errorf("out %v errs %v", out, errs)
	}
}
