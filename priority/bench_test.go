package priority

import (
	"fmt"
	"testing"
)

// BenchmarkQueues compares one scheduling step (take the head, charge it,
// put it back with a new key) on the flat RunQueue and on the ShareQueue:
// with every actor in one leaf (no tenants: the default), and with actors
// spread over 100 tenants and one leaf per 10 actors (the hierarchy).
func BenchmarkQueues(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("queue=flat/actors=%d", n), func(b *testing.B) {
			var q RunQueue[int]
			es := make([]*Entry[int], n)
			for i := range es {
				es[i] = NewEntry(i)
				q.Push(es[i], int64(i*7919%n))
			}
			b.ResetTimer()
			for i := range b.N {
				e, _, _ := q.Pop()
				q.Push(e, int64(n+i))
			}
		})
		for _, shape := range []string{"one-leaf", "tenants"} {
			b.Run(fmt.Sprintf("queue=%s/actors=%d", shape, n), func(b *testing.B) {
				q, _ := NewShareQueue[int](ShareConfig{})
				leaf, _ := q.NewLeaf(nil, "all", 1, 0)
				var tenants []*Group[int]
				if shape == "tenants" {
					for t := range 100 {
						g, _ := q.NewGroup(nil, fmt.Sprint("t", t), float64(1+t%4))
						tenants = append(tenants, g)
					}
				}
				es := make([]*Entry[int], n)
				for i := range es {
					l := leaf
					if shape == "tenants" && i%10 == 0 {
						leaf, _ = q.NewLeaf(tenants[(i/10)%100], fmt.Sprint("q", i/10), 1, 1e9)
						l = leaf
					}
					es[i] = NewEntryIn(i, l)
					q.Push(es[i], int64(i*7919%n))
				}
				b.ResetTimer()
				for i := range b.N {
					e, _, _ := q.Pop(int64(i))
					q.Charge(e, 20_000+int64(i%7)*1000)
					q.Push(e, int64(n+i))
					q.Done(e)
				}
			})
		}
	}
}
