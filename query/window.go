package query

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/expr-lang/expr/vm"
)

// NoWatermark is the watermark before any input was seen.
const NoWatermark int64 = math.MinInt64

// Watermarks tracks the event-time progress of an operator's inputs: each
// input's watermark is the largest event time it has sent minus the bounded
// out-of-orderness; the operator's is the smallest over its inputs. An input
// silent for longer than the idle timeout stops holding it back, and a
// closed input (its source ended) never does. Processing-time streams use it
// with event time = arrival time and no out-of-orderness. Time arrives as
// `now`; not safe for concurrent use.
type Watermarks struct {
	ooo, idle int64
	inputs    []wmInput
}

type wmInput struct {
	max, last    int64
	seen, closed bool
}

// NewWatermarks tracks inputs inputs.
func NewWatermarks(inputs int, outOfOrder, idleTimeout time.Duration) *Watermarks {
	return &Watermarks{ooo: int64(outOfOrder), idle: int64(idleTimeout), inputs: make([]wmInput, inputs)}
}

// Observe records that input sent an event of event time t at now.
func (w *Watermarks) Observe(input int, t, now int64) {
	in := &w.inputs[input]
	if !in.seen || t > in.max {
		in.max = t
	}
	in.seen, in.last = true, now
}

// Close records that input ended.
func (w *Watermarks) Close(input int) { w.inputs[input].closed = true }

// Current returns the watermark at now: NoWatermark until every open,
// non-idle input was seen, math.MaxInt64 once all inputs are closed.
func (w *Watermarks) Current(now int64) int64 {
	wm, active := int64(math.MaxInt64), 0
	for _, in := range w.inputs {
		switch {
		case in.closed:
			continue
		case !in.seen:
			if w.idle > 0 {
				continue // never sent anything: idle from the start
			}
			return NoWatermark
		case w.idle > 0 && now-in.last > w.idle:
			continue
		}
		active++
		wm = min(wm, in.max-w.ooo)
	}
	if active == 0 {
		// Every open input is idle: the furthest one sets the pace.
		best, any := NoWatermark, false
		for _, in := range w.inputs {
			if !in.closed && in.seen {
				best, any = max(best, in.max-w.ooo), true
			}
		}
		if any {
			return best
		}
		if w.allClosed() {
			return math.MaxInt64
		}
		return NoWatermark
	}
	return wm
}

func (w *Watermarks) allClosed() bool {
	for _, in := range w.inputs {
		if !in.closed {
			return false
		}
	}
	return true
}

// WindowAgg is the state machine of a window step: keyed events go into
// every window that holds their time; a window fires, with one result per
// key, once the watermark passes its end plus the allowed lateness. An event
// for a window that already fired is late: counted, and given back to the
// caller for the side sink. Not safe for concurrent use.
type WindowAgg struct {
	size, slide, lateness int64
	aggArgs
	extra         int64 // state beyond the groups' accumulators (sets, rows, key fields)
	keyFields     []string
	res           *resultShape               // set at the first result
	keyVals       map[string]*keyVals        // key → its fields' values, while a window holds it
	fire          *windowFiring              // a firing under way (AdvanceSome)
	open          map[int64]map[string][]acc // window index → key → one acc per aggregate
	wm            int64
	late, partial uint64
	groups        int // (window, key) groups open
}

