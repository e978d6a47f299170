package query

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/expr-lang/expr/vm"
)

// JoinOp is the state machine of a join step: a windowed equi-join of the
// stream (left, keyed by its key_by) with another source (right, keyed by
// the join's `on` expression) over tumbling windows of the join's size. When
// the watermark of both sides (the caller's Watermarks with two inputs)
// passes a window's end plus the allowed lateness, it emits one result per
// matching pair: the left event's fields plus the right event's fields as a
// map named after the right source. Not safe for concurrent use.
type JoinOp struct {
	size, lateness int64
	with           string
	sides          [2]map[int64]map[string][]Event // window → key → events
	wm             int64
	late           uint64
	buffered       int // events held in open windows
	progs          []*vm.Program
	r              runner
	shape          joinShape
}

// newJoinOp returns the state machine of a join step with its compiled
// `on` (Plan.Machine, Plan.JoinKeyer).
func newJoinOp(op *Operator, progs []*vm.Program, allowedLateness time.Duration) (*JoinOp, error) {
	if op.Join == nil {
		return nil, fmt.Errorf("query: %s is not a join step", op.Kind())
	}
	j := &JoinOp{size: int64(op.Join.Window), lateness: int64(allowedLateness), with: op.Join.With, wm: NoWatermark, progs: progs, r: newRunner(progs)}
	for i := range j.sides {
		j.sides[i] = map[int64]map[string][]Event{}
	}
	return j, nil
}

// Late returns how many events came after their window was joined.
func (j *JoinOp) Late() uint64 { return j.late }

// AddLeft adds an event of the stream; it is keyed already.
func (j *JoinOp) AddLeft(ev Event) (late bool) { return j.add(0, ev) }

// AddRight adds an event of the other source, keying it with `on`.
func (j *JoinOp) AddRight(ev Event) (late bool, err error) {
	if err := j.KeyRight(&ev); err != nil {
		return false, err
	}
	return j.add(1, ev), nil
}

// KeyRight sets the key of an event of the other source from `on`; the
// engine keys them where they are read, to partition them.
func (j *JoinOp) KeyRight(ev *Event) error {
	k, err := j.r.run(j.progs, 0, ev)
	if err != nil {
		return fmt.Errorf("join on: %w", err)
	}
	ev.Key = keyString(k)
	return nil
}

// AddRightKeyed adds an event of the other source keyed by KeyRight.
func (j *JoinOp) AddRightKeyed(ev Event) (late bool) { return j.add(1, ev) }

func (j *JoinOp) add(side int, ev Event) bool {
	k := floorDiv(ev.EventTime, j.size)
	if wm := max(j.wm, ev.Watermark); wm != NoWatermark && (k+1)*j.size+j.lateness <= wm {
		j.late++
		return true
	}
	keys := j.sides[side][k]
	if keys == nil {
		keys = map[string][]Event{}
		j.sides[side][k] = keys
	}
	ev.Fields = ev.Fields.Clone() // held past the message
	keys[ev.Key] = append(keys[ev.Key], ev)
	j.buffered++
	return false
}

// Output implements Machine: the pairs of the windows that close at wm,
// per key the product of its two sides (saturated).
func (j *JoinOp) Output(wm int64) int64 {
	if wm <= j.wm {
		return 0
	}
	var n int64
	for k, left := range j.sides[0] {
		if (k+1)*j.size+j.lateness > wm {
			continue
		}
		right := j.sides[1][k]
		for key, l := range left {
			if r := int64(len(right[key])); r > 0 {
				if p := int64(len(l)) * r; n <= math.MaxInt64-p {
					n += p
				} else {
					return math.MaxInt64
				}
			}
		}
	}
	return n
}

// Advance moves the watermark to wm and returns the joined pairs of the
// windows that close, by window, key, then arrival order on each side.
func (j *JoinOp) Advance(wm, frontierArrival int64) []Event {
	if wm <= j.wm {
		return nil
	}
	j.wm = wm
	seen := map[int64]bool{}
	var due []int64
	for _, side := range j.sides {
		for k := range side {
			if !seen[k] && (k+1)*j.size+j.lateness <= wm {
				seen[k] = true
				due = append(due, k)
			}
		}
	}
	slices.Sort(due)
	var out []Event
	for _, k := range due {
		left, right := j.sides[0][k], j.sides[1][k]
		keys := make([]string, 0, len(left))
		for key := range left {
			if len(right[key]) > 0 {
				keys = append(keys, key)
			}
		}
		slices.Sort(keys)
		if j.shape.extra == nil {
			j.shape = joinShape{with: j.with, extra: []string{"window_start", "window_end"}}
		}
		start, end := any(k*j.size), any((k+1)*j.size)
		var rows []any
		for _, key := range keys {
			// Each right row as the map expressions read, once per key:
			// the outputs of one right event share it (read-only).
			rows = rows[:0]
			for _, r := range right[key] {
				rows = append(rows, r.Fields.Map())
			}
			for _, l := range left[key] {
				for i := range right[key] {
					out = append(out, Event{Key: key, Arrival: frontierArrival, EventTime: (k+1)*j.size - 1, Watermark: NoWatermark, Fields: j.shape.row(l.Fields, rows[i], start, end)})
				}
			}
		}
		for _, side := range []map[string][]Event{left, right} {
			for _, evs := range side {
				j.buffered -= len(evs)
			}
		}
		delete(j.sides[0], k)
		delete(j.sides[1], k)
	}
	return out
}

// StateBytes estimates the memory of the events the join holds in open
// windows (see WindowAgg.StateBytes).
func (j *JoinOp) StateBytes() int64 { return int64(j.buffered) * eventBytes }
