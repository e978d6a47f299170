package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// connectorSpec counts clicks per page in 100 ms windows, from the source
// given to the sink given.
func connectorSpec(source, sink string) string {
	return `
name: clicks
latency_target: 1s
sources:
  - name: in
    ` + source + `
pipeline:
  - key_by: page
  - window: {tumbling: 100ms}
    aggregate: {n: count()}
sink: ` + sink + "\n"
}

// runConnectorSpec runs spec with `cameo run` for long enough to read
// everything, and returns the summary's query.
func runConnectorSpec(t *testing.T, spec string) map[string]any {
	t.Helper()
	dir := t.TempDir()
	file, summary := filepath.Join(dir, "spec.yaml"), filepath.Join(dir, "sum.json")
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "run", "-q", "--workers", "2", "--duration", "1500ms", "--summary", summary, file)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	data, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Queries []map[string]any `json:"queries"`
	}
	if err := json.Unmarshal(data, &sum); err != nil || len(sum.Queries) != 1 {
		t.Fatalf("summary %s: %v", data, err)
	}
	return sum.Queries[0]
}

var pages = []string{"home", "search", "cart"}

const clicks = 3000

// checkPageCounts: the results, as JSON values, count every click once.
func checkPageCounts(t *testing.T, q map[string]any, values [][]byte) {
	t.Helper()
	counts := map[string]float64{}
	for _, v := range values {
		var r map[string]any
		if err := json.Unmarshal(v, &r); err != nil {
			t.Fatal(err)
		}
		counts[r["key"].(string)] += r["n"].(float64)
	}
	if q["events_in"] != float64(clicks) || q["state"] != "cancelled" && q["state"] != "done" || float64(len(values)) != q["results"] {
		t.Fatalf("summary %v; %d results out", q, len(values))
	}
	for _, p := range pages {
		if counts[p] != clicks/3 {
			t.Fatalf("counts %v, want %d each", counts, clicks/3)
		}
	}
}

// `cameo run` reading a Kafka topic and writing another, on kfake.
func TestRunCommandKafkaInKafkaOut(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "clicks", "counts"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := strings.Join(c.ListenAddrs(), ", ")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("clicks"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := range clicks {
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, `{"page":%q}`, pages[i%3])})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	q := runConnectorSpec(t, connectorSpec(
		"kafka: {brokers: ["+brokers+"], topics: [clicks], group: cli}",
		"{kafka: {brokers: ["+brokers+"], topic: counts}}"))

	in, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("counts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var values [][]byte
	for results, _ := q["results"].(float64); len(values) < int(results) && ctx.Err() == nil; {
		in.PollFetches(ctx).EachRecord(func(r *kgo.Record) { values = append(values, r.Value) })
	}
	checkPageCounts(t, q, values)
	if c := q["connectors"].(map[string]any); c["sink.kafka.records"] != q["results"] || c["source.kafka.records"] != float64(clicks) {
		t.Fatalf("connector counters %v", c)
	}
}

// `cameo run` reading a JetStream stream and publishing to another, on a
// NATS server embedded in the test.
func TestRunCommandNATSInNATSOut(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, subject := range map[string]string{"CLICKS": "clicks", "COUNTS": "counts"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range clicks {
		if _, err := js.PublishAsync("clicks", fmt.Appendf(nil, `{"page":%q}`, pages[i%3])); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publishing did not complete")
	}
	q := runConnectorSpec(t, connectorSpec(
		"nats: {servers: ["+s.ClientURL()+"], stream: CLICKS, consumer: cli}",
		"{nats: {servers: ["+s.ClientURL()+"], subject: counts}}"))

	cons, err := js.OrderedConsumer(ctx, "COUNTS", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var values [][]byte
	for results, _ := q["results"].(float64); len(values) < int(results) && ctx.Err() == nil; {
		b, err := cons.Fetch(int(results)-len(values), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range b.Messages() {
			values = append(values, m.Data())
		}
	}
	checkPageCounts(t, q, values)
	if c := q["connectors"].(map[string]any); c["sink.nats.messages"] != q["results"] || c["source.nats.acked"] != float64(clicks) {
		t.Fatalf("connector counters %v", c)
	}
}
