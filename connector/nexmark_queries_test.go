package connector_test

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/connector"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// perBid makes a query's reference from what it gives for each bid (nil:
// nothing).
func perBid(f func(bid map[string]any) map[string]any) func([]query.Event) map[string]int {
	return func(bids []query.Event) map[string]int {
		out := map[string]int{}
		for _, b := range bids {
			if r := f(b.Fields); r != nil {
				out[canon(r)]++
			}
		}
		return out
	}
}

// nexmarkQueries are the examples/nexmark queries with their references,
// computed here from the generator's bids without the engine: each
// result, canonical, with how many times it comes.
var nexmarkQueries = []struct {
	file string
	ref  func(bids []query.Event) map[string]int
}{
	{"q0", perBid(func(b map[string]any) map[string]any {
		return map[string]any{"auction": b["auction"], "bidder": b["bidder"], "price": b["price"], "date_time": b["date_time"], "extra": b["extra"]}
	})},
	{"q1", perBid(func(b map[string]any) map[string]any {
		return map[string]any{"auction": b["auction"], "bidder": b["bidder"], "price": 0.908 * float64(b["price"].(int)), "date_time": b["date_time"], "extra": b["extra"]}
	})},
	{"q2", perBid(func(b map[string]any) map[string]any {
		if b["auction"].(int)%123 != 0 {
			return nil
		}
		return map[string]any{"auction": b["auction"], "price": b["price"]}
	})},
	{"q7", func(bids []query.Event) map[string]int {
		// Each 10 s window's highest price; on a tie, the earliest bid.
		const size = int64(10 * time.Second)
		best := map[int64]query.Event{}
		for _, b := range bids {
			w := b.EventTime / size
			cur, ok := best[w]
			p, cp := b.Fields["price"].(int), 0
			if ok {
				cp = cur.Fields["price"].(int)
			}
			if !ok || p > cp || p == cp && b.EventTime < cur.EventTime {
				best[w] = b
			}
		}
		out := map[string]int{}
		for w, b := range best {
			f := b.Fields
			out[canon(map[string]any{"auction": f["auction"], "price": f["price"], "bidder": f["bidder"], "date_time": f["date_time"], "extra": f["extra"], "window_end": (w + 1) * size})]++
		}
		return out
	}},
	{"q11", func(bids []query.Event) map[string]int {
		// Per bidder, its bids in time order, cut where two are 10 s or
		// more apart.
		const gap = int64(10 * time.Second)
		times := map[int][]int64{}
		for _, b := range bids {
			times[b.Fields["bidder"].(int)] = append(times[b.Fields["bidder"].(int)], b.EventTime)
		}
		out := map[string]int{}
		for _, ts := range times {
			slices.Sort(ts)
			start, n := ts[0], 1
			for i := 1; i <= len(ts); i++ {
				if i == len(ts) || ts[i]-ts[i-1] >= gap {
					out[canon(map[string]any{"bid_count": n, "window_start": start, "window_end": ts[i-1] + gap})]++
					if i < len(ts) {
						start, n = ts[i], 0
					}
				}
				n++
			}
		}
		return out
	}},
}

// canon is a result's fields as text, numbers as floats rounded to 1e-9
// (the engine and the reference may differ in int or float).
func canon(f map[string]any) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := ""
	for _, k := range keys {
		v := f[k]
		switch x := v.(type) {
		case int:
			v = float64(x)
		case int64:
			v = float64(x)
		}
		if x, ok := v.(float64); ok {
			v = math.Round(x*1e9) / 1e9
		}
		s += fmt.Sprintf("%s=%v;", k, v)
	}
	return s
}

// Each NEXMark example gives, under every scheduler, exactly its
// reference's results over the first 20,000 events of a seed, in order and
// out of order (every result included: the source ends, so every window
// fires).
func TestNexmarkQueriesMatchTheirReferences(t *testing.T) {
	for _, qq := range nexmarkQueries {
		plan, err := query.ParseFile("../examples/nexmark/" + qq.file + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		for _, group := range []int{1, 16} {
			spec := plan.Spec()
			nx := spec.Sources[0].Input.(*connector.Nexmark)
			// 20 s of event time: windows of 10 s fire, sessions of 10 s end.
			nx.Events, nx.Duration, nx.Rate, nx.Seed, nx.Group, nx.BaseTime = 20_000, 0, 1000, 42, group, 1_700_000_000_000
			// The reference: the same stream, read without the engine.
			in, err := connector.OpenInput(nx, &connector.Env{Unpaced: true, MaxBatch: 1024})
			if err != nil {
				t.Fatal(err)
			}
			var bids []query.Event
			for done := false; !done; {
				var evs []query.Event
				evs, done, err = in.Read(0, 1024, nil)
				if err != nil {
					t.Fatal(err)
				}
				bids = append(bids, evs...)
			}
			want := qq.ref(bids)
			for _, sched := range actors.SchedulerNames() {
				var mu sync.Mutex
				got := map[string]int{}
				spec.Sink = query.Sink{Output: query.SinkFunc(func(results []query.Event) error {
					mu.Lock()
					defer mu.Unlock()
					for _, r := range results {
						got[canon(r.Fields)]++
					}
					return nil
				})}
				p, err := query.Compile(spec)
				if err != nil {
					t.Fatal(err)
				}
				_, q := startQuery(t, p, runtime.WithWorkers(2), runtime.WithScheduler(sched), runtime.WithUnpacedSources())
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if err := q.Wait(ctx); err != nil {
					t.Fatalf("%s, %s: %v", qq.file, sched, err)
				}
				cancel()
				mu.Lock()
				if !maps.Equal(got, want) {
					for k, n := range want {
						if got[k] != n {
							t.Errorf("want %s ×%d, got ×%d", k, n, got[k])
							break
						}
					}
					t.Fatalf("%s, group %d, %s: %d distinct results, want %d", qq.file, group, sched, len(got), len(want))
				}
				mu.Unlock()
				if st := q.Stats(); st.Dropped != 0 || st.Late != 0 {
					t.Fatalf("%s, %s: dropped %d, late %d", qq.file, sched, st.Dropped, st.Late)
				}
			}
		}
	}
}
