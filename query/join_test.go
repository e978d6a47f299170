package query

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const joinSpec = `name: q
latency_target: 1s
sources:
  - name: orders
    jsonl: {path: o}
    event_time: {field: ts}
  - name: payments
    jsonl: {path: p}
    event_time: {field: ts}
pipeline:
  - key_by: order
  - join: {with: payments, on: order, window: 10ns}
`

// Randomised against a nested loop over both sides: every left and right
// event of the same key in the same tumbling window make one result.
func TestJoinMatchesReference(t *testing.T) {
	spec := mustParse(t, joinSpec)
	for seed := uint64(0); seed < 100; seed++ {
		r := rand.New(rand.NewPCG(seed, 5))
		gen := func(n int, side string) []Event {
			evs := make([]Event, n)
			for i := range evs {
				order := fmt.Sprint(r.IntN(6))
				evs[i] = Event{EventTime: int64(i/3) + r.Int64N(4), Fields: MakeFields(map[string]any{"order": order, "id": fmt.Sprintf("%s%d", side, i)})}
				if side == "L" {
					evs[i].Key = order
				}
			}
			return evs
		}
		left, right := gen(60+r.IntN(60), "L"), gen(60+r.IntN(60), "R")
		var want []string
		for _, l := range left {
			for _, rt := range right {
				if l.Key == rt.Fields.Get("order") && l.EventTime/10 == rt.EventTime/10 {
					want = append(want, fmt.Sprint(l.Fields.Get("id"), "+", rt.Fields.Get("id")))
				}
			}
		}
		j, err := machineOf[*JoinOp](spec, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		wm := NewWatermarks(2, 3*time.Nanosecond, 0)
		var got []Event
		li, ri := 0, 0
		for li < len(left) || ri < len(right) {
			// Interleave the sides at random, advancing after each event.
			if ri >= len(right) || (li < len(left) && r.IntN(2) == 0) {
				if j.AddLeft(left[li]) {
					t.Fatalf("seed %d: left event late", seed)
				}
				wm.Observe(0, left[li].EventTime, 0)
				li++
			} else {
				if late, err := j.AddRight(right[ri]); late || err != nil {
					t.Fatalf("seed %d: right event late %v err %v", seed, late, err)
				}
				wm.Observe(1, right[ri].EventTime, 0)
				ri++
			}
			got = append(got, j.Advance(wm.Current(0), 0)...)
		}
		wm.Close(0)
		wm.Close(1)
		got = append(got, j.Advance(wm.Current(0), 0)...)
		var gotIDs []string
		for _, e := range got {
			gotIDs = append(gotIDs, fmt.Sprint(e.Fields.Get("id"), "+", e.Fields.Get("payments").(map[string]any)["id"]))
		}
		slices.Sort(gotIDs)
		slices.Sort(want)
		if !slices.Equal(gotIDs, want) {
			t.Fatalf("seed %d: %d pairs, want %d", seed, len(gotIDs), len(want))
		}
	}
}

func TestJoinLateEvents(t *testing.T) {
	spec := mustParse(t, joinSpec)
	j, _ := machineOf[*JoinOp](spec, 1, 0)
	j.AddLeft(Event{Key: "1", EventTime: 3, Fields: MakeFields(map[string]any{"order": "1"})})
	if late, _ := j.AddRight(Event{EventTime: 4, Fields: MakeFields(map[string]any{"order": "1"})}); late {
		t.Fatal("late before any watermark")
	}
	if out := j.Advance(10, 77); len(out) != 1 || out[0].Arrival != 77 || out[0].Key != "1" {
		t.Fatalf("joined %v", out)
	}
	if !j.AddLeft(Event{Key: "1", EventTime: 5}) || j.Late() != 1 {
		t.Fatal("an event for a joined window must be late and counted")
	}
}
