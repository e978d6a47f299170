package query

import (
	"fmt"
	"math"
	"slices"

	"github.com/expr-lang/expr/vm"
)

// aggKind is a window aggregate's function, resolved once per step.
type aggKind uint8

const (
	aggCount aggKind = iota
	aggSum
	aggMin
	aggMax
	aggAvg
	aggDistinct
	aggMaxBy
	aggMinBy
	aggFirst
	aggLast
	aggTopK
	aggUser
)

func kindOf(a Aggregate) aggKind {
	if a.User != nil {
		return aggUser
	}
	switch a.Func {
	case "count":
		return aggCount
	case "sum":
		return aggSum
	case "min":
		return aggMin
	case "max":
		return aggMax
	case "avg":
		return aggAvg
	case "count_distinct":
		return aggDistinct
	case "max_by":
		return aggMaxBy
	case "min_by":
		return aggMinBy
	case "first":
		return aggFirst
	case "last":
		return aggLast
	case "top_k":
		return aggTopK
	}
	panic("query: unknown aggregate " + a.Func + " passed validation")
}

// aggArgs are a window's aggregates and their compiled arguments, with
// what evaluates them for one event.
type aggArgs struct {
	aggs  []Aggregate
	kinds []aggKind
	progs []*vm.Program // nil for count and user aggregates
	vals  []any         // scratch: one event's arguments
	r     runner
}

func newAggArgs(aggs []Aggregate, progs []*vm.Program) aggArgs {
	kinds := make([]aggKind, len(aggs))
	for i, ag := range aggs {
		kinds[i] = kindOf(ag)
	}
	return aggArgs{aggs: aggs, kinds: kinds, progs: progs, vals: make([]any, len(aggs)), r: newRunner(progs)}
}

// eval returns ev's aggregate arguments (valid until the next call); an
// argument that fails, or is not a number where one must be, is an error.
func (a *aggArgs) eval(ev *Event) ([]any, error) {
	vals := a.vals
	clear(vals)
	for i, p := range a.progs {
		if p == nil {
			continue
		}
		v, err := a.r.run(a.progs, i, ev)
		if err != nil {
			return nil, fmt.Errorf("%s(%s): %w", a.aggs[i].Func, a.aggs[i].Arg, err)
		}
		if a.kinds[i].numeric() {
			if _, _, ok := number(v); !ok {
				return nil, fmt.Errorf("%s(%s): %v (%T) is not a number", a.aggs[i].Func, a.aggs[i].Arg, v, v)
			}
		}
		vals[i] = v
	}
	return vals, nil
}

// numeric says whether the aggregate's argument must be a number.
func (k aggKind) numeric() bool {
	switch k {
	case aggSum, aggMin, aggMax, aggAvg, aggMaxBy, aggMinBy, aggTopK:
		return true
	}
	return false
}

// acc accumulates one aggregate of one group (a window and key). Integers
// stay integers until a float is seen. What only some aggregates keep (a
// row, a set of values) is behind ext, so that the common ones stay small.
type acc struct {
	n          int64
	isum       int64
	fsum       float64
	isFloat    bool
	min, max   float64
	imin, imax int64
	user       Accumulator
	ext        *accExt
}

// accExt is the state of count_distinct, max_by, min_by, first, last and
// top_k.
type accExt struct {
	val  any              // first, last: the value
	t    int64            // first, last, max_by, min_by: its event's time
	key  string           // max_by, min_by: its event's key
	by   float64          // max_by, min_by: the row's number
	row  Fields           // max_by, min_by: the row
	set  map[any]struct{} // count_distinct
	top  []ranked         // top_k: largest first
	seen bool             // a value was taken
}

// ranked is a row of top_k with what orders it.
type ranked struct {
	x   float64
	t   int64
	key string
	row Fields
}

// State estimates, beside groupBytes and accBytes: what ext holds.
const (
	extBytes      = 96 // an accExt
	distinctBytes = 48 // a value of a count_distinct set (plus a string's length)
)

// before says whether row a ranks ahead of row b for max_by and top_k:
// the larger number, then the earlier event, then the smaller key (as
// text). Rows equal in all three keep the one seen first.
func before(a, b ranked) bool {
	return a.x > b.x || a.x == b.x && (a.t < b.t || a.t == b.t && a.key < b.key)
}

