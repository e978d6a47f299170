package runtime

import (
	"context"
	"fmt"
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
