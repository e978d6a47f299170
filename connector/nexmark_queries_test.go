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
			if r := f(b.Fields.Map()); r != nil {
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
	// got, when set, is what a result counts as (its canonical form and
	// how many): for results whose windows follow processing time.
	got func(result map[string]any) (string, int)
}{
	{file: "q0", ref: perBid(func(b map[string]any) map[string]any {
		return map[string]any{"auction": b["auction"], "bidder": b["bidder"], "price": b["price"], "date_time": b["date_time"], "extra": b["extra"]}
	})},
	{file: "q1", ref: perBid(func(b map[string]any) map[string]any {
		return map[string]any{"auction": b["auction"], "bidder": b["bidder"], "price": 0.908 * float64(b["price"].(int)), "date_time": b["date_time"], "extra": b["extra"]}
	})},
	{file: "q2", ref: perBid(func(b map[string]any) map[string]any {
		if b["auction"].(int)%123 != 0 {
			return nil
		}
		return map[string]any{"auction": b["auction"], "price": b["price"]}
	})},
	{file: "q3", ref: func(events []query.Event) map[string]int {
		// Auctions of category 10 with their seller, when the seller is
		// in OR, ID or CA and registered within 5 s of the auction.
		const within = int64(5 * time.Second)
		persons := map[int]query.Event{}
		for _, ev := range events {
			if ev.Fields.Get("type") == "person" {
				persons[ev.Fields.Get("id").(int)] = ev
			}
		}
		out := map[string]int{}
		for _, a := range events {
			if a.Fields.Get("type") != "auction" || a.Fields.Get("category") != 10 {
				continue
			}
			p, ok := persons[a.Fields.Get("seller").(int)]
			if d := a.EventTime - p.EventTime; !ok || d > within || -d > within {
				continue
			}
			if st := p.Fields.Get("state"); st == "OR" || st == "ID" || st == "CA" {
				out[canon(map[string]any{"name": p.Fields.Get("name"), "city": p.Fields.Get("city"), "state": st, "id": a.Fields.Get("id")})]++
			}
		}
		return out
	}},
	{file: "q5", ref: func(bids []query.Event) map[string]int {
		// Each sliding window [2k s, 2k s + 10 s): bids per auction, then
		// the largest count; on a tie the smaller auction id as text.
		const slide, size = int64(2 * time.Second), int64(10 * time.Second)
		counts := map[int64]map[int]int{} // window end → auction → bids
		for _, b := range bids {
			for k := (b.EventTime-size)/slide + 1; k <= b.EventTime/slide; k++ {
				end := k*slide + size
				if counts[end] == nil {
					counts[end] = map[int]int{}
				}
				counts[end][b.Fields.Get("auction").(int)]++
			}
		}
		out := map[string]int{}
		for end, byAuction := range counts {
			best, bestN := 0, -1
			for a, n := range byAuction {
				if n > bestN || n == bestN && fmt.Sprint(a) < fmt.Sprint(best) {
					best, bestN = a, n
				}
			}
			// The 2 s tumbling window holding the sliding window's
			// results (their time is its end - 1 ns) ends at its end.
			out[canon(map[string]any{"auction": best, "num": bestN, "window_end": end})]++
		}
		return out
	}},
	{file: "q7", ref: func(bids []query.Event) map[string]int {
		// Each 10 s window's highest price; on a tie, the earliest bid.
		const size = int64(10 * time.Second)
		best := map[int64]query.Event{}
		for _, b := range bids {
			w := b.EventTime / size
			cur, ok := best[w]
			p, cp := b.Fields.Get("price").(int), 0
			if ok {
				cp = cur.Fields.Get("price").(int)
			}
			if !ok || p > cp || p == cp && b.EventTime < cur.EventTime {
				best[w] = b
			}
		}
		out := map[string]int{}
		for w, b := range best {
			f := b.Fields.Map()
			out[canon(map[string]any{"auction": f["auction"], "price": f["price"], "bidder": f["bidder"], "date_time": f["date_time"], "extra": f["extra"], "window_end": (w + 1) * size})]++
		}
		return out
	}},
	{file: "q8", ref: func(events []query.Event) map[string]int {
		// Persons and auctions in the same 10 s window with id = seller:
		// one row per person and window.
		const size = int64(10 * time.Second)
		type pw struct {
			id int
			w  int64
		}
		names := map[pw]string{}
		sold := map[pw]bool{}
		for _, ev := range events {
			w := ev.EventTime / size
			switch ev.Fields.Get("type") {
			case "person":
				names[pw{ev.Fields.Get("id").(int), w}] = ev.Fields.Get("name").(string)
			case "auction":
				sold[pw{ev.Fields.Get("seller").(int), w}] = true
			}
		}
		out := map[string]int{}
		for k, name := range names {
			if sold[k] {
				out[canon(map[string]any{"id": k.id, "name": name, "starttime": k.w * size})]++
			}
		}
		return out
	}},
	{file: "q12", ref: func(bids []query.Event) map[string]int {
		// Windows of processing time: only each bidder's total is the
		// same from run to run.
		out := map[string]int{}
		for _, b := range bids {
			out[canon(map[string]any{"bidder": b.Fields.Get("bidder")})]++
		}
		return out
	}, got: func(r map[string]any) (string, int) {
		return canon(map[string]any{"bidder": r["bidder"]}), int(r["bid_count"].(int64))
	}},
	{file: "q11", ref: func(bids []query.Event) map[string]int {
		// Per bidder, its bids in time order, cut where two are 10 s or
		// more apart.
		const gap = int64(10 * time.Second)
		times := map[int][]int64{}
		for _, b := range bids {
			times[b.Fields.Get("bidder").(int)] = append(times[b.Fields.Get("bidder").(int)], b.EventTime)
		}
		out := map[string]int{}
		for bidder, ts := range times {
			slices.Sort(ts)
			start, n := ts[0], 1
			for i := 1; i <= len(ts); i++ {
				if i == len(ts) || ts[i]-ts[i-1] >= gap {
					out[canon(map[string]any{"bidder": bidder, "bid_count": n, "window_start": start, "window_end": ts[i-1] + gap})]++
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
			// The reference reads the same streams without the engine.
			var bids []query.Event
			for _, src := range spec.Sources {
				if src.EventTime != nil {
					src.EventTime.MaxOutOfOrder = time.Second // the out-of-order groups' disorder, and more
				}
				nx := src.Input.(*connector.Nexmark)
				// 40 s of event time: windows of 10 s fire, sessions of 10 s end.
				nx.Events, nx.Duration, nx.Rate, nx.Seed, nx.Group, nx.BaseTime = 20_000, 0, 500, 42, group, 1_700_000_000_000
				in, err := connector.OpenInput(nx, &connector.Env{Unpaced: true, MaxBatch: 1024})
				if err != nil {
					t.Fatal(err)
				}
				for done := false; !done; {
					var evs []query.Event
					evs, done, err = in.Read(0, 1024, nil)
					if err != nil {
						t.Fatal(err)
					}
					bids = append(bids, evs...)
				}
			}
			want := qq.ref(bids)
			if len(want) < 3 {
				t.Fatalf("%s: the reference has %d results: the test would show little", qq.file, len(want))
			}
			for _, sched := range actors.SchedulerNames() {
				var mu sync.Mutex
				got := map[string]int{}
				spec.Sink = query.Sink{Output: query.SinkFunc(func(results []query.Event) error {
					mu.Lock()
					defer mu.Unlock()
					for _, r := range results {
						if qq.got != nil {
							k, n := qq.got(r.Fields.Map())
							got[k] += n
							continue
						}
						got[canon(r.Fields.Map())]++
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
