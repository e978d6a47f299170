package connector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
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

// produce writes n JSON records {"key": "kK", "v": i} to topic, plus one
// that does not decode.
func produce(t *testing.T, brokers []string, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i % 5)), Value: fmt.Appendf(nil, `{"key":"k%d","v":%d}`, i%7, i)})
	}
	recs = append(recs, &kgo.Record{Value: []byte("not json")})
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

const kafkaInSpec = `
name: from-kafka
latency_target: 1s
sources:
  - name: in
    kafka: {brokers: [BROKERS], topics: [in], group: GROUP, timestamp_field: ts}
pipeline:
  - key_by: key
  - window: {tumbling: 1h}
    aggregate: {n: count(), s: sum(v)}
sink:
  collect: {name: NAME}
`

// runKafkaIn runs the spec until want events came in, then cancels it:
// it drains, its windows fire, and its offsets are committed. With
// wantLag, it first waits until the partitions' lag, measured against the
// group's commits, adds up to want (nothing is committed while the
// windows are open).
func runKafkaIn(t *testing.T, brokers []string, group, name string, want uint64, wantLag ...bool) *runtime.Query {
	t.Helper()
	spec := strings.NewReplacer("BROKERS", strings.Join(brokers, ", "), "GROUP", group, "NAME", name).Replace(kafkaInSpec)
	plan, err := query.Parse("in.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	eng, q := startQuery(t, plan, runtime.WithWorkers(2))
	defer eng.Stop(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for st := q.Stats(); st.EventsRead < want; st = q.Stats() {
		select {
		case <-ctx.Done():
			t.Fatalf("read %d of %d", st.EventsRead, want)
		case <-time.After(10 * time.Millisecond): // polls the query's own count
		}
	}
	for len(wantLag) > 0 && lagOf(q) != int64(want) {
		select {
		case <-ctx.Done():
			t.Fatalf("lag %d, want %d: %v", lagOf(q), want, q.Stats().Connectors)
		case <-time.After(50 * time.Millisecond): // the lag is measured every 2 s
		}
	}
	if err := eng.Cancel(ctx, q.ID()); err != nil {
		t.Fatal(err)
	}
	return q
}

// lagOf adds up the query's partitions' lag.
func lagOf(q *runtime.Query) int64 {
	var lag int64
	for k, v := range q.Stats().Connectors {
		if strings.HasPrefix(k, "source.kafka.lag.in.") {
			lag += v
		}
	}
	return lag
}

// Records in, results out equal to a reference; the undecodable record is
// dropped and counted with where it was; offsets are committed once the
// results were delivered, so the group's next reader starts after them.
func TestKafkaSourceCommitsAfterDelivery(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	const n = 5000
	produce(t, brokers, "in", n)

	q := runKafkaIn(t, brokers, "g1", "first", n+1, true)
	st := q.Stats()
	if st.EventsIn != n || st.Dropped != 1 || !strings.Contains(st.LastDropReason, "kafka in/") {
		t.Fatalf("in %d dropped %d (%q)", st.EventsIn, st.Dropped, st.LastDropReason)
	}
	got := map[string][2]float64{}
	for _, ev := range takeCollected("first") {
		got[ev.Key] = [2]float64{toFloat(ev.Fields.Get("n")), toFloat(ev.Fields.Get("s"))}
	}
	want := map[string][2]float64{}
	for i := range n {
		k := fmt.Sprintf("k%d", i%7)
		w := want[k]
		want[k] = [2]float64{w[0] + 1, w[1] + float64(i)}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("results %v, want %v", got, want)
	}
	// The query's end marks the rest and commits (off the caller, owned by
	// the query; bounded here).
	for deadline := time.Now().Add(10 * time.Second); q.Stats().Connectors["source.kafka.marked"] != n+1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("counters %v", q.Stats().Connectors)
		}
	}

	// The group committed everything: a second run reads only what is new.
	produce(t, brokers, "in", 10)
	q = runKafkaIn(t, brokers, "g1", "second", 11)
	if st := q.Stats(); st.EventsIn != 10 {
		t.Fatalf("the second run read %d events, want only the 10 new ones", st.EventsIn)
	}
}