// add takes one event's value v (the aggregate's argument; nil for count)
// into the accumulator, for an aggregate of kind k keeping k rows (top_k).
// It returns how many bytes of state it grew by (for StateBytes).
func (c *acc) add(kind aggKind, k int, v any, ev *Event) int64 {
	c.n++
	switch kind {
	case aggCount:
		return 0
	case aggSum, aggMin, aggMax, aggAvg:
		c.addNumber(v)
		return 0
	}
	grew := int64(0)
	if c.ext == nil {
		c.ext = &accExt{}
		grew = extBytes
	}
	e := c.ext
	switch kind {
	case aggDistinct:
		key, size := distinctKey(v)
		if e.set == nil {
			e.set = map[any]struct{}{}
		}
		if _, ok := e.set[key]; !ok {
			e.set[key] = struct{}{}
			grew += distinctBytes + size
		}
	case aggFirst, aggLast:
		if !e.seen || kind == aggFirst && ev.EventTime < e.t || kind == aggLast && ev.EventTime >= e.t {
			e.val, e.t, e.seen = v, ev.EventTime, true
		}
	case aggMaxBy, aggMinBy:
		_, x, _ := number(v)
		if kind == aggMinBy {
			x = -x
		}
		if !e.seen {
			grew += eventBytes // the row it keeps alive
		}
		if !e.seen || before(ranked{x: x, t: ev.EventTime, key: ev.Key}, ranked{x: e.by, t: e.t, key: e.key}) {
			e.by, e.t, e.key, e.row, e.seen = x, ev.EventTime, ev.Key, ev.Fields.Clone(), true
		}
	case aggTopK:
		_, x, _ := number(v)
		grew += e.insert(ranked{x: x, t: ev.EventTime, key: ev.Key, row: ev.Fields}, k) // insert detaches what it keeps
	}
	return grew
}

// insert puts r into the top k, keeping them ordered; it returns the
// bytes the list grew by.
func (e *accExt) insert(r ranked, k int) int64 {
	i, _ := slices.BinarySearchFunc(e.top, r, func(a, b ranked) int {
		if before(a, b) {
			return -1
		}
		return 1 // equal rows: after those seen first
	})
	if i >= k {
		return 0
	}
	grew := int64(0)
	if len(e.top) < k {
		e.top = append(e.top, ranked{})
		grew = eventBytes
	}
	copy(e.top[i+1:], e.top[i:])
	r.row = r.row.Clone()
	e.top[i] = r
	return grew
}

// distinctKey is v as a set member: numbers by value (3 and 3.0 are one),
// comparable values as they are, others by their text; and its size.
func distinctKey(v any) (any, int64) {
	if i, f, ok := number(v); ok {
		if isFloat(v) && (f != math.Trunc(f) || math.Abs(f) > 1<<53) {
			return f, 0
		}
		if isFloat(v) {
			return int64(f), 0
		}
		return i, 0
	}
	switch x := v.(type) {
	case string:
		return x, int64(len(x))
	case bool, nil:
		return x, 0
	}
	s := "\x00" + fmt.Sprint(v)
	return s, int64(len(s))
}

// memberBytes is what a set member holds.
func memberBytes(v any) int64 {
	if s, ok := v.(string); ok {
		return distinctBytes + int64(len(s))
	}
	return distinctBytes
}

func isFloat(v any) bool {
	switch v.(type) {
	case float64, float32:
		return true
	}
	return false
}

func (c *acc) addNumber(v any) {
	if v == nil {
		return
	}
	i, f, _ := number(v)
	switch v.(type) {
	case float64, float32:
		if !c.isFloat {
			c.isFloat = true
			c.fsum = float64(c.isum)
			c.min, c.max = float64(c.imin), float64(c.imax)
			if c.n == 1 {
				c.min, c.max = f, f
			}
		}
	}
	if c.isFloat {
		c.fsum += f
		if c.n == 1 || f < c.min {
			c.min = f
		}
		if c.n == 1 || f > c.max {
			c.max = f
		}
		return
	}
	c.isum += i
	if c.n == 1 || i < c.imin {
		c.imin = i
	}
	if c.n == 1 || i > c.imax {
		c.imax = i
	}
}

