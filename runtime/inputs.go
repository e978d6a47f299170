package runtime

import (
	"math"

	"github.com/cameo-go/cameo/query"
)

// mark is what a message says of its edge's progress.
type mark struct {
	wm           int64
	idle, closed bool
}

// inputs tracks the watermark marks of an operator instance's inputs,
// applying each edge's marks in the order they were sent (see batch). The
// instance's watermark is the smallest over its open inputs that are not
// idle; when every open input is idle, the furthest sets the pace; when
// every input is closed it is math.MaxInt64, which fires every window.
// Not safe for concurrent use (an actor owns it).
type inputs struct {
	in []inputState
}

type inputState struct {
	mark
	next    uint64          // the next seq to apply
	pending map[uint64]mark // marks of messages processed ahead of an earlier one
}

func newInputs(n int) *inputs {
	t := &inputs{in: make([]inputState, n)}
	for i := range t.in {
		t.in[i].wm = query.NoWatermark
	}
	return t
}

// apply records message seq of input i with its mark.
func (t *inputs) apply(i int, seq uint64, m mark) {
	in := &t.in[i]
	if seq != in.next {
		if in.pending == nil {
			in.pending = map[uint64]mark{}
		}
		in.pending[seq] = m
		return
	}
	for {
		in.wm = max(in.wm, m.wm)
		in.idle, in.closed = m.idle, m.closed
		in.next++
		var ok bool
		if m, ok = in.pending[in.next]; !ok {
			return
		}
		delete(in.pending, in.next)
	}
}

// current returns the instance's watermark.
func (t *inputs) current() int64 {
	wm, active, idleMax, anyIdle := int64(math.MaxInt64), 0, query.NoWatermark, false
	for i := range t.in {
		in := &t.in[i]
		switch {
		case in.closed:
		case in.idle:
			anyIdle = true
			idleMax = max(idleMax, in.wm)
		default:
			active++
			wm = min(wm, in.wm)
		}
	}
	switch {
	case active > 0:
		return wm
	case anyIdle:
		return idleMax
	}
	return math.MaxInt64
}

// idle reports that every open input is idle (and one is open).
func (t *inputs) idle() bool {
	idle := false
	for i := range t.in {
		switch in := &t.in[i]; {
		case in.closed:
		case !in.idle:
			return false
		default:
			idle = true
		}
	}
	return idle
}

// closed reports that every input ended.
func (t *inputs) closed() bool {
	for i := range t.in {
		if !t.in[i].closed {
			return false
		}
	}
	return true
}
