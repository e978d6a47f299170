package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cameo-go/cameo/query"
)

// BenchmarkPipeline measures the engine's throughput on filter → key_by →
// tumbling count with 2 workers: one op is one event, so ns/op is the cost
// per event (events/s = 1e9 / ns/op, also reported) and allocs/op the
// allocations per event. The generator replays unpaced, as fast as
// backpressure allows; each scheduler runs in the same invocation so that
// they compare on the same machine state.
//
//	go test -run XXX -bench Pipeline -benchmem -count 6 ./runtime | tee new.txt
//	benchstat -col /sched new.txt
func BenchmarkPipeline(b *testing.B) {
	for _, sched := range []string{"cameo", "fifo", "protoactor"} {
		for _, batch := range []int{64, 1024} {
			b.Run(fmt.Sprintf("sched=%s/batch=%d", sched, batch), func(b *testing.B) {
				benchPipeline(b, sched, batch)
			})
		}
	}
}

func benchPipeline(b *testing.B, sched string, batch int) {
	const rate = 1_000_000 // virtual events per second of the schedule
	spec, err := query.Parse("bench.yaml", []byte(fmt.Sprintf(`
name: bench
tenant: bench
latency_target: 1s
parallelism: 2
sources:
  - name: s
    generator: {rate: %d, duration: %dus, seed: 1, keys: {count: 1000}, fields: {level: {choice: [info, warn, error]}, v: {uniform: [0, 100]}}}
pipeline:
  - filter: 'level != "info"'
  - key_by: key
  - window: {tumbling: 100ms}
    aggregate: {n: count()}
sink: {discard: {}}
`, rate, max(b.N, 1))))
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(WithWorkers(2), WithScheduler(sched), WithUnpacedSources(), WithMaxBatch(batch))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	q, err := e.Submit(ctx, spec)
	if err != nil {
		b.Fatal(err)
	}
	if err := q.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if got := q.Stats().EventsIn; got != uint64(b.N) {
		b.Fatalf("%d events in, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if err := e.Stop(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPipelineHandWritten is BenchmarkPipeline's job written by hand,
// the bar the engine's cost per event is measured against: the same events
// (a PCG-seeded generator of 1,000 keys, a level of three choices and an
// int v, 1 µs apart), the same filter, a shuffle by key to two tumbling
// 100 ms counts, results discarded. A goroutine per stage, batches of
// 1,024 typed events over channels, batches recycled: no scheduling
// contexts, no latency accounting, no expressions. Run it beside
// BenchmarkPipeline so that both see the same machine:
//
//	go test -run XXX -bench 'Pipeline(HandWritten)?$' -benchmem -count 6 ./runtime
func BenchmarkPipelineHandWritten(b *testing.B) {
	b.ReportAllocs()
	groups, n := handPipeline(b.N)
	b.StopTimer()
	if n != uint64(b.N) {
		b.Fatalf("%d events reached the filter, want %d", n, b.N)
	}
	if groups == 0 {
		b.Fatal("no window results")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

type handEvent struct {
	at    int64
	key   string
	level string
	v     int
}

// handPipeline runs the hand-written pipeline over n events and returns the
// window results it produced and the events that reached the filter.
func handPipeline(n int) (results, generated uint64) {
	const batch, width = 1024, int64(100 * time.Millisecond)
	free := make(chan []handEvent, 16)
	for range cap(free) {
		free <- make([]handEvent, 0, batch)
	}
	get := func() []handEvent {
		select {
		case s := <-free:
			return s[:0]
		default:
			return make([]handEvent, 0, batch)
		}
	}
	put := func(s []handEvent) {
		select {
		case free <- s:
		default:
		}
	}
	gen := make(chan []handEvent, 4)
	go func() { // the generator
		rng := rand.New(rand.NewPCG(1, 1^0x9e3779b97f4a7c15))
		keys := make([]string, 1000)
		for i := range keys {
			keys[i] = "k" + strconv.Itoa(i)
		}
		levels := []string{"info", "warn", "error"}
		out := get()
		for i := range n {
			out = append(out, handEvent{at: int64(i) * 1000, key: keys[rng.IntN(len(keys))], level: levels[int(rng.Float64()*3)], v: int(rng.Int64N(101))})
			if len(out) == batch {
				gen <- out
				out = get()
			}
		}
		if len(out) > 0 {
			gen <- out
		}
		close(gen)
	}()
	var shards [2]chan []handEvent
	for i := range shards {
		shards[i] = make(chan []handEvent, 4)
	}
	var seen, passed, counted atomic.Uint64
	go func() { // filter, then key_by: split by the key's hash
		var outs [2][]handEvent
		for i := range outs {
			outs[i] = get()
		}
		var in, kept uint64
		for b := range gen {
			in += uint64(len(b))
			for _, ev := range b {
				if ev.level == "info" {
					continue
				}
				kept++
				h := uint32(2166136261) // FNV-1a
				for j := 0; j < len(ev.key); j++ {
					h = (h ^ uint32(ev.key[j])) * 16777619
				}
				s := h % 2
				if outs[s] = append(outs[s], ev); len(outs[s]) == batch {
					shards[s] <- outs[s]
					outs[s] = get()
				}
			}
			put(b)
		}
		seen.Store(in) // before the close, which the window stages' end waits on
		passed.Store(kept)
		for i, o := range outs {
			if len(o) > 0 {
				shards[i] <- o
			}
			close(shards[i])
		}
	}()
	var wg sync.WaitGroup
	var total atomic.Uint64
	for i := range shards {
		wg.Add(1)
		go func() { // a tumbling count per key, fired on the first event past its end
			defer wg.Done()
			counts := map[string]int64{}
			cur, fired, events := int64(-1), uint64(0), uint64(0)
			fire := func() {
				fired += uint64(len(counts))
				clear(counts)
			}
			for in := range shards[i] {
				for _, ev := range in {
					if w := ev.at / width; w != cur {
						fire()
						cur = w
					}
					counts[ev.key]++
				}
				events += uint64(len(in))
				put(in)
			}
			fire()
			total.Add(fired)
			counted.Add(events)
		}()
	}
	wg.Wait()
	if counted.Load() != passed.Load() {
		panic(fmt.Sprintf("hand-written pipeline: %d events counted, %d passed the filter", counted.Load(), passed.Load()))
	}
	return total.Load(), seen.Load()
}
