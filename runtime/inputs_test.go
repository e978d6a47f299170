package runtime

import (
	"math"
	"testing"

	"github.com/cameo-go/cameo/query"
)

// Marks of an edge take effect in the order they were sent, whatever the
// order their messages ran in.
func TestInputsApplyMarksInSendOrder(t *testing.T) {
	in := newInputs(2)
	in.apply(1, 0, mark{wm: 50})
	in.apply(0, 2, mark{wm: 30}) // ran before seq 0 and 1
	if got := in.current(); got != query.NoWatermark {
		t.Fatalf("input 0 has applied nothing yet, watermark %d", got)
	}
	in.apply(0, 0, mark{wm: 10})
	if got := in.current(); got != 10 {
		t.Fatalf("after seq 0: %d, want 10", got)
	}
	in.apply(0, 1, mark{wm: 20})
	if got := in.current(); got != 30 {
		t.Fatalf("after seq 1 (and the pending 2): %d, want 30", got)
	}
	in.apply(1, 1, mark{wm: 40}) // a watermark never goes back
	if got := in.current(); got != 30 {
		t.Fatalf("min(30, 50): %d", got)
	}
}

func TestInputsIdleAndClosed(t *testing.T) {
	in := newInputs(3)
	in.apply(0, 0, mark{wm: 100})
	in.apply(1, 0, mark{wm: 40, idle: true})
	in.apply(2, 0, mark{wm: 70})
	if got := in.current(); got != 70 {
		t.Fatalf("idle input 1 holds back: %d, want 70", got)
	}
	in.apply(0, 1, mark{wm: 100, idle: true})
	in.apply(2, 1, mark{wm: 70, idle: true})
	if got := in.current(); got != 100 || !in.idle() {
		t.Fatalf("all idle: %d (idle %v), want the furthest, 100", got, in.idle())
	}
	in.apply(1, 1, mark{wm: 45}) // input 1 is back
	if got := in.current(); got != 45 || in.idle() {
		t.Fatalf("input 1 active again: %d", got)
	}
	for i := range 3 {
		in.apply(i, 2, mark{wm: 45, closed: true})
	}
	if got := in.current(); got != math.MaxInt64 || !in.closed() {
		t.Fatalf("all closed: %d closed %v", got, in.closed())
	}
}