func takeCollected(name string) []query.Event {
	collected.Lock()
	defer collected.Unlock()
	out := collected.by[name]
	delete(collected.by, name)
	return out
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case int:
		return float64(x)
	case float64:
		return x
	}
	return -1
}

// The broker fails fetches mid-stream, four times (a fetch session lost,
// a partition's leader "moved", an unknown server error) between two
// halves of the records. franz-go fetches again; what it reports is
// counted as fetch_errors; every record is read once and results equal
// the reference.
func TestKafkaSourceReadsThroughFetchFaults(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	const n = 3000
	// Fetches 2 to 5 fail: the first has read the first half.
	var fetches, faults atomic.Int64
	c.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.FetchRequest)
		if k := fetches.Add(1); k < 2 || k > 5 {
			return nil, nil, false
		}
		faults.Add(1)
		resp := r.ResponseKind().(*kmsg.FetchResponse)
		if len(r.Topics) == 0 {
			// An incremental fetch of a session: the session is lost,
			// and the client fetches in full again.
			resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
			return resp, nil, true
		}
		code := kerr.NotLeaderForPartition.Code
		if faults.Load()%2 == 0 {
			code = kerr.UnknownServerError.Code
		}
		for _, tp := range r.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = tp.Topic, tp.TopicID
			for _, p := range tp.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = code
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	produce(t, brokers, "in", n/2) // and one undecodable record
	spec := strings.NewReplacer("BROKERS", strings.Join(brokers, ", "), "GROUP", "g", "NAME", "faults").Replace(kafkaInSpec)
	plan, err := query.Parse("in.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	eng, q := startQuery(t, plan, runtime.WithWorkers(2))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitRead(t, ctx, q, n/2+1)
	for faults.Load() < 4 {
		select {
		case <-ctx.Done():
			t.Fatalf("%d faults, %d fetches", faults.Load(), fetches.Load())
		case <-time.After(10 * time.Millisecond): // polls the broker's count
		}
	}
	produce(t, brokers, "in", n/2)
	waitRead(t, ctx, q, n+2)
	if err := eng.Cancel(ctx, q.ID()); err != nil {
		t.Fatal(err)
	}
	st := q.Stats()
	t.Logf("%d fetch faults; counters %v", faults.Load(), st.Connectors)
	if st.EventsIn != n || st.Dropped != 2 || faults.Load() != 4 {
		t.Fatalf("in %d dropped %d through %d faults; counters %v", st.EventsIn, st.Dropped, faults.Load(), st.Connectors)
	}
	var total, sum float64
	for _, ev := range takeCollected("faults") {
		total += toFloat(ev.Fields.Get("n"))
		sum += toFloat(ev.Fields.Get("s"))
	}
	// v runs 0..n/2-1 twice.
	if total != n || sum != 2*float64(n/2*(n/2-1)/2) || st.Connectors["source.kafka.records"] != n+2 {
		t.Fatalf("results count %v events summing to %v, %d records read; want %d, %v and %d", total, sum, st.Connectors["source.kafka.records"], n, 2*float64(n/2*(n/2-1)/2), n+2)
	}
}

