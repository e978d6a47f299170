package connector_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// Kafka → filter → key_by → 1 s tumbling count → Kafka through kfake (an
// in-process broker, which costs CPU of its own), against franz-go's own
// consume-then-produce loop over the same records, the limit of anything
// reading and writing through this broker on this machine. One op is one
// record in.
//
//	go test -run XXX -bench Kafka -benchtime 100000x ./connector
func BenchmarkKafka(b *testing.B) {
	const topic = "bench-in"
	setup := func(b *testing.B) (*kfake.Cluster, []string) {
		b.Helper()
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topic, "bench-out"))
		if err != nil {
			b.Fatal(err)
		}
		brokers := c.ListenAddrs()
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		for i := 0; i < b.N; i++ {
			cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, `{"key":"k%d","v":%d}`, i%1000, i%10)}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		cl.Close()
		return c, brokers
	}

	b.Run("engine", func(b *testing.B) {
		c, brokers := setup(b)
		defer c.Close()
		spec := `
name: bench
latency_target: 1s
sources:
  - name: in
    kafka: {brokers: [BROKERS], topics: [` + topic + `], group: bench}
pipeline:
  - filter: v < 7
  - key_by: key
  - window: {tumbling: 1s}
    aggregate: {n: count()}
sink:
  kafka: {brokers: [BROKERS], topic: bench-out}
`
		plan, err := query.Parse("bench.yaml", []byte(strings.ReplaceAll(spec, "BROKERS", strings.Join(brokers, ", "))))
		if err != nil {
			b.Fatal(err)
		}
		eng, err := runtime.New(runtime.WithWorkers(2))
		if err != nil {
			b.Fatal(err)
		}
		defer eng.Stop(context.Background())
		b.ResetTimer()
		start := time.Now()
		q, err := eng.Submit(context.Background(), plan)
		if err != nil {
			b.Fatal(err)
		}
		for q.Stats().EventsRead < uint64(b.N) && q.State() == runtime.StateRunning {
			time.Sleep(time.Millisecond) // polls the query's own count
		}
		if err := eng.Cancel(context.Background(), q.ID()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	})

	b.Run("franz-go", func(b *testing.B) {
		c, brokers := setup(b)
		defer c.Close()
		in, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumerGroup("loop"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			b.Fatal(err)
		}
		defer in.Close()
		out, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("bench-out"), kgo.ProducerLinger(time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		defer out.Close()
		ctx := context.Background()
		b.ResetTimer()
		start := time.Now()
		for n := 0; n < b.N; {
			fs := in.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				n++
				out.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, nil)
			})
		}
		if err := out.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if err := in.CommitUncommittedOffsets(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	})
}
