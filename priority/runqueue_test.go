package priority

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestRunQueueTrace drives the run queue with explicit operations and
// compares the recorded pop order with testdata/runqueue.golden.
func TestRunQueueTrace(t *testing.T) {
	var q RunQueue[string]
	e := map[string]*Entry[string]{}
	for _, n := range []string{"a", "b", "c", "d", "sys"} {
		e[n] = NewEntry(n)
	}
	var b strings.Builder
	pop := func() {
		k, _ := q.Peek()
		x, sys, ok := q.Pop()
		if !ok {
			fmt.Fprintln(&b, "pop: empty")
			return
		}
		fmt.Fprintf(&b, "pop %s (peek %d, system lane %v)\n", x.Value, k, sys)
	}
	q.Push(e["a"], 30)
	q.Push(e["b"], 10)
	q.Push(e["c"], 10) // tie with b: b was queued first
	q.Push(e["d"], 20)
	pop()              // b
	q.Rekey(e["a"], 5) // a becomes most urgent
	q.PushSystem(e["sys"])
	pop()                // sys bypasses the order
	pop()                // a
	q.Rekey(e["c"], 25)  // c falls behind d
	pop()                // d
	q.Push(e["b"], 25)   // b ties with c, but c has waited longer
	pop()                // c
	q.PushSystem(e["b"]) // b gets a system message while queued
	pop()                // b
	pop()                // empty
	golden(t, "runqueue.golden", b.String())
}

// naiveRQ is the reference: a slice sorted on every pop.
type naiveRQ struct {
	items []naiveItem
	seq   int
}

type naiveItem struct {
	id, seq int
	key     int64
	system  bool
}

func (n *naiveRQ) find(id int) int {
	return slices.IndexFunc(n.items, func(x naiveItem) bool { return x.id == id })
}

func (n *naiveRQ) pop() (int, bool) {
	if len(n.items) == 0 {
		return 0, false
	}
	best := 0
	for i, x := range n.items {
		b := n.items[best]
		switch {
		case x.system != b.system:
			if x.system {
				best = i
			}
		case x.system:
			if x.seq < b.seq {
				best = i
			}
		case x.key < b.key || (x.key == b.key && x.seq < b.seq):
			best = i
		}
	}
	id := n.items[best].id
	n.items = slices.Delete(n.items, best, best+1)
	return id, true
}

func TestRunQueueMatchesReference(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		var q RunQueue[int]
		var ref naiveRQ
		entries := make([]*Entry[int], 16)
		for i := range entries {
			entries[i] = NewEntry(i)
		}
		for step := 0; step < 400; step++ {
			id := r.IntN(len(entries))
			e := entries[id]
			key := r.Int64N(20) // small range: many ties
			switch op := r.IntN(10); {
			case op < 4 && !e.Queued():
				q.Push(e, key)
				ref.seq++
				ref.items = append(ref.items, naiveItem{id: id, seq: ref.seq, key: key})
			case op < 6 && e.Queued():
				q.Rekey(e, key)
				ref.items[ref.find(id)].key = key
			case op < 7:
				q.PushSystem(e)
				if i := ref.find(id); i < 0 || !ref.items[i].system {
					if i >= 0 {
						ref.items = slices.Delete(ref.items, i, i+1)
					}
					ref.seq++
					ref.items = append(ref.items, naiveItem{id: id, seq: ref.seq, key: key, system: true})
				}
			default:
				got, _, ok := q.Pop()
				want, wok := ref.pop()
				if ok != wok || (ok && got.Value != want) {
					t.Fatalf("seed %d step %d: pop = %v,%v want %v,%v", seed, step, got, ok, want, wok)
				}
			}
			if q.Len() != len(ref.items) {
				t.Fatalf("seed %d step %d: len %d want %d", seed, step, q.Len(), len(ref.items))
			}
		}
	}
}

func TestActorQueueMatchesReference(t *testing.T) {
	type msg struct {
		id            int
		local, global int64
	}
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 2))
		var q ActorQueue[int]
		var ref []msg // in arrival order
		next := 0
		for step := 0; step < 300; step++ {
			if r.IntN(3) < 2 {
				m := msg{id: next, local: r.Int64N(4), global: r.Int64N(50)}
				next++
				q.Push(m.id, m.local, m.global)
				ref = append(ref, m)
			} else {
				v, local, global, ok := q.Pop()
				if !ok {
					if len(ref) != 0 {
						t.Fatalf("seed %d: empty pop with %d pending", seed, len(ref))
					}
					continue
				}
				// reference: smallest local, then earliest arrival
				best := 0
				for i, m := range ref {
					if m.local < ref[best].local {
						best = i
					}
				}
				w := ref[best]
				ref = slices.Delete(ref, best, best+1)
				if v != w.id || local != w.local || global != w.global {
					t.Fatalf("seed %d step %d: pop %d(%d,%d) want %d(%d,%d)", seed, step, v, local, global, w.id, w.local, w.global)
				}
			}
			key, ok := q.Key()
			if ok != (len(ref) > 0) {
				t.Fatalf("seed %d: Key ok=%v with %d pending", seed, ok, len(ref))
			}
			if ok {
				want := ref[0].global
				for _, m := range ref {
					want = min(want, m.global)
				}
				if key != want {
					t.Fatalf("seed %d step %d: key %d want %d", seed, step, key, want)
				}
			}
		}
	}
}
