package query

import (
	"fmt"
	"time"

	"github.com/expr-lang/expr/vm"
)

// IntervalJoin is the state machine of an interval join (join: {within:
// d}): an event of the stream (left, keyed by its key_by) matches the
// events of the other source (right, keyed by `on`) of its key whose times
// are at most d from its own, and each matching pair is emitted as soon as
// its second event arrives: the left event's fields plus the right event's
// as a map named after the right source, at the later of the two times.
// An event is kept until the watermark passes its time plus d plus the
// allowed lateness (no event that is not late can match it after); an
// event behind the watermark by more than the lateness is late. Not safe
// for concurrent use.
type IntervalJoin struct {
	within, lateness int64
	with             string
	sides            [2]map[string][]Event // key → events held, in the order they came
	order            []heldRef             // every event held, in the order it came
	head             int                   // order[head:] are held
	wm               int64
	late             uint64
	held             int
	shape            joinShape
}

// heldRef is an event held, in order: its time, key and side.
type heldRef struct {
	t    int64
	key  string
	side int
}

func newIntervalJoin(op *Operator, _ []*vm.Program, allowedLateness time.Duration) (*IntervalJoin, error) {
	if op.Join == nil || op.Join.Within <= 0 {
		return nil, fmt.Errorf("query: %s is not an interval join", op.Kind())
	}
	j := &IntervalJoin{within: int64(op.Join.Within), lateness: int64(allowedLateness), with: op.Join.With, wm: NoWatermark, shape: joinShape{with: op.Join.With}}
	for i := range j.sides {
		j.sides[i] = map[string][]Event{}
	}
	return j, nil
}

// Late returns how many events came behind the watermark.
func (j *IntervalJoin) Late() uint64 { return j.late }

// Run implements Machine: side 0 events are the stream's, side 1 the other
// source's, keyed already (Plan.JoinKeyer).
func (j *IntervalJoin) Run(side int, in, out []Event) ([]Event, []error, []Event) {
	var late []Event
	for _, ev := range in {
		if wm := max(j.wm, ev.Watermark); wm != NoWatermark && ev.EventTime+j.lateness < wm {
			j.late++
			late = append(late, ev)
			continue
		}
		for _, o := range j.sides[1-side][ev.Key] {
			if d := ev.EventTime - o.EventTime; d > j.within || -d > j.within {
				continue
			}
			l, r := ev, o
			if side == 1 {
				l, r = o, ev
			}
			out = append(out, Event{Key: ev.Key, Arrival: ev.Arrival, EventTime: max(l.EventTime, r.EventTime), Watermark: ev.Watermark, Fields: j.shape.row(l.Fields, r.Fields.Map())})
		}
		ev.Fields = ev.Fields.Clone() // held past the message
		j.sides[side][ev.Key] = append(j.sides[side][ev.Key], ev)
		j.order = append(j.order, heldRef{t: ev.EventTime, key: ev.Key, side: side})
		j.held++
	}
	return out, nil, late
}

// Advance implements Machine: it lets go of the events no event to come
// can match, oldest first in the order they came (an event that came early
// with a late time holds those after it a little longer, which changes no
// result: what is held past its time pairs with nothing to come), and
// emits nothing (pairs go out as they are made). Each event is let go
// once: no scan of what is held.
func (j *IntervalJoin) Advance(wm, _ int64) []Event {
	if wm <= j.wm {
		return nil
	}
	j.wm = wm
	for j.head < len(j.order) && j.order[j.head].t+j.within+j.lateness < wm {
		r := j.order[j.head]
		j.order[j.head] = heldRef{}
		j.head++
		evs := j.sides[r.side][r.key] // its first is r's event: both are in the order they came
		clear(evs[:1])
		if len(evs) == 1 {
			delete(j.sides[r.side], r.key)
		} else {
			j.sides[r.side][r.key] = evs[1:]
		}
		j.held--
	}
	if j.head > 1024 && j.head > len(j.order)/2 {
		j.order = append(j.order[:0], j.order[j.head:]...)
		j.head = 0
	}
	return nil
}

// Output implements Machine: a watermark makes no results.
func (j *IntervalJoin) Output(int64) int64 { return 0 }

// StateBytes implements Machine: the events held.
func (j *IntervalJoin) StateBytes() int64 { return int64(j.held) * eventBytes }

// Partial implements Machine.
func (j *IntervalJoin) Partial() uint64 { return 0 }

var _ Machine = (*IntervalJoin)(nil)
