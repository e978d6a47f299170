package priority

// ActorQueue is the level-2 queue of the two-level scheduler: the pending
// messages of one actor, run in order of local priority and then arrival.
// Its Key is the smallest global priority among them: an actor holding an
// urgent message is as urgent as that message, and the messages ahead of it
// in the actor's own order run first (priority inheritance).
//
// Messages are kept in one FIFO bucket per distinct local priority (the
// prototype's LocalPriority → queue map), buckets sorted by local priority.
// Each bucket keeps a monotonic deque of its global priorities, so its
// minimum is at hand. Push and Pop are amortised O(1) in the number of
// messages, and Key is O(buckets); buckets are the windows an actor has
// pending, a handful in practice. (A pair of heaps was the first version:
// under a backlog of 10⁶ messages its sifting was 60% of a fan-in
// benchmark's CPU.) It is a plain data structure: not safe for concurrent
// use.
type ActorQueue[T any] struct {
	buckets []*bucket[T] // sorted by local
	free    []*bucket[T]
	n       int
}

type bucket[T any] struct {
	local          int64
	items          ring[item[T]]
	mins           ring[minEntry] // global priorities ascending, front is the minimum
	pushed, popped uint64         // items ever pushed to and popped from this bucket
}

type item[T any] struct {
	v      T
	global int64
}

type minEntry struct {
	global int64
	index  uint64 // the item's push number in its bucket
}

// Len returns the number of pending messages.
func (q *ActorQueue[T]) Len() int { return q.n }

// Push adds a message with its local and global priority.
func (q *ActorQueue[T]) Push(v T, local, global int64) {
	b := q.bucketFor(local)
	b.items.pushBack(item[T]{v: v, global: global})
	for b.mins.len() > 0 && b.mins.back().global > global {
		b.mins.popBack()
	}
	b.mins.pushBack(minEntry{global: global, index: b.pushed})
	b.pushed++
	q.n++
}

func (q *ActorQueue[T]) bucketFor(local int64) *bucket[T] {
	// Most pushes go to the newest window: look from the back.
	i := len(q.buckets)
	for i > 0 && q.buckets[i-1].local > local {
		i--
	}
	if i > 0 && q.buckets[i-1].local == local {
		return q.buckets[i-1]
	}
	var b *bucket[T]
	if n := len(q.free); n > 0 {
		b, q.free = q.free[n-1], q.free[:n-1]
	} else {
		b = new(bucket[T])
	}
	b.local = local
	q.buckets = append(q.buckets, nil)
	copy(q.buckets[i+1:], q.buckets[i:])
	q.buckets[i] = b
	return b
}

// Key returns the smallest global priority pending; ok is false when empty.
func (q *ActorQueue[T]) Key() (key int64, ok bool) {
	for _, b := range q.buckets {
		g := b.mins.front().global
		if !ok || g < key {
			key, ok = g, true
		}
	}
	return key, ok
}

// PeekLocal returns the local priority of the message that runs next.
func (q *ActorQueue[T]) PeekLocal() (local int64, ok bool) {
	if len(q.buckets) == 0 {
		return 0, false
	}
	return q.buckets[0].local, true
}

// Pop removes the message that runs next and returns it with its
// priorities.
func (q *ActorQueue[T]) Pop() (v T, local, global int64, ok bool) {
	if len(q.buckets) == 0 {
		return v, 0, 0, false
	}
	b := q.buckets[0]
	it := b.items.popFront()
	if b.mins.front().index == b.popped {
		b.mins.popFront()
	}
	b.popped++
	q.n--
	if b.items.len() == 0 {
		copy(q.buckets, q.buckets[1:])
		q.buckets[len(q.buckets)-1] = nil
		q.buckets = q.buckets[:len(q.buckets)-1]
		b.mins.reset()
		b.pushed, b.popped = 0, 0
		q.free = append(q.free, b)
	}
	return it.v, b.local, it.global, true
}

// ring is a growable FIFO/deque over a power-of-two buffer.
type ring[E any] struct {
	buf        []E
	head, size int
}

func (r *ring[E]) len() int { return r.size }

func (r *ring[E]) grow() {
	n := max(8, 2*len(r.buf))
	buf := make([]E, n)
	for i := range r.size {
		buf[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
	}
	r.buf, r.head = buf, 0
}

func (r *ring[E]) pushBack(e E) {
	if r.size == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.size)&(len(r.buf)-1)] = e
	r.size++
}

func (r *ring[E]) front() E { return r.buf[r.head] }

func (r *ring[E]) back() E { return r.buf[(r.head+r.size-1)&(len(r.buf)-1)] }

func (r *ring[E]) popFront() E {
	var zero E
	e := r.buf[r.head]
	r.buf[r.head] = zero
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.size--
	return e
}

func (r *ring[E]) popBack() {
	var zero E
	r.buf[(r.head+r.size-1)&(len(r.buf)-1)] = zero
	r.size--
}

func (r *ring[E]) reset() {
	clear(r.buf)
	r.head, r.size = 0, 0
}
