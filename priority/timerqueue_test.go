package priority

import (
	"math/rand/v2"
	"testing"
)

// TestTimerQueueMatchesReference drives the heap and a naive list of
// (due, armed order) pairs with the same random arms, moves, disarms and
// pops, and compares every pop and length.
func TestTimerQueueMatchesReference(t *testing.T) {
	type ref struct {
		at, seq int64
		armed   bool
	}
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 2))
		var q TimerQueue[int]
		timers := make([]*Timer[int], 24)
		refs := make([]ref, len(timers))
		for i := range timers {
			timers[i] = NewTimer(i)
		}
		var seq int64
		now := int64(0)
		armed := func() int {
			n := 0
			for _, x := range refs {
				if x.armed {
					n++
				}
			}
			return n
		}
		for step := 0; step < 600; step++ {
			id := r.IntN(len(timers))
			switch op := r.IntN(10); {
			case op < 5:
				at := now + r.Int64N(30) - 5 // some already due, many ties
				q.Arm(timers[id], at)
				seq++
				refs[id] = ref{at: at, seq: seq, armed: true}
			case op < 6:
				q.Disarm(timers[id])
				refs[id].armed = false
			case op < 7:
				now += r.Int64N(10)
			default:
				got, ok := q.PopDue(now)
				want := -1
				for i, x := range refs {
					if x.armed && x.at <= now && (want < 0 || x.at < refs[want].at || x.at == refs[want].at && x.seq < refs[want].seq) {
						want = i
					}
				}
				switch {
				case ok != (want >= 0):
					t.Fatalf("seed %d step %d: pop ok %v, want %d", seed, step, ok, want)
				case ok && got.Value != want:
					t.Fatalf("seed %d step %d: popped %d (at %d), want %d (at %d)", seed, step, got.Value, got.At(), want, refs[want].at)
				case ok:
					refs[want].armed = false
					if got.Armed() {
						t.Fatalf("seed %d step %d: a popped timer is still armed", seed, step)
					}
				}
			}
			if q.Len() != armed() {
				t.Fatalf("seed %d step %d: len %d want %d", seed, step, q.Len(), armed())
			}
			if next, ok := q.Next(); ok {
				for i, x := range refs {
					if x.armed && x.at < next {
						t.Fatalf("seed %d step %d: next %d but timer %d is due at %d", seed, step, next, i, x.at)
					}
				}
			} else if armed() > 0 {
				t.Fatalf("seed %d step %d: no next with %d armed", seed, step, armed())
			}
		}
	}
}

func TestTimerQueueTiesInArmingOrder(t *testing.T) {
	var q TimerQueue[string]
	a, b, c := NewTimer("a"), NewTimer("b"), NewTimer("c")
	q.Arm(a, 10)
	q.Arm(b, 10)
	q.Arm(c, 5)
	q.Arm(c, 10) // moved later: after a and b
	var got []string
	for {
		x, ok := q.PopDue(10)
		if !ok {
			break
		}
		got = append(got, x.Value)
	}
	if len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("order %v, want [a b c]", got)
	}
	if _, ok := q.PopDue(1 << 62); ok {
		t.Fatal("popped from an empty queue")
	}
	q.Disarm(a) // unarmed: nothing happens
}