// merge adds o's events into c (session windows merging), for an
// aggregate of kind keeping k rows; it returns how many bytes of state
// it grew by.
func (c *acc) merge(kind aggKind, k int, o *acc) int64 {
	if o.n == 0 {
		return 0
	}
	if c.n == 0 {
		*c = *o
		return 0
	}
	n := c.n
	c.n += o.n
	switch kind {
	case aggCount:
		return 0
	case aggSum, aggMin, aggMax, aggAvg:
		switch {
		case c.isFloat || o.isFloat:
			cs, cmin, cmax := c.fsum, c.min, c.max
			if !c.isFloat {
				cs, cmin, cmax = float64(c.isum), float64(c.imin), float64(c.imax)
			}
			os, omin, omax := o.fsum, o.min, o.max
			if !o.isFloat {
				os, omin, omax = float64(o.isum), float64(o.imin), float64(o.imax)
			}
			c.isFloat, c.fsum, c.min, c.max = true, cs+os, min(cmin, omin), max(cmax, omax)
		default:
			c.isum += o.isum
			c.imin, c.imax = min(c.imin, o.imin), max(c.imax, o.imax)
		}
		_ = n
		return 0
	case aggUser:
		return 0 // user accumulators are not merged: see SessionAgg
	}
	e, f := c.ext, o.ext
	if f == nil {
		return 0
	}
	if e == nil {
		c.ext = f
		return 0
	}
	grew := int64(-extBytes) // o's is let go
	switch kind {
	case aggDistinct:
		if e.set == nil {
			e.set = map[any]struct{}{}
		}
		for v := range f.set {
			if _, ok := e.set[v]; ok {
				grew -= memberBytes(v) // a value both held
			} else {
				e.set[v] = struct{}{}
			}
		}
	case aggFirst:
		if f.seen && (!e.seen || f.t < e.t) {
			e.val, e.t, e.seen = f.val, f.t, true
		}
	case aggLast:
		if f.seen && (!e.seen || f.t >= e.t) {
			e.val, e.t, e.seen = f.val, f.t, true
		}
	case aggMaxBy, aggMinBy:
		if e.seen && f.seen {
			grew -= eventBytes // one of the two rows is let go
		}
		if f.seen && (!e.seen || before(ranked{x: f.by, t: f.t, key: f.key}, ranked{x: e.by, t: e.t, key: e.key})) {
			e.by, e.t, e.key, e.row, e.seen = f.by, f.t, f.key, f.row, true
		}
	case aggTopK:
		before := len(e.top) + len(f.top)
		for _, r := range f.top {
			e.insert(r, k)
		}
		grew -= int64(before-len(e.top)) * eventBytes
	}
	return grew
}

// held is the state add and merge counted for c (what its window frees
// when it fires).
func (c *acc) held() int64 {
	e := c.ext
	if e == nil {
		return 0
	}
	n := int64(extBytes)
	for v := range e.set {
		n += memberBytes(v)
	}
	if e.row.Len() > 0 {
		n += eventBytes
	}
	return n + int64(len(e.top))*eventBytes
}

// result is the aggregate's value when its window fires.
func (c *acc) result(kind aggKind) any {
	switch kind {
	case aggUser:
		return c.user.Result()
	case aggCount:
		return c.n
	case aggAvg:
		if c.isFloat {
			return c.fsum / float64(c.n)
		}
		return float64(c.isum) / float64(c.n)
	case aggSum:
		if c.isFloat {
			return c.fsum
		}
		return c.isum
	case aggMin:
		if c.isFloat {
			return c.min
		}
		return c.imin
	case aggMax:
		if c.isFloat {
			return c.max
		}
		return c.imax
	}
	e := c.ext
	if e == nil {
		if kind == aggDistinct {
			return int64(0)
		}
		return nil
	}
	switch kind {
	case aggDistinct:
		return int64(len(e.set))
	case aggFirst, aggLast:
		return e.val
	case aggMaxBy, aggMinBy:
		return e.row.Map()
	case aggTopK:
		rows := make([]any, len(e.top))
		for i, r := range e.top {
			rows[i] = r.row.Map()
		}
		return rows
	}
	panic(fmt.Sprintf("query: aggregate kind %d has no result", kind))
}
