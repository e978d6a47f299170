package query

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

const rowsSpec = `name: q
latency_target: 1s
sources:
  - name: s
    generator: {rate: 1, fields: {v: {uniform: [0, 100]}, s: {choice: [a, b, c]}}}
pipeline:
  - key_by: key
  - window: WINDOW
    aggregate:
      hi: max_by(v)
      lo: min_by(v)
      first: first(s)
      last: last(s)
      kinds: count_distinct(s)
      top: top_k(v, 2)
      n: count()
      total: sum(v)
`

func rowEvent(key string, t int64, v int, s string) Event {
	return Event{Key: key, EventTime: t, Fields: MakeFields(map[string]any{"v": v, "s": s, "t": t})}
}

// The row aggregates: max_by and min_by give the row, the earliest on a
// tie; first and last by event time, not by arrival; count_distinct;
// top_k the k largest rows, largest first, ties by time.
func TestRowAggregates(t *testing.T) {
	w, err := machineOf[*WindowAgg](mustParse(t, strings.Replace(rowsSpec, "WINDOW", "{tumbling: 100ns}", 1)), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []Event{
		rowEvent("k", 50, 7, "b"),
		rowEvent("k", 10, 3, "a"), // earliest, arrives second
		rowEvent("k", 60, 9, "c"),
		rowEvent("k", 40, 9, "a"), // ties the largest, earlier
		rowEvent("k", 90, 1, "b"), // latest
		rowEvent("k", 20, 1, "c"), // ties the smallest, earlier
	} {
		if _, err := w.Add(ev); err != nil {
			t.Fatal(err)
		}
	}
	if w.StateBytes() <= groupBytes+accBytes*8 {
		t.Fatalf("state %d B does not count the rows and sets kept", w.StateBytes())
	}
	out := w.Advance(100, 0)
	if len(out) != 1 {
		t.Fatalf("results %v", out)
	}
	f := out[0].Fields.Map()
	at := func(name string) any {
		if r, ok := f[name].(map[string]any); ok {
			return r["t"]
		}
		return fmt.Sprintf("%v", f[name])
	}
	top := f["top"].([]any)
	if at("hi") != int64(40) || at("lo") != int64(20) || f["first"] != "a" || f["last"] != "b" || f["kinds"] != int64(3) ||
		len(top) != 2 || top[0].(map[string]any)["t"] != int64(40) || top[1].(map[string]any)["t"] != int64(60) || f["n"] != int64(6) || f["total"] != int64(30) {
		t.Fatalf("results %v", f)
	}
	if w.StateBytes() != 0 {
		t.Fatalf("state %d B after the window fired", w.StateBytes())
	}
}

// referenceSessions is the straightforward computation: a key's events in
// time order, cut where two are a gap or more apart.
func referenceSessions(events []Event, gap int64) map[string][][]Event {
	by := map[string][]Event{}
	for _, ev := range events {
		by[ev.Key] = append(by[ev.Key], ev)
	}
	out := map[string][][]Event{}
	for k, evs := range by {
		slices.SortStableFunc(evs, func(a, b Event) int { return int(a.EventTime - b.EventTime) })
		cur := []Event{evs[0]}
		for _, ev := range evs[1:] {
			if ev.EventTime-cur[len(cur)-1].EventTime >= gap {
				out[k] = append(out[k], cur)
				cur = nil
			}
			cur = append(cur, ev)
		}
		out[k] = append(out[k], cur)
	}
	return out
}

// Sessions, in any arrival order, equal the reference: events closer than
// the gap to each other are one session, ending a gap after its last; the
// aggregates over merged sessions equal those over their events.
func TestSessionAggMatchesReference(t *testing.T) {
	plan := mustParse(t, strings.Replace(rowsSpec, "WINDOW", "{session: 10ns}", 1))
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 50 {
		var events []Event
		for i := range 60 {
			events = append(events, rowEvent(fmt.Sprint("k", r.IntN(3)), int64(r.IntN(400)), r.IntN(20), []string{"a", "b", "c", "d"}[r.IntN(4)]))
			events[i].Fields = events[i].Fields.With("i", i)
		}
		a, err := machineOf[*SessionAgg](plan, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events { // unordered: the watermark stays back
			if late, err := a.Add(ev); late || err != nil {
				t.Fatal(late, err)
			}
		}
		out := a.Advance(1000, 0)
		want := referenceSessions(events, 10)
		got := map[string][]Event{}
		for _, ev := range out {
			got[ev.Key] = append(got[ev.Key], ev)
		}
		for k, sessions := range want {
			if len(got[k]) != len(sessions) {
				t.Fatalf("round %d key %s: %d sessions, want %d", round, k, len(got[k]), len(sessions))
			}
			for i, evs := range sessions {
				f := got[k][i].Fields.Map()
				var total int64
				kinds := map[string]bool{}
				for _, ev := range evs {
					total += int64(ev.Fields.Get("v").(int))
					kinds[ev.Fields.Get("s").(string)] = true
				}
				last := evs[len(evs)-1].EventTime
				if f["window_start"] != evs[0].EventTime || f["window_end"] != last+10 || f["n"] != int64(len(evs)) || f["total"] != total || f["kinds"] != int64(len(kinds)) {
					t.Fatalf("round %d key %s session %d: %v, want %d events from %d to %d, total %d", round, k, i, f, len(evs), evs[0].EventTime, last, total)
				}
			}
		}
		if a.StateBytes() != 0 {
			t.Fatalf("state %d B after every session fired", a.StateBytes())
		}
	}
}

// A session fires when the watermark passes its end; an event whose own
// session would have fired is late, one that joins an open session is not.
func TestSessionAggFiringAndLateness(t *testing.T) {
	a, err := machineOf[*SessionAgg](mustParse(t, strings.Replace(rowsSpec, "WINDOW", "{session: 10ns}", 1)), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	a.Add(rowEvent("k", 0, 1, "a"))
	a.Add(rowEvent("k", 5, 1, "a"))
	if out := a.Advance(14, 0); len(out) != 0 {
		t.Fatalf("the session [0, 15) fired at 14: %v", out)
	}
	if late, _ := a.Add(rowEvent("k", 2, 1, "a")); late {
		t.Fatal("an event inside an open session was late")
	}
	out := a.Advance(15, 7)
	if len(out) != 1 || out[0].Fields.Get("n") != int64(3) || out[0].Fields.Get("window_end") != int64(15) || out[0].Arrival != 7 || out[0].EventTime != 14 {
		t.Fatalf("fired %v", out)
	}
	if late, _ := a.Add(rowEvent("k", 4, 1, "a")); !late || a.Late() != 1 {
		t.Fatal("an event for a fired session was not late")
	}
	if late, _ := a.Add(rowEvent("k", 12, 1, "a")); late {
		t.Fatal("an event whose own session ends after the watermark was late")
	}
}

// key_by of several fields: the key is their values, '|' inside one
// escaped so that no two keys meet; a window's results carry each field.
func TestKeyByFields(t *testing.T) {
	plan := mustParse(t, `name: q
latency_target: 1s
sources:
  - name: s
    generator: {rate: 1, fields: {a: {choice: [x]}, b: {uniform: [0, 9]}, v: {uniform: [0, 9]}}}
pipeline:
  - key_by: [a, b]
  - window: {tumbling: 10ns}
    aggregate: {n: count()}
`)
	kb, err := machineOf[*Stateless](plan, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := machineOf[*WindowAgg](plan, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	in := []Event{
		{EventTime: 1, Fields: MakeFields(map[string]any{"a": "x|1", "b": 2})},
		{EventTime: 2, Fields: MakeFields(map[string]any{"a": "x", "b": "1|2"})},
		{EventTime: 3, Fields: MakeFields(map[string]any{"a": "x", "b": "1|2"})},
	}
	keyed, errs := kb.Apply(in, nil)
	if len(errs) != 0 || keyed[0].Key == keyed[1].Key || keyed[1].Key != keyed[2].Key || keyed[0].Key != `x\|1|2` {
		t.Fatalf("keys %q %q %q (%v)", keyed[0].Key, keyed[1].Key, keyed[2].Key, errs)
	}
	for _, ev := range keyed {
		w.Add(ev)
	}
	out := w.Advance(10, 0)
	if len(out) != 2 || out[1].Fields.Get("a") != "x" || out[1].Fields.Get("b") != "1|2" || out[1].Fields.Get("n") != int64(2) || out[0].Fields.Get("a") != "x|1" || out[0].Fields.Get("b") != 2 {
		t.Fatalf("results %v", out)
	}
	if w.StateBytes() != 0 {
		t.Fatalf("state %d B after firing", w.StateBytes())
	}
	for _, c := range []struct{ key, want string }{
		{"[]", "pipeline[0].key_by: 0 fields: want 1 to 16"},
		{"[a, a]", `pipeline[0].key_by[1]: "a": want the name of a field, once`},
		{"[key]", `pipeline[0].key_by[0]: "key": want the name of a field`},
		{"[a, nope]", `pipeline[0].key_by[1]: expression "nope" does not compile`},
	} {
		spec := "name: q\nlatency_target: 1s\nsources:\n  - name: s\n    generator: {rate: 1, fields: {a: {choice: [x]}}}\npipeline:\n  - key_by: " + c.key + "\n"
		if _, err := Parse("k.yaml", []byte(spec)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("key_by %s: %v, want %q", c.key, err, c.want)
		}
	}
}

// An interval join emits each pair when its second event arrives, from
// either side, for events at most `within` apart; the watermark lets go
// of what nothing to come can match, and an event behind it is late.
func TestIntervalJoin(t *testing.T) {
	plan := mustParse(t, `name: q
latency_target: 1s
sources:
  - name: a
    generator: {rate: 1, fields: {v: {uniform: [0, 9]}}}
  - name: b
    generator: {rate: 1, fields: {w: {uniform: [0, 9]}}}
pipeline:
  - key_by: key
  - join: {with: b, on: key, within: 10ns}
`)
	j, err := machineOf[*IntervalJoin](plan, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(k string, at int64, f string, v int) Event {
		return Event{Key: k, EventTime: at, Arrival: at, Watermark: NoWatermark, Fields: MakeFields(map[string]any{f: v})}
	}
	out, _, _ := j.Run(0, []Event{ev("x", 100, "v", 1)}, nil)
	if len(out) != 0 {
		t.Fatalf("a pair from one event: %v", out)
	}
	out, _, _ = j.Run(1, []Event{ev("x", 95, "w", 2), ev("x", 111, "w", 3), ev("y", 100, "w", 4)}, nil)
	if len(out) != 1 || out[0].Fields.Get("v") != 1 || out[0].Fields.Get("b").(map[string]any)["w"] != 2 || out[0].EventTime != 100 {
		t.Fatalf("pairs %v, want only (100, 95)", out)
	}
	out, _, _ = j.Run(0, []Event{ev("x", 105, "v", 5)}, nil) // meets 95 and 111
	if len(out) != 2 || j.StateBytes() != 5*eventBytes {
		t.Fatalf("pairs %v, state %d", out, j.StateBytes())
	}
	// Events to come are at 116 or later: only 111 can still match. They
	// go in the order they came, so 111 holds y's 100 and x's 105 too.
	j.Advance(116, 0)
	if n := j.StateBytes() / eventBytes; n != 3 {
		t.Fatalf("%d events held after the watermark passed 116, want 3", n)
	}
	j.Advance(122, 0)
	if n := j.StateBytes() / eventBytes; n != 0 || len(j.sides[0])+len(j.sides[1]) != 0 {
		t.Fatalf("%d events held after the watermark passed 122, want none", n)
	}
	_, _, late := j.Run(0, []Event{ev("x", 121, "v", 6)}, nil)
	if len(late) != 1 || j.Late() != 1 {
		t.Fatal("an event behind the watermark was not late")
	}
}

// A firing cut into slices gives the results of one firing, in the same
// order; events for its windows meanwhile are late; a new watermark waits
// for the firing to end.
func TestWindowFiringInSlices(t *testing.T) {
	plan := mustParse(t, strings.Replace(rowsSpec, "WINDOW", "{tumbling: 10ns}", 1))
	whole, _ := machineOf[*WindowAgg](plan, 1, 0)
	sliced, _ := machineOf[*WindowAgg](plan, 1, 0)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 500 {
		ev := rowEvent(fmt.Sprint("k", r.IntN(40)), int64(r.IntN(30)), r.IntN(9), "a")
		ev.Fields = ev.Fields.With("i", i)
		whole.Add(ev)
		sliced.Add(ev)
	}
	want := whole.Advance(25, 7)
	var got []Event
	out, more := sliced.AdvanceSome(25, 7, 7)
	got = append(got, out...)
	if late, _ := sliced.Add(rowEvent("k1", 15, 1, "a")); !late {
		t.Fatal("an event for a window being fired was not late")
	}
	for calls := 1; more; calls++ {
		out, more = sliced.AdvanceSome(1000, 9, 7) // a newer watermark waits
		got = append(got, out...)
		if len(out) > 7 || calls > 100 {
			t.Fatalf("slice of %d, call %d", len(out), calls)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(want) < 40 {
		t.Fatalf("%d results in slices, %d at once, or they differ", len(got), len(want))
	}
	if out := sliced.Advance(1000, 9); len(out) == 0 || sliced.StateBytes() != 0 {
		t.Fatalf("the window after the firing: %d results, state %d", len(out), sliced.StateBytes())
	}
}
