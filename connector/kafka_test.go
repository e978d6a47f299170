package connector_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// kafkaSpec counts 100,000 generated events per key in 100 ms windows into
// the topic on brokers.
func kafkaSpec(brokers, topic, extra string) string {
	return `
name: to-kafka
latency_target: 1s
sources:
  - name: s
    generator: {rate: 100000, duration: 1s, seed: 5, keys: {count: 13}}
pipeline:
  - key_by: key
  - window: {tumbling: 100ms}
    aggregate: {n: count()}
sink:
  kafka: {brokers: [` + brokers + `], topic: ` + topic + extra + `}
`
}

// consumeAll reads every record of topic from the start until want
// arrived (or the test's bound).
func consumeAll(t *testing.T, brokers []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// Every result becomes one record, its value the result's JSON line and
// its key and headers from the expressions; through produce requests the
// broker fails with a retriable error, nothing is lost or doubled (the
// idempotent producer retries).
func TestKafkaSinkWritesEveryResultThroughBrokerFaults(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var faults atomic.Int64
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if faults.Add(1) > 3 {
			return nil, nil, false
		}
		r := req.(*kmsg.ProduceRequest)
		resp := r.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range r.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.NotEnoughReplicas.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	brokers := c.ListenAddrs()
	q, err := runHook(t, kafkaSpec(strings.Join(brokers, ", "), "out", `, key: '"k-" + key', headers: {start: 'string(window_start)'}`))
	if err != nil {
		t.Fatal(err)
	}
	st := q.Stats()
	recs := consumeAll(t, brokers, "out", int(st.Results))
	var total float64
	seen := map[string]bool{}
	for _, r := range recs {
		var m map[string]any
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatalf("record value %q: %v", r.Value, err)
		}
		total += m["n"].(float64)
		if string(r.Key) != "k-"+m["key"].(string) || len(r.Headers) != 1 || r.Headers[0].Key != "start" {
			t.Fatalf("record key %q headers %v for %v", r.Key, r.Headers, m)
		}
		id := string(r.Key) + "/" + string(r.Headers[0].Value)
		if seen[id] {
			t.Fatalf("result %s written twice", id)
		}
		seen[id] = true
	}
	if uint64(len(recs)) != st.Results || total != 100000 || faults.Load() <= 3 {
		t.Fatalf("%d records counting %v events (%d faults); the query emitted %d results of 100000 events", len(recs), total, faults.Load(), st.Results)
	}
	if st.Connectors["sink.kafka.records"] != int64(st.Results) || st.Connectors["sink.kafka.failed"] != 0 {
		t.Fatalf("counters %v", st.Connectors)
	}
}

// A topic that does not exist (and a cluster that does not create it)
// fails the query within the delivery timeout, with the reason.
func TestKafkaSinkFailureFailsTheQuery(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, err := runHook(t, kafkaSpec(c.ListenAddrs()[0], "missing", ", timeout: 2s"))
	if err == nil || q.State() != runtime.StateFailed || !strings.Contains(err.Error(), "sink kafka: topic missing") {
		t.Fatalf("query %s: %v", q.State(), err)
	}
	if q.Stats().Connectors["sink.kafka.failed"] == 0 {
		t.Fatalf("counters %v", q.Stats().Connectors)
	}
}

// The settings are checked with positions.
func TestKafkaSinkSettings(t *testing.T) {
	for _, c := range []struct{ sink, want string }{
		{"kafka: {topic: t}", "sink.kafka.brokers: missing"},
		{"kafka: {brokers: [nohost], topic: t}", `sink.kafka.brokers[0]: "nohost": want host:port`},
		{"kafka: {brokers: ['h:1'], topic: t, key: 'a +'}", `sink.kafka.key: expression "a +" does not compile`},
		{"kafka: {brokers: ['h:1']}", "sink.kafka.topic: missing"},
		{"kafka: {brokers: ['h:1'], topic: t, sasl: {mechanism: md5, user: u}}", `sink.kafka.sasl.mechanism: "md5": want plain, scram-sha-256 or scram-sha-512`},
		{"kafka: {brokers: ['h:1'], topic: t, linger: 1s}", `unknown field "linger"`},
	} {
		_, err := query.Parse("k.yaml", []byte("name: q\nlatency_target: 1s\nsources: [{name: s, generator: {rate: 1}}]\nsink: {"+c.sink+"}\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.sink, err, c.want)
		}
	}
}
