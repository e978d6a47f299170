package priority

// Timer is one timer of a TimerQueue: a value and the time it is due.
// Its owner holds it for its life and arms it again and again; the zero
// Timer is not usable, make one with NewTimer.
type Timer[T any] struct {
	Value T
	at    int64
	seq   uint64
	index int // position in the heap, -1 when not armed
}

// NewTimer returns an unarmed timer holding v.
func NewTimer[T any](v T) *Timer[T] { return &Timer[T]{Value: v, index: -1} }

// Armed reports whether the timer is in a queue.
func (t *Timer[T]) Armed() bool { return t.index >= 0 }

// At returns the time the timer was last armed for.
func (t *Timer[T]) At() int64 { return t.at }

// TimerQueue is the pure core of a shared timer service: timers ordered by
// the time they are due, ties in the order they were armed. A node keeps
// one for all its queries' sources, so that a query costs nothing between
// its due times, and whoever has a moment (an idle loop, a worker between
// turns) runs what is due. It is a plain data structure: not safe for
// concurrent use, no clock; arming, moving and removing are O(log n).
type TimerQueue[T any] struct {
	heap []*Timer[T]
	seq  uint64
}

// Len returns the number of armed timers.
func (q *TimerQueue[T]) Len() int { return len(q.heap) }

// Arm sets t to be due at at, whether or not it was armed; re-arming moves
// it (and puts it after the timers already due at the same time).
func (q *TimerQueue[T]) Arm(t *Timer[T], at int64) {
	q.seq++
	t.at, t.seq = at, q.seq
	if t.index < 0 {
		t.index = len(q.heap)
		q.heap = append(q.heap, t)
		q.up(t.index)
		return
	}
	if !q.down(t.index) {
		q.up(t.index)
	}
}

// Disarm takes t out of the queue; it does nothing to an unarmed timer.
func (q *TimerQueue[T]) Disarm(t *Timer[T]) {
	if t.index < 0 {
		return
	}
	i, last := t.index, len(q.heap)-1
	if i != last {
		q.swap(i, last)
	}
	q.heap[last] = nil
	q.heap = q.heap[:last]
	t.index = -1
	if i != last {
		if !q.down(i) {
			q.up(i)
		}
	}
}

// Next returns when the earliest armed timer is due; false when none is.
func (q *TimerQueue[T]) Next() (int64, bool) {
	if len(q.heap) == 0 {
		return 0, false
	}
	return q.heap[0].at, true
}

// PopDue takes out and returns the earliest timer due at or before now;
// false when none is.
func (q *TimerQueue[T]) PopDue(now int64) (*Timer[T], bool) {
	if len(q.heap) == 0 || q.heap[0].at > now {
		return nil, false
	}
	t := q.heap[0]
	q.Disarm(t)
	return t, true
}

func (q *TimerQueue[T]) less(i, j int) bool {
	a, b := q.heap[i], q.heap[j]
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

func (q *TimerQueue[T]) swap(i, j int) {
	q.heap[i], q.heap[j] = q.heap[j], q.heap[i]
	q.heap[i].index = i
	q.heap[j].index = j
}

func (q *TimerQueue[T]) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !q.less(j, i) {
			break
		}
		q.swap(i, j)
		j = i
	}
}

// down sifts i down and reports whether it moved.
func (q *TimerQueue[T]) down(i0 int) bool {
	i, n := i0, len(q.heap)
	for {
		j := 2*i + 1
		if j >= n || j < 0 {
			break
		}
		if r := j + 1; r < n && q.less(r, j) {
			j = r
		}
		if !q.less(j, i) {
			break
		}
		q.swap(i, j)
		i = j
	}
	return i > i0
}
