//go:build unix

package runtime

import (
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"syscall"
	"testing"
	"time"

	"github.com/cameo-go/cameo/query"
)

// BenchmarkQueriesAtRest is what a query costs while it has nothing to do:
// n queries (generator → key_by → 500 ms window → discard, over 100
// tenants) whose generators produce one event every 1,000 s, on 2
// workers. It reports the Go heap each query holds (heap-B/query, after a
// GC, less the engine's own) and the CPU the process spends on them at
// rest (cpu-µs/query/s: user and system CPU over a second of rest, per
// query), and the time a submit took (submit-µs/query). Each op is one
// engine with its n queries; run with -benchtime 1x -count N.
func BenchmarkQueriesAtRest(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("queries=%d", n), func(b *testing.B) {
			var heapPer, cpuPer, submitPer float64
			for range b.N {
				h, c, s := queriesAtRest(b, n)
				heapPer, cpuPer, submitPer = heapPer+h, cpuPer+c, submitPer+s
			}
			b.ReportMetric(heapPer/float64(b.N), "heap-B/query")
			b.ReportMetric(cpuPer/float64(b.N), "cpu-µs/query/s")
			b.ReportMetric(submitPer/float64(b.N), "submit-µs/query")
		})
	}
}

func queriesAtRest(b *testing.B, n int) (heapPerQuery, cpuPerQuerySecond, submitPerQuery float64) {
	e, err := New(WithWorkers(2))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			b.Error(err)
		}
	}()
	plans := make([]*query.Plan, n)
	for i := range plans {
		plans[i], err = query.Parse("rest.yaml", fmt.Appendf(nil, `
name: q%d
tenant: t%d
latency_target: 20ms
sources: [{name: s, generator: {rate: 0.001, seed: %d, keys: {count: 50}, fields: {v: {uniform: [1, 100]}}}}]
pipeline:
  - key_by: key
  - window: {tumbling: 500ms}
    aggregate: {n: count(), s: sum(v)}
sink: {discard: {}}
`, i, i%100, i))
		if err != nil {
			b.Fatal(err)
		}
	}
	heap0 := heapInUse()
	b.ResetTimer()
	start := time.Now()
	for _, p := range plans {
		if _, err := e.Submit(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
	submit := time.Since(start)
	time.Sleep(time.Second) // their first events go through
	heap1 := heapInUse()
	cpu0, t0 := processCPUTime(), time.Now()
	time.Sleep(time.Second)
	cpu := processCPUTime() - cpu0
	rest := time.Since(t0)
	b.StopTimer()
	return float64(heap1-heap0) / float64(n), float64(cpu) / 1e3 / rest.Seconds() / float64(n), float64(submit.Microseconds()) / float64(n)
}

func heapInUse() uint64 {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func processCPUTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkSmallQueriesBusy is what an event costs when it belongs to one
// of many small queries: n latency-sensitive queries (generator → filter →
// discard, 20 ms target, over 100 tenants), each at 10 events/s, on 2
// workers, for two seconds after one to settle. It reports the process's
// user and system CPU per event (cpu-µs/event), the share of the results
// within their 20 ms target over those two seconds (met-%; a query's own
// p99 over 20 events is its worst one, so the ratio over all of them is
// the figure that says something), and the allocations per event (allocs/event: the
// process's, over the events). Each op is one engine with its n queries; run with
// -benchtime 1x -count N, and -cpuprofile for where the time goes.
func BenchmarkSmallQueriesBusy(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("queries=%d", n), func(b *testing.B) {
			var cpuPer, allocsPer, met float64
			for range b.N {
				c, a, m := smallQueriesBusy(b, n)
				cpuPer, allocsPer, met = cpuPer+c, allocsPer+a, met+m
			}
			b.ReportMetric(cpuPer/float64(b.N), "cpu-µs/event")
			b.ReportMetric(allocsPer/float64(b.N), "allocs/event")
			b.ReportMetric(met/float64(b.N), "met-%")
		})
	}
}

func smallQueriesBusy(b *testing.B, n int) (cpuPerEvent, allocsPerEvent, metPct float64) {
	e, err := New(WithWorkers(2), WithNodeMemory(-1))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			b.Error(err)
		}
	}()
	qs := make([]*Query, n)
	for i := range qs {
		p, err := query.Parse("busy.yaml", fmt.Appendf(nil, `
name: q%d
tenant: t%d
latency_target: 20ms
sources: [{name: s, generator: {rate: 10, seed: %d, keys: {count: 10}, fields: {v: {uniform: [1, 100]}}}}]
pipeline: [{filter: 'v > 5'}]
sink: {discard: {}}
`, i, i%100, i+1))
		if err != nil {
			b.Fatal(err)
		}
		if qs[i], err = e.Submit(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(time.Second) // to settle
	b.ResetTimer()
	var in0 uint64
	var res0, met0 float64
	for _, q := range qs {
		st := q.Stats()
		in0 += st.EventsIn
		res0 += float64(st.Results)
		met0 += st.MetRatio * float64(st.Results)
	}
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	cpu0, mallocs0 := processCPUTime(), ms.Mallocs
	time.Sleep(busyWindow)
	cpu := processCPUTime() - cpu0
	goruntime.ReadMemStats(&ms)
	mallocs := ms.Mallocs - mallocs0
	if os.Getenv("BUSY_TIMERS") != "" {
		b.Logf("timers: %+v", e.TimerStats())
	}
	var in1 uint64
	var res1, met1 float64
	for _, q := range qs {
		st := q.Stats()
		in1 += st.EventsIn
		res1 += float64(st.Results)
		met1 += st.MetRatio * float64(st.Results)
	}
	b.StopTimer()
	if in1 == in0 {
		b.Fatal("no events went through")
	}
	events := float64(in1 - in0)
	return float64(cpu) / 1e3 / events, float64(mallocs) / events, 100 * (met1 - met0) / max(1, res1-res0)
}

// busyWindow is how long BenchmarkSmallQueriesBusy measures.
var busyWindow = 2 * time.Second
