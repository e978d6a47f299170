package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cameo-go/cameo/client"
	"github.com/cameo-go/cameo/runtime"
)

// brokerSpec counts clicks per page in 100 ms windows, from source to
// sink.
func brokerSpec(name, source, sink string) string {
	return `
name: ` + name + `
tenant: web
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

// A node runs queries that read and write brokers, submitted over its
// API: Kafka in and NATS out, NATS in and Kafka out, Kafka in and a
// webhook out. Each counts every click once, and its connectors'
// counters are in its stats.
func TestNodeBrokerConnectors(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "clicks", "counts"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	brokers := kc.ListenAddrs()
	natsURL, _ := url.Parse(ns.ClientURL())
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for name, subject := range map[string]string{"CLICKS": "clicks", "COUNTS": "counts"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 3000
	pages := []string{"home", "search", "cart"}
	kcl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("clicks"))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	for i := range n {
		v := fmt.Appendf(nil, `{"page":%q}`, pages[i%3])
		kcl.Produce(ctx, &kgo.Record{Value: v}, nil)
		if _, err := js.PublishAsync("clicks", v); err != nil {
			t.Fatal(err)
		}
	}
	if err := kcl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	<-js.PublishAsyncComplete()

	var hookMu sync.Mutex
	var fromHook [][]byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		defer hookMu.Unlock()
		for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
			fromHook = append(fromHook, line)
		}
	}))
	defer hook.Close()
	hookURL, _ := url.Parse(hook.URL)
	allow := append([]string{natsURL.Host, hookURL.Host}, brokers...)
	nd, base := startNode(t, NodeConfig{AllowConnect: allow, Engine: []runtime.Option{runtime.WithWorkers(2)}})
	c, err := client.NewClient(base, "")
	if err != nil {
		t.Fatal(err)
	}
	kafkaToNATS := brokerSpec("kafka-to-nats",
		"kafka: {brokers: ["+strings.Join(brokers, ", ")+"], topics: [clicks], group: node}",
		"{nats: {servers: ["+ns.ClientURL()+"], subject: counts}}")
	natsToKafka := brokerSpec("nats-to-kafka",
		"nats: {servers: ["+ns.ClientURL()+"], stream: CLICKS, consumer: node}",
		"{kafka: {brokers: ["+strings.Join(brokers, ", ")+"], topic: counts}}")
	kafkaToHook := brokerSpec("kafka-to-webhook",
		"kafka: {brokers: ["+strings.Join(brokers, ", ")+"], topics: [clicks], group: hook}",
		"{webhook: {url: '"+hook.URL+"', batch: 7}}")
	var ids []string
	for _, spec := range []string{kafkaToNATS, natsToKafka, kafkaToHook} {
		sub, err := c.Submit(ctx, []byte(spec))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sub.ID)
	}
	results := map[string]float64{}
	for _, id := range ids {
		q, ok := nd.Engine().Query(id)
		if !ok {
			t.Fatalf("query %s is not on the node", id)
		}
		for q.Stats().EventsIn < n {
			select {
			case <-ctx.Done():
				t.Fatalf("query %s read %d of %d: %v", id, q.Stats().EventsIn, n, q.Stats().Connectors)
			case <-time.After(10 * time.Millisecond): // polls the query's own count
			}
		}
		// The stats through the API carry the connectors' counters.
		d, err := c.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Stats.Connectors) == 0 || d.Stats.EventsIn != n {
			t.Fatalf("%s: %d events in, connector counters %v", id, d.Stats.EventsIn, d.Stats.Connectors)
		}
		if _, err := c.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
		results[id] = float64(q.Stats().Results)
	}

	count := func(values [][]byte) map[string]float64 {
		counts := map[string]float64{}
		for _, v := range values {
			var r map[string]any
			if err := json.Unmarshal(v, &r); err != nil {
				t.Fatal(err)
			}
			counts[r["key"].(string)] += r["n"].(float64)
		}
		return counts
	}
	want := fmt.Sprint(map[string]float64{"home": n / 3, "search": n / 3, "cart": n / 3})

	var fromNATS [][]byte
	cons, err := js.OrderedConsumer(ctx, "COUNTS", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for len(fromNATS) < int(results[ids[0]]) && ctx.Err() == nil {
		b, err := cons.Fetch(int(results[ids[0]])-len(fromNATS), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range b.Messages() {
			fromNATS = append(fromNATS, m.Data())
		}
	}
	if got := fmt.Sprint(count(fromNATS)); got != want {
		t.Fatalf("Kafka in, NATS out: %s, want %s", got, want)
	}

	var fromKafka [][]byte
	in, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("counts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for len(fromKafka) < int(results[ids[1]]) && ctx.Err() == nil {
		in.PollFetches(ctx).EachRecord(func(r *kgo.Record) { fromKafka = append(fromKafka, r.Value) })
	}
	if got := fmt.Sprint(count(fromKafka)); got != want {
		t.Fatalf("NATS in, Kafka out: %s, want %s", got, want)
	}

	hookMu.Lock() // the query drained into the webhook before Cancel returned
	defer hookMu.Unlock()
	if got := fmt.Sprint(count(fromHook)); got != want || float64(len(fromHook)) != results[ids[2]] {
		t.Fatalf("Kafka in, webhook out: %s from %d lines (%v results), want %s", got, len(fromHook), results[ids[2]], want)
	}
}
