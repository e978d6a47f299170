package query

import (
	"container/heap"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/expr-lang/expr/vm"
)

// SessionAgg is the state machine of a session window step: a key's
// events closer than the gap to one another (in event time, or arrival
// under processing time) make one session, which ends a gap after its
// last event and fires once the watermark passes that end plus the
// allowed lateness. An event between two sessions that brings them within
// the gap merges them. An event whose own session would have fired is
// late. Each result has the key, window_start (the first event's time),
// window_end (the last event's time plus the gap) and the aggregates. Not
// safe for concurrent use.
type SessionAgg struct {
	gap, lateness int64
	aggArgs
	keyFields []string
	shapes    Shapes                // the results' shape, reused
	open      map[string][]*session // key → its sessions, by start
	due       sessionHeap           // sessions by end (stale entries skipped)
	wm        int64
	late      uint64
	groups    int
	extra     int64
}

// session is one key's open session: events from start to last, with
// the values of the fields its key is made of.
type session struct {
	start, last int64
	accs        []acc
	keyVals     []any
	gone        bool // merged into another, or fired
}

// dueEntry is a session's end when it was pushed: stale once the session
// grew (a newer entry holds its new end) or is gone.
type dueEntry struct {
	end int64
	key string
	s   *session
}

type sessionHeap []dueEntry

func (h sessionHeap) Len() int           { return len(h) }
func (h sessionHeap) Less(i, j int) bool { return h[i].end < h[j].end }
func (h sessionHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *sessionHeap) Push(x any)        { *h = append(*h, x.(dueEntry)) }
func (h *sessionHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = dueEntry{}
	*h = old[:len(old)-1]
	return e
}

// current says whether e is its session's present end.
func (a *SessionAgg) current(e dueEntry) bool { return !e.s.gone && a.end(e.s) == e.end }

func newSessionAgg(op *Operator, progs []*vm.Program, allowedLateness time.Duration) (*SessionAgg, error) {
	w := op.Window
	if w == nil || w.Gap <= 0 {
		return nil, fmt.Errorf("query: %s is not a session window", op.Kind())
	}
	for _, ag := range w.Aggregates {
		if ag.User != nil {
			return nil, fmt.Errorf("query: aggregate %s: a user aggregate cannot be merged, so it cannot be in a session window", ag.Name)
		}
	}
	return &SessionAgg{
		gap: int64(w.Gap), lateness: int64(allowedLateness),
		aggArgs: newAggArgs(w.Aggregates, progs), keyFields: w.KeyFields,
		open: map[string][]*session{}, wm: NoWatermark,
	}, nil
}

// end is when s ends: a gap after its last event.
func (a *SessionAgg) end(s *session) int64 { return s.last + a.gap }

// Add puts ev into its key's session, merging the sessions it bridges.
func (a *SessionAgg) Add(ev Event) (late bool, err error) {
	vals, err := a.eval(&ev)
	if err != nil {
		return false, err
	}
	t := ev.EventTime
	ss := a.open[ev.Key]
	// The sessions it touches: those it is closer than the gap to.
	lo, _ := slices.BinarySearchFunc(ss, t, func(s *session, t int64) int {
		if s.last+a.gap <= t {
			return -1
		}
		return 1
	})
	hi := lo
	for hi < len(ss) && ss[hi].start-a.gap < t {
		hi++
	}
	var s *session
	prevEnd := int64(math.MinInt64) // the session's end before the event: none for a new one
	switch wm := max(a.wm, ev.Watermark); {
	case hi == lo && wm != NoWatermark && t+a.gap+a.lateness <= wm:
		a.late++
		return true, nil // its own session would have fired
	case hi == lo:
		s = &session{start: t, last: t, accs: make([]acc, len(a.aggs))}
		if a.keyFields != nil {
			s.keyVals = fieldValues(ev.Fields, a.keyFields)
		}
		ss = slices.Insert(ss, lo, s)
		a.groups++
	default:
		s = ss[lo]
		prevEnd = a.end(s)
		for _, o := range ss[lo+1 : hi] {
			for i := range s.accs {
				a.extra += s.accs[i].merge(a.kinds[i], a.aggs[i].K, &o.accs[i])
			}
			s.start, s.last = min(s.start, o.start), max(s.last, o.last)
			o.gone = true
			a.groups--
		}
		ss = slices.Delete(ss, lo+1, hi)
		s.start, s.last = min(s.start, t), max(s.last, t)
	}
	for i := range s.accs {
		a.extra += s.accs[i].add(a.kinds[i], a.aggs[i].K, vals[i], &ev)
	}
	a.open[ev.Key] = ss
	if a.end(s) != prevEnd {
		// Its end moved (or it is new): an entry for the new end; the old
		// one is skipped when it comes up.
		heap.Push(&a.due, dueEntry{end: a.end(s), key: ev.Key, s: s})
	}
	return false, nil
}

// Run implements Machine.
func (a *SessionAgg) Run(_ int, in, out []Event) ([]Event, []error, []Event) {
	errs, late := addAll(a.Add, in)
	return out, errs, late
}

// Output implements Machine: the sessions that end by wm (the heap's
// entries up to wm, not the whole state).
func (a *SessionAgg) Output(wm int64) int64 {
	if wm <= a.wm {
		return 0
	}
	var n int64
	var walk func(i int)
	walk = func(i int) {
		if i >= len(a.due) || a.due[i].end+a.lateness > wm {
			return
		}
		if a.current(a.due[i]) {
			n++
		}
		walk(2*i + 1)
		walk(2*i + 2)
	}
	walk(0)
	return n
}

// Advance implements Machine: the sessions that end by wm fire, by end
// and then key.
func (a *SessionAgg) Advance(wm, frontierArrival int64) []Event {
	if wm <= a.wm {
		return nil
	}
	a.wm = wm
	var out []Event
	for len(a.due) > 0 && a.due[0].end+a.lateness <= wm {
		e := heap.Pop(&a.due).(dueEntry)
		if !a.current(e) {
			continue
		}
		s, key := e.s, e.key
		s.gone = true
		ss := a.open[key]
		if i := slices.Index(ss, s); i >= 0 {
			ss = slices.Delete(ss, i, i+1)
		}
		if len(ss) == 0 {
			delete(a.open, key)
		} else {
			a.open[key] = ss
		}
		{
			f := map[string]any{"window_start": s.start, "window_end": a.end(s)}
			for i, ag := range a.aggs {
				f[ag.Name] = s.accs[i].result(a.kinds[i])
				a.extra -= s.accs[i].held()
			}
			for j, name := range a.keyFields {
				f[name] = s.keyVals[j]
			}
			out = append(out, Event{Key: key, Arrival: frontierArrival, EventTime: a.end(s) - 1, Watermark: NoWatermark, Fields: a.shapes.Make(f)})
			a.groups--
		}
	}
	slices.SortFunc(out, func(x, y Event) int {
		if x.EventTime != y.EventTime {
			return int(min(max(x.EventTime-y.EventTime, -1), 1))
		}
		switch {
		case x.Key < y.Key:
			return -1
		case x.Key > y.Key:
			return 1
		}
		return 0
	})
	return out
}

// StateBytes implements Machine.
func (a *SessionAgg) StateBytes() int64 {
	return int64(a.groups)*(groupBytes+accBytes*int64(len(a.aggs))) + a.extra
}

// Partial implements Machine: an event is in one session.
func (a *SessionAgg) Partial() uint64 { return 0 }

// Late returns how many events came after their session fired.
func (a *SessionAgg) Late() uint64 { return a.late }

var _ Machine = (*SessionAgg)(nil)
