package priority

// ActorQueue is the level-2 queue of the two-level scheduler: the pending
// messages of one actor, run in order of local priority and then arrival.
// Its Key is the smallest global priority among them: an actor holding an
// urgent message is as urgent as that message, and the messages ahead of it
// in the actor's own order run first (priority inheritance). It is a plain
// data structure: not safe for concurrent use.
type ActorQueue[T any] struct {
	byLocal  []*pending[T]
	byGlobal []*pending[T]
	free     []*pending[T]
	seq      uint64
}

type pending[T any] struct {
	v             T
	local, global int64
	seq           uint64
	li, gi        int
}

// Len returns the number of pending messages.
func (q *ActorQueue[T]) Len() int { return len(q.byLocal) }

// Push adds a message with its local and global priority.
func (q *ActorQueue[T]) Push(v T, local, global int64) {
	var p *pending[T]
	if n := len(q.free); n > 0 {
		p = q.free[n-1]
		q.free = q.free[:n-1]
	} else {
		p = new(pending[T])
	}
	q.seq++
	*p = pending[T]{v: v, local: local, global: global, seq: q.seq, li: len(q.byLocal), gi: len(q.byGlobal)}
	q.byLocal = append(q.byLocal, p)
	q.byGlobal = append(q.byGlobal, p)
	upLocal(q.byLocal, p.li)
	upGlobal(q.byGlobal, p.gi)
}

// Key returns the smallest global priority pending; ok is false when empty.
func (q *ActorQueue[T]) Key() (key int64, ok bool) {
	if len(q.byGlobal) == 0 {
		return 0, false
	}
	return q.byGlobal[0].global, true
}

// PeekLocal returns the local priority of the message that runs next.
func (q *ActorQueue[T]) PeekLocal() (local int64, ok bool) {
	if len(q.byLocal) == 0 {
		return 0, false
	}
	return q.byLocal[0].local, true
}

// Pop removes the message that runs next and returns it with its
// priorities.
func (q *ActorQueue[T]) Pop() (v T, local, global int64, ok bool) {
	if len(q.byLocal) == 0 {
		return v, 0, 0, false
	}
	p := q.byLocal[0]
	q.byLocal = removeAt(q.byLocal, 0, lessLocal[T], setLI[T])
	q.byGlobal = removeAt(q.byGlobal, p.gi, lessGlobal[T], setGI[T])
	v, local, global = p.v, p.local, p.global
	var zero T
	p.v = zero
	q.free = append(q.free, p)
	return v, local, global, true
}

func lessLocal[T any](a, b *pending[T]) bool {
	return a.local < b.local || (a.local == b.local && a.seq < b.seq)
}

func lessGlobal[T any](a, b *pending[T]) bool {
	return a.global < b.global || (a.global == b.global && a.seq < b.seq)
}

func setLI[T any](p *pending[T], i int) { p.li = i }
func setGI[T any](p *pending[T], i int) { p.gi = i }

func upLocal[T any](h []*pending[T], i int)  { siftUp(h, i, lessLocal[T], setLI[T]) }
func upGlobal[T any](h []*pending[T], i int) { siftUp(h, i, lessGlobal[T], setGI[T]) }

func siftUp[T any](h []*pending[T], i int, less func(a, b *pending[T]) bool, set func(*pending[T], int)) {
	for i > 0 {
		p := (i - 1) / 2
		if !less(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		set(h[i], i)
		set(h[p], p)
		i = p
	}
}

func siftDown[T any](h []*pending[T], i int, less func(a, b *pending[T]) bool, set func(*pending[T], int)) bool {
	start, n := i, len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		set(h[i], i)
		set(h[m], m)
		i = m
	}
	return i > start
}

func removeAt[T any](h []*pending[T], i int, less func(a, b *pending[T]) bool, set func(*pending[T], int)) []*pending[T] {
	last := len(h) - 1
	if i != last {
		h[i] = h[last]
		set(h[i], i)
	}
	h[last] = nil
	h = h[:last]
	if i < len(h) {
		if !siftDown(h, i, less, set) {
			siftUp(h, i, less, set)
		}
	}
	return h
}