// newWindowAgg returns the state machine of a window step with its
// compiled aggregate arguments (Plan.Machine).
func newWindowAgg(op *Operator, progs []*vm.Program, allowedLateness time.Duration) (*WindowAgg, error) {
	if op.Window == nil {
		return nil, fmt.Errorf("query: %s is not a window step", op.Kind())
	}
	slide := op.Window.Slide
	if slide == 0 {
		slide = op.Window.Size
	}
	return &WindowAgg{
		size: int64(op.Window.Size), slide: int64(slide), lateness: int64(allowedLateness),
		aggArgs:   newAggArgs(op.Window.Aggregates, progs),
		keyFields: op.Window.KeyFields, keyVals: map[string]*keyVals{},
		open: map[int64]map[string][]acc{}, wm: NoWatermark,
	}, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// windows returns the indices [first, last] of the windows holding t.
func (a *WindowAgg) windows(t int64) (first, last int64) {
	return floorDiv(t-a.size, a.slide) + 1, floorDiv(t, a.slide)
}

func (a *WindowAgg) end(k int64) int64 { return k*a.slide + a.size }

// Late returns how many events came too late for every window they belong to.
func (a *WindowAgg) Late() uint64 { return a.late }

// Open returns how many (window, key) groups are open.
func (a *WindowAgg) Open() int {
	n := 0
	for _, keys := range a.open {
		n += len(keys)
	}
	return n
}

// Add puts ev into its windows. A window is skipped when it has fired or
// when the event's own source watermark had passed it (Event.Watermark);
// late reports that every window it belongs to was skipped; err that an aggregate's argument did not evaluate to a
// number (the event is then not added anywhere).
func (a *WindowAgg) Add(ev Event) (late bool, err error) {
	vals, err := a.eval(&ev)
	if err != nil {
		return false, err
	}
	first, last := a.windows(ev.EventTime)
	added, skipped := false, false
	wm := max(a.wm, ev.Watermark)
	for k := first; k <= last; k++ {
		if wm != NoWatermark && a.end(k)+a.lateness <= wm {
			skipped = true
			continue // this window fired, or its source had passed it
		}
		keys := a.open[k]
		if keys == nil {
			keys = map[string][]acc{}
			a.open[k] = keys
		}
		accs := keys[ev.Key]
		if accs == nil {
			accs = make([]acc, len(a.aggs))
			for i, ag := range a.aggs {
				if ag.User != nil {
					accs[i].user = ag.User()
				}
			}
			keys[ev.Key] = accs
			a.groups++
			if a.keyFields != nil {
				kv := a.keyVals[ev.Key]
				if kv == nil {
					kv = &keyVals{vals: fieldValues(ev.Fields, a.keyFields)}
					a.keyVals[ev.Key] = kv
					a.extra += kv.bytes()
				}
				kv.refs++
			}
		}
		for i := range accs {
			if accs[i].user != nil {
				if err := accs[i].user.Add(ev); err != nil {
					return false, fmt.Errorf("aggregate %s: %w", a.aggs[i].Name, err)
				}
				continue
			}
			a.extra += accs[i].add(a.kinds[i], a.aggs[i].K, vals[i], &ev)
		}
		added = true
	}
	switch {
	case !added:
		a.late++
	case skipped:
		a.partial++
	}
	return !added, nil
}

// Output implements Machine: the groups of the windows that fire at wm.
func (a *WindowAgg) Output(wm int64) int64 {
	if wm <= a.wm {
		return 0
	}
	var n int64
	for k, keys := range a.open {
		if a.end(k)+a.lateness <= wm {
			n += int64(len(keys))
		}
	}
	return n
}

// Partial returns how many events were added to some of their windows but
// came too late for others (sliding windows), which had fired.
func (a *WindowAgg) Partial() uint64 { return a.partial }

// Advance moves the watermark to wm (it never goes back) and returns the
// results of the windows that fire, by window end and then key. Each result
// has the window's key, the fields window_start, window_end and the
// aggregates, and Arrival = frontierArrival: the arrival of the input that
// moved the watermark, from which its latency counts.
func (a *WindowAgg) Advance(wm, frontierArrival int64) []Event {
	out, _ := a.AdvanceSome(wm, frontierArrival, math.MaxInt)
	for a.fire != nil { // a firing left by AdvanceSome: finished here
		var more []Event
		more, _ = a.AdvanceSome(a.wm, frontierArrival, math.MaxInt)
		out = append(out, more...)
	}
	return out
}

// windowFiring is a firing under way: the windows due, in order, and the
// keys of the one being emitted.
type windowFiring struct {
	due     []int64
	names   []string // keys of due[0] not yet emitted, in order
	arrival int64
}

// AdvanceSome implements Slicer: as Advance, but it returns at most max
// results; more says a firing is under way, which the next call goes on
// with (whatever its wm: a new watermark waits until the firing ends).
// Events for windows the firing holds are late, as if they had fired.
func (a *WindowAgg) AdvanceSome(wm, frontierArrival int64, max int) (out []Event, more bool) {
	if a.fire == nil {
		if wm <= a.wm {
			return nil, false
		}
		a.wm = wm
		var due []int64
		for k := range a.open {
			if a.end(k)+a.lateness <= wm {
				due = append(due, k)
			}
		}
		if len(due) == 0 {
			return nil, false
		}
		slices.Sort(due)
		a.fire = &windowFiring{due: due, arrival: frontierArrival}
	}
	f := a.fire
	for len(out) < max && len(f.due) > 0 {
		k := f.due[0]
		keys := a.open[k]
		if f.names == nil {
			f.names = make([]string, 0, len(keys))
			for key := range keys {
				f.names = append(f.names, key)
			}
			slices.Sort(f.names)
		}
		for len(out) < max && len(f.names) > 0 {
			key := f.names[0]
			f.names = f.names[1:]
			out = append(out, a.result(k, key, keys[key], f.arrival))
			delete(keys, key)
			a.groups--
		}
		if len(f.names) == 0 {
			delete(a.open, k)
			f.due, f.names = f.due[1:], nil
		}
	}
	if len(f.due) == 0 {
		a.fire = nil
		return out, false
	}
	return out, true
}

// result is the result of window k's group key, whose state it lets go.
func (a *WindowAgg) result(k int64, key string, accs []acc, arrival int64) Event {
	if a.res == nil {
		a.res = newResultShape(a.aggs, a.keyFields)
	}
	f := make([]any, a.res.names.Len())
	f[a.res.start], f[a.res.end] = k*a.slide, a.end(k)
	for i := range a.aggs {
		f[a.res.aggs[i]] = accs[i].result(a.kinds[i])
		a.extra -= accs[i].held()
	}
	if kv := a.keyVals[key]; kv != nil {
		for j := range a.keyFields {
			f[a.res.keys[j]] = kv.vals[j]
		}
		if kv.refs--; kv.refs == 0 {
			delete(a.keyVals, key)
			a.extra -= kv.bytes()
		}
	}
	return Event{Key: key, Arrival: arrival, EventTime: a.end(k) - 1, Watermark: NoWatermark, Fields: NewFields(a.res.names, f)}
}

// resultShape is the shape of a window's results and where each of its
// parts goes: window_start, window_end, the aggregates, the key fields (a
// later one of the same name takes the place, as a map's later key
// would).
type resultShape struct {
	names      *Names
	start, end int
	aggs, keys []int
}

func newResultShape(aggs []Aggregate, keyFields []string) *resultShape {
	names := []string{"window_start", "window_end"}
	for _, ag := range aggs {
		names = append(names, ag.Name)
	}
	names = append(names, keyFields...)
	r := &resultShape{names: NamesOf(names...)}
	r.start, r.end = r.names.Index("window_start"), r.names.Index("window_end")
	for _, ag := range aggs {
		r.aggs = append(r.aggs, r.names.Index(ag.Name))
	}
	for _, name := range keyFields {
		r.keys = append(r.keys, r.names.Index(name))
	}
	return r
}

// StateBytes estimates the memory the open groups hold: per (window, key)
// group its map entries, key and accumulators (TestStateBytesTracksHeap
// keeps the estimate within 2× of the heap it measures). The engine
// charges it to the query's memory budget.
func (a *WindowAgg) StateBytes() int64 {
	return int64(a.groups)*(groupBytes+accBytes*int64(len(a.aggs))) + a.extra
}

// The estimates behind StateBytes.
const (
	groupBytes = 80  // map entries (window → key → slice), the slice header; measured 207 B with two aggregates
	accBytes   = 64  // one accumulator
	eventBytes = 320 // a buffered event with a few fields
)

// number reads any Go number: integers as i (and f), floats as f.
func number(v any) (i int64, f float64, ok bool) {
	switch x := v.(type) {
	case int:
		return int64(x), float64(x), true
	case int64:
		return x, float64(x), true
	case int32:
		return int64(x), float64(x), true
	case int16:
		return int64(x), float64(x), true
	case int8:
		return int64(x), float64(x), true
	case uint:
		return int64(x), float64(x), true
	case uint64:
		return int64(x), float64(x), true
	case uint32:
		return int64(x), float64(x), true
	case uint16:
		return int64(x), float64(x), true
	case uint8:
		return int64(x), float64(x), true
	case float64:
		return 0, x, true
	case float32:
		return 0, float64(x), true
	}
	return 0, 0, false
}

// keyVals are the values of the fields a key is made of, kept while a
// window holds the key (refs counts those windows).
type keyVals struct {
	vals []any
	refs int
}

func (k *keyVals) bytes() int64 { return 48 + 16*int64(len(k.vals)) }

// fieldValues reads names from fields (nil where absent).
func fieldValues(fields Fields, names []string) []any {
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = fields.Get(n)
	}
	return out
}
