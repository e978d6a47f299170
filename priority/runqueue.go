package priority

import "math"

// SystemKey is the key Peek reports while the system lane is not empty:
// system work bypasses the priority order.
const SystemKey int64 = math.MinInt64

// Entry is an actor's place in a RunQueue. An actor owns one Entry for its
// life; the zero Entry is not queued.
type Entry[T any] struct {
	Value  T
	key    int64
	seq    uint64
	index  int // position in the heap, -1 when not in the heap
	system bool
	queued bool
	group  *Group[T] // its leaf in a ShareQueue
}

// NewEntry returns an unqueued entry holding v, for a RunQueue.
func NewEntry[T any](v T) *Entry[T] { return &Entry[T]{Value: v, index: -1} }

// NewEntryIn returns an unqueued entry holding v for the ShareQueue leaf g.
func NewEntryIn[T any](v T, g *Group[T]) *Entry[T] { return &Entry[T]{Value: v, index: -1, group: g} }

// Group returns the entry's leaf group; nil for a RunQueue entry.
func (e *Entry[T]) Group() *Group[T] { return e.group }

// Key returns the key the entry was queued with.
func (e *Entry[T]) Key() int64 { return e.key }

// Queued reports whether the entry is in a queue.
func (e *Entry[T]) Queued() bool { return e.queued }

// System reports whether the entry is in the system lane.
func (e *Entry[T]) System() bool { return e.system }

// RunQueue is the level-1 queue of the two-level scheduler: runnable actors
// ordered by key (the global priority of their most urgent message), ties
// in enqueue order, behind a FIFO lane for actors with system work. It is a
// plain data structure: not safe for concurrent use, no clock.
type RunQueue[T any] struct {
	heap   []*Entry[T]
	system []*Entry[T]
	sysOff int
	seq    uint64
}

// Len returns the number of queued entries.
func (q *RunQueue[T]) Len() int { return len(q.heap) + len(q.system) - q.sysOff }

// Push queues e with key. e must not be queued.
func (q *RunQueue[T]) Push(e *Entry[T], key int64) {
	if e.queued {
		panic("priority: RunQueue.Push of an entry already queued")
	}
	q.seq++
	q.pushSeq(e, key, q.seq)
}

// pushSeq queues e with key and the queue order seq (a ShareQueue numbers
// entries across all its leaves).
func (q *RunQueue[T]) pushSeq(e *Entry[T], key int64, seq uint64) {
	if e.queued {
		panic("priority: RunQueue.Push of an entry already queued")
	}
	e.key, e.seq, e.queued, e.system = key, seq, true, false
	e.index = len(q.heap)
	q.heap = append(q.heap, e)
	q.up(e.index)
}

// PushSystem queues e in the system lane, or moves it there from the keyed
// heap; it is a no-op for an entry already in the system lane.
func (q *RunQueue[T]) PushSystem(e *Entry[T]) {
	if e.queued && e.system {
		return
	}
	if e.queued {
		q.remove(e.index)
	}
	q.seq++
	e.seq, e.queued, e.system, e.index = q.seq, true, true, -1
	q.system = append(q.system, e)
}

// Rekey changes the key of a queued entry, keeping its place among equal
// keys (it has waited since it was first queued). Entries in the system lane
// only record the key.
func (q *RunQueue[T]) Rekey(e *Entry[T], key int64) {
	if !e.queued {
		panic("priority: RunQueue.Rekey of an entry not queued")
	}
	old := e.key
	e.key = key
	if e.system {
		return
	}
	switch {
	case key < old:
		q.up(e.index)
	case key > old:
		q.down(e.index)
	}
}

// Each calls f for every queued entry, in no particular order.
func (q *RunQueue[T]) Each(f func(*Entry[T])) {
	for _, e := range q.system[q.sysOff:] {
		f(e)
	}
	for _, e := range q.heap {
		f(e)
	}
}

// Peek returns the key of the head: SystemKey when the system lane holds an
// entry, ok false when the queue is empty.
func (q *RunQueue[T]) Peek() (key int64, ok bool) {
	if q.sysOff < len(q.system) {
		return SystemKey, true
	}
	if len(q.heap) == 0 {
		return 0, false
	}
	return q.heap[0].key, true
}

// Pop removes and returns the head: the oldest system entry, else the entry
// with the smallest key, oldest first among equals. system tells which lane
// it came from.
func (q *RunQueue[T]) Pop() (e *Entry[T], system, ok bool) {
	if q.sysOff < len(q.system) {
		e = q.system[q.sysOff]
		q.system[q.sysOff] = nil
		q.sysOff++
		if q.sysOff == len(q.system) {
			q.system, q.sysOff = q.system[:0], 0
		}
		e.queued, e.system = false, false
		return e, true, true
	}
	if len(q.heap) == 0 {
		return nil, false, false
	}
	e = q.heap[0]
	q.remove(0)
	return e, false, true
}

func (q *RunQueue[T]) remove(i int) {
	e := q.heap[i]
	last := len(q.heap) - 1
	if i != last {
		q.swap(i, last)
	}
	q.heap[last] = nil
	q.heap = q.heap[:last]
	if i != last {
		if !q.down(i) {
			q.up(i)
		}
	}
	e.index, e.queued = -1, false
}

func (q *RunQueue[T]) less(i, j int) bool {
	a, b := q.heap[i], q.heap[j]
	return a.key < b.key || (a.key == b.key && a.seq < b.seq)
}

func (q *RunQueue[T]) swap(i, j int) {
	q.heap[i], q.heap[j] = q.heap[j], q.heap[i]
	q.heap[i].index = i
	q.heap[j].index = j
}

func (q *RunQueue[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q *RunQueue[T]) down(i int) bool {
	start, n := i, len(q.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			break
		}
		q.swap(i, m)
		i = m
	}
	return i > start
}