// A sink that cannot deliver (the broker holds every produce request)
// stops the source: it reads no more than the in-flight bound lets
// through, while the topic has 25 times that waiting. Once the broker answers, every record is
// read and counted once.
func TestKafkaSlowSinkStopsTheSource(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	const n, bound, batch = 100_000, 64, 64
	produce(t, brokers, "in", n)
	release := make(chan struct{})
	var released atomic.Bool
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !released.Load() {
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	spec := `
name: slow-sink
latency_target: 1s
sources:
  - name: in
    kafka: {brokers: [BROKERS], topics: [in], group: g}
pipeline:
  - key_by: key
sink:
  kafka: {brokers: [BROKERS], topic: out}
`
	plan, err := query.Parse("slow.yaml", []byte(strings.ReplaceAll(spec, "BROKERS", strings.Join(brokers, ", "))))
	if err != nil {
		t.Fatal(err)
	}
	eng, q := startQuery(t, plan, runtime.WithWorkers(2), runtime.WithMaxInFlight(bound), runtime.WithMaxBatch(batch))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Reading stops: the count holds still for half a second (sampled;
	// the bound below must hold at every sample). The in-flight bound
	// counts messages (a batch of events each) and the results the sink
	// holds, so at most bound batches are read.
	limit := uint64(bound * batch)
	var last uint64
	for still := 0; still < 10; {
		select {
		case <-ctx.Done():
			t.Fatal("reading never stopped")
		case <-time.After(50 * time.Millisecond): // samples the query's own count
		}
		r := q.Stats().EventsRead
		if r > limit {
			t.Fatalf("read %d records with the sink stalled; the in-flight bound lets %d through", r, limit)
		}
		if r == last && r > 0 {
			still++
		} else {
			still = 0
		}
		last = r
	}
	t.Logf("with the sink stalled: %d records read of %d (bound %d, batch %d)", last, n, bound, batch)
	released.Store(true)
	close(release)
	waitRead(t, ctx, q, n+1)
	if err := eng.Cancel(ctx, q.ID()); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.EventsIn != n || st.Results != n || st.Connectors["sink.kafka.records"] != n {
		t.Fatalf("in %d, results %d, records produced %d; want %d", st.EventsIn, st.Results, st.Connectors["sink.kafka.records"], n)
	}
}

// What a stalled sink holds counts in the query's memory budget: with a
// budget smaller than the results on their way to the broker, the query
// fails saying so, rather than holding them.
func TestKafkaHeldBytesCountInTheBudget(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in", "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	produce(t, brokers, "in", 20_000)
	release := make(chan struct{})
	defer close(release)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		select {
		case <-release:
		default:
			c.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	spec := `
name: held
latency_target: 1s
sources:
  - name: in
    kafka: {brokers: [BROKERS], topics: [in], group: g}
pipeline:
  - key_by: key
sink:
  kafka: {brokers: [BROKERS], topic: out}
`
	plan, err := query.Parse("held.yaml", []byte(strings.ReplaceAll(spec, "BROKERS", strings.Join(brokers, ", "))))
	if err != nil {
		t.Fatal(err)
	}
	_, q := startQuery(t, plan, runtime.WithWorkers(2), runtime.WithQueryMemory(64<<10))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Wait(ctx); err == nil || !strings.Contains(err.Error(), "memory budget: its connectors hold") {
		t.Fatalf("got %v", err)
	}
}

// Two engines run the same spec in one group: they split the topic's
// partitions, and when one is cancelled (it drains, commits and leaves)
// the other takes its partitions over from the commits. Nothing is lost;
// records a node had read but not committed when their partition moved
// (its windows had not fired) are read again by the next owner: at least
// once, so the two count at least every record.
func TestKafkaSourceGroupFailover(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()

	start := func(name string) (*runtime.Engine, *runtime.Query) {
		spec := strings.NewReplacer("BROKERS", strings.Join(brokers, ", "), "GROUP", "shared", "NAME", name).Replace(kafkaInSpec)
		plan, err := query.Parse(name+".yaml", []byte(spec))
		if err != nil {
			t.Fatal(err)
		}
		return startQuery(t, plan, runtime.WithWorkers(1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ea, qa := start("a")
	eb, qb := start("b")
	produced := 0
	// Produce in small batches until both read some: the group split the
	// partitions between them.
	for qa.Stats().EventsIn == 0 || qb.Stats().EventsIn == 0 {
		if ctx.Err() != nil {
			t.Fatalf("the partitions were never split: a read %d, b %d", qa.Stats().EventsIn, qb.Stats().EventsIn)
		}
		produce(t, brokers, "in", 100) // and one undecodable record each time
		produced += 100
		time.Sleep(20 * time.Millisecond) // lets the group settle between batches
	}
	if err := ea.Cancel(ctx, qa.ID()); err != nil { // a leaves: drains, commits, leaves the group
		t.Fatal(err)
	}
	produce(t, brokers, "in", 1000)
	produced += 1000
	for qa.Stats().EventsIn+qb.Stats().EventsIn < uint64(produced) {
		select {
		case <-ctx.Done():
			t.Fatalf("a read %d, b %d of %d", qa.Stats().EventsIn, qb.Stats().EventsIn, produced)
		case <-time.After(10 * time.Millisecond): // polls the queries' own counts
		}
	}
	if err := eb.Cancel(ctx, qb.ID()); err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, name := range []string{"a", "b"} {
		for _, ev := range takeCollected(name) {
			total += toFloat(ev.Fields.Get("n"))
		}
	}
	a, b := qa.Stats().EventsIn, qb.Stats().EventsIn
	t.Logf("a %d, b %d events of %d produced (%d read twice); results count %v", a, b, produced, a+b-uint64(produced), total)
	if a+b < uint64(produced) || total != float64(a+b) {
		t.Fatalf("a %d + b %d events in, results count %v: want at least %d, and every event read counted", a, b, total, produced)
	}
}

// A query that fails commits only what was delivered (here nothing: its
// window never fired); the group's next reader reads the rest again.
func TestKafkaSourceFailureLosesNothing(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	produce(t, brokers, "in", 500)
	spec := strings.NewReplacer("BROKERS", strings.Join(brokers, ", "), "GROUP", "g", "NAME", "unused").Replace(kafkaInSpec)
	plan, err := query.Parse("in.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	edit := plan.Spec()
	edit.Pipeline = edit.Pipeline[:1] // key_by only: results reach the sink as they come
	edit.Sink = query.Sink{Output: query.SinkFunc(func([]query.Event) error { return fmt.Errorf("disk full") })}
	failing, err := query.Compile(edit)
	if err != nil {
		t.Fatal(err)
	}
	eng, q := startQuery(t, failing, runtime.WithWorkers(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Wait(ctx); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("the failing query: %v", err)
	}
	if err := eng.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Everything is read again by the group's next reader.
	q = runKafkaIn(t, brokers, "g", "again", 501)
	if st := q.Stats(); st.EventsIn != 500 {
		t.Fatalf("after the failure the group read %d events again, want all 500", st.EventsIn)
	}
	takeCollected("again")
}

// examples/connectors/kafka-in-out.yaml on kfake: clicks in, per-page
// counts out, every click counted once.
func TestKafkaInOutExample(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "clicks", "page-counts"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	data, err := os.ReadFile("../examples/connectors/kafka-in-out.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "127.0.0.1:9092", strings.Join(brokers, ", "))
	plan, err := query.Parse("kafka-in-out.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("clicks"))
	if err != nil {
		t.Fatal(err)
	}
	pages := []string{"home", "search", "cart"}
	const n = 3000
	base := time.Now().Add(-time.Minute)
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Timestamp: base.Add(time.Duration(i) * time.Millisecond), Value: fmt.Appendf(nil, `{"page":%q}`, pages[i%3])})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	eng, q := startQuery(t, plan, runtime.WithWorkers(2))
	for q.Stats().EventsIn < n {
		select {
		case <-ctx.Done():
			t.Fatalf("read %d of %d", q.Stats().EventsIn, n)
		case <-time.After(10 * time.Millisecond): // polls the query's own count
		}
	}
	if err := eng.Cancel(ctx, q.ID()); err != nil {
		t.Fatal(err)
	}
	out := consumeAll(t, brokers, "page-counts", int(q.Stats().Results))
	counts := map[string]float64{}
	for _, r := range out {
		var m map[string]any
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatal(err)
		}
		counts[string(r.Key)] += m["clicks"].(float64)
	}
	if counts["home"] != n/3 || counts["search"] != n/3 || counts["cart"] != n/3 {
		t.Fatalf("counts %v from %d records, want %d each", counts, len(out), n/3)
	}
}
