package connector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// natsServer runs a NATS server with JetStream in the test's process, on
// 127.0.0.1 and a free port (port 0) or the given one, storing in dir.
func natsServer(t *testing.T, dir string, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = -1 // a free one
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// natsJS connects the test's own client.
func natsJS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func natsStream(t *testing.T, js jetstream.JetStream, name string, subjects ...string) jetstream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: subjects, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// natsMessages reads every message of stream from the start with an
// ephemeral consumer until want arrived (or the test's bound).
func natsMessages(t *testing.T, js jetstream.JetStream, stream string, want int) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for len(out) < want && ctx.Err() == nil {
		b, err := c.Fetch(want-len(out), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range b.Messages() {
			out = append(out, m)
		}
	}
	return out
}

// natsSinkSpec counts 100,000 generated events per key in 100 ms windows
// into subject on url.
func natsSinkSpec(url, subject, extra string) string {
	return `
name: to-nats
latency_target: 1s
sources:
  - name: s
    generator: {rate: 100000, duration: 1s, seed: 5, keys: {count: 13}}
pipeline:
  - key_by: key
  - window: {tumbling: 100ms}
    aggregate: {n: count()}
sink:
  nats: {servers: [` + url + `], subject: ` + subject + extra + `}
`
}

// checkCounts: the messages are the query's results, one each, with the
// counts adding up to every event.
func checkCounts(t *testing.T, msgs []jetstream.Msg, q *runtime.Query) {
	t.Helper()
	st := q.Stats()
	ids := map[string]bool{}
	var total float64
	for _, m := range msgs {
		var r map[string]any
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			t.Fatalf("message %q: %v", m.Data(), err)
		}
		total += r["n"].(float64)
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if id == "" || ids[id] {
			t.Fatalf("message id %q missing or repeated", id)
		}
		ids[id] = true
	}
	if uint64(len(msgs)) != st.Results || total != float64(st.EventsIn) || st.EventsIn != 100_000 {
		t.Fatalf("%d messages for %d results; counts add up to %v of %d events in", len(msgs), st.Results, total, st.EventsIn)
	}
}

// Every result becomes one message, with its headers; the stream has
// exactly the results.
func TestNATSSinkPublishesEveryResult(t *testing.T) {
	s := natsServer(t, t.TempDir(), 0)
	js := natsJS(t, s.ClientURL())
	natsStream(t, js, "RESULTS", "results.>")
	plan, err := query.Parse("out.yaml", []byte(natsSinkSpec(s.ClientURL(), "results.counts", `, headers: {k: key, start: 'string(window_start)'}`)))
	if err != nil {
		t.Fatal(err)
	}
	_, q := startQuery(t, plan, runtime.WithWorkers(2))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	st := q.Stats()
	msgs := natsMessages(t, js, "RESULTS", int(st.Results))
	checkCounts(t, msgs, q)
	for _, m := range msgs {
		var r map[string]any
		_ = json.Unmarshal(m.Data(), &r)
		if m.Headers().Get("k") != r["key"] || m.Headers().Get("start") != fmt.Sprint(int64(r["window_start"].(float64))) {
			t.Fatalf("headers %v for %s", m.Headers(), m.Data())
		}
	}
	if got := st.Connectors["sink.nats.messages"]; got != int64(st.Results) {
		t.Fatalf("sink.nats.messages %d, want %d", got, st.Results)
	}
}

// The server stops mid-stream and comes back on the same port and store:
// what was not acknowledged is published again (its message id makes the
// stream store it once), nothing is lost or doubled.
func TestNATSSinkSurvivesServerRestart(t *testing.T) {
	dir := t.TempDir()
	s := natsServer(t, dir, 0)
	port := s.Addr().(interface{ String() string }).String()
	url := s.ClientURL()
	natsStream(t, natsJS(t, url), "RESULTS", "results.>")
	// A slower generator, so that the restart falls in the middle.
	spec := strings.Replace(natsSinkSpec(url, "results.counts", ", timeout: 1s, retries: 20"), "rate: 100000, duration: 1s", "rate: 25000, duration: 4s", 1)
	plan, err := query.Parse("out.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	_, q := startQuery(t, plan, runtime.WithWorkers(2))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for q.Stats().Connectors["sink.nats.messages"] < 50 {
		select {
		case <-ctx.Done():
			t.Fatalf("no messages before the restart: %v", q.Stats().Connectors)
		case <-time.After(10 * time.Millisecond): // polls the query's own count
		}
	}
	s.Shutdown()
	s.WaitForShutdown()
	time.Sleep(300 * time.Millisecond) // the server is away while results keep coming
	_, p, _ := strings.Cut(port, ":")
	var pn int
	fmt.Sscan(p, &pn)
	s = natsServer(t, dir, pn)
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	st := q.Stats()
	t.Logf("connectors %v", st.Connectors)
	if st.Connectors["sink.nats.reconnects"] < 1 {
		t.Fatalf("the sink never reconnected: %v", st.Connectors)
	}
	checkCounts(t, natsMessages(t, natsJS(t, s.ClientURL()), "RESULTS", int(st.Results)), q)
}

// The stream refuses messages past its limit: the sink publishes them
// again after its backoff until the limit is raised; every result is
// stored once.
func TestNATSSinkRetriesWhatTheStreamRefused(t *testing.T) {
	s := natsServer(t, t.TempDir(), 0)
	js := natsJS(t, s.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := jetstream.StreamConfig{Name: "RESULTS", Subjects: []string{"results.>"}, MaxMsgs: 100, Discard: jetstream.DiscardNew}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	plan, err := query.Parse("out.yaml", []byte(natsSinkSpec(s.ClientURL(), "results.counts", ", retries: 100, backoff: 20ms")))
	if err != nil {
		t.Fatal(err)
	}
	_, q := startQuery(t, plan, runtime.WithWorkers(2))
	for q.Stats().Connectors["sink.nats.retries"] < 3 {
		select {
		case <-ctx.Done():
			t.Fatalf("no retries: %v", q.Stats().Connectors)
		case <-time.After(10 * time.Millisecond): // polls the query's own count
		}
	}
	cfg.MaxMsgs = -1
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	st := q.Stats()
	t.Logf("connectors %v", st.Connectors)
	checkCounts(t, natsMessages(t, js, "RESULTS", int(st.Results)), q)
}

// A subject that no stream takes fails the query, saying so.
func TestNATSSinkWithoutStreamFails(t *testing.T) {
	s := natsServer(t, t.TempDir(), 0)
	plan, err := query.Parse("out.yaml", []byte(natsSinkSpec(s.ClientURL(), "nowhere", "")))
	if err != nil {
		t.Fatal(err)
	}
	_, q := startQuery(t, plan, runtime.WithWorkers(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.Wait(ctx); err == nil || !strings.Contains(err.Error(), "no stream takes subject nowhere") {
		t.Fatalf("got %v", err)
	}
}

// publishJSON publishes n JSON messages {"key": "kK", "v": i} to subject,
// plus one that does not decode.
func publishJSON(t *testing.T, js jetstream.JetStream, subject string, from, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := from; i < from+n; i++ {
		if _, err := js.PublishAsync(subject, fmt.Appendf(nil, `{"key":"k%d","v":%d}`, i%7, i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.PublishAsync(subject, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publishing did not complete")
	}
}

const natsInSpec = `
name: from-nats
latency_target: 1s
sources:
  - name: in
    nats: {servers: [URL], stream: IN, consumer: CONSUMER, timestamp_field: ts, subject_field: subj}
pipeline:
  - key_by: key
  - window: {tumbling: 1h}
    aggregate: {n: count(), s: sum(v)}
sink:
  collect: {name: NAME}
`

func natsInPlan(t *testing.T, url, consumer, name string) *query.Plan {
	t.Helper()
	spec := strings.NewReplacer("URL", url, "CONSUMER", consumer, "NAME", name).Replace(natsInSpec)
	plan, err := query.Parse(name+".yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// waitRead waits until q read want messages (or the test's bound).
func waitRead(t *testing.T, ctx context.Context, q *runtime.Query, want uint64) {
	t.Helper()
	for st := q.Stats(); st.EventsRead < want; st = q.Stats() {
		select {
		case <-ctx.Done():
			t.Fatalf("read %d of %d", st.EventsRead, want)
		case <-time.After(10 * time.Millisecond): // polls the query's own count
		}
	}
}

// consumerInfo is the durable consumer's state as the server has it.
func consumerInfo(t *testing.T, js jetstream.JetStream, name string) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, "IN", name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// runsNATSIn runs the spec until want messages came in, then cancels it:
// it drains, its windows fire, and its messages are acknowledged.
func runNATSIn(t *testing.T, url, consumer, name string, want uint64, during func(q *runtime.Query)) *runtime.Query {
	t.Helper()
	eng, q := startQuery(t, natsInPlan(t, url, consumer, name), runtime.WithWorkers(2))
	defer eng.Stop(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitRead(t, ctx, q, want)
	if during != nil {
		during(q)
	}
	if err := eng.Cancel(ctx, q.ID()); err != nil {
		t.Fatal(err)
	}
	return q
}

// Messages in, results out equal to a reference; the undecodable message
// is dropped and counted with its sequence; nothing is acknowledged
// before its results were delivered (the window is open until the end),
// everything after; the consumer's next reader reads only what is new.
func TestNATSSourceAcksAfterDelivery(t *testing.T) {
	s := natsServer(t, t.TempDir(), 0)
	js := natsJS(t, s.ClientURL())
	natsStream(t, js, "IN", "in.>")
	const n = 5000
	publishJSON(t, js, "in.a", 0, n)

	q := runNATSIn(t, s.ClientURL(), "c1", "first", n+1, func(q *runtime.Query) {
		info := consumerInfo(t, js, "c1")
		if info.NumAckPending != n+1 || info.AckFloor.Stream != 0 {
			t.Fatalf("before any result was delivered: %d pending acknowledgement, acknowledged up to %d; want %d and 0", info.NumAckPending, info.AckFloor.Stream, n+1)
		}
	})
	st := q.Stats()
	if st.EventsIn != n || st.Dropped != 1 || !strings.Contains(st.LastDropReason, fmt.Sprintf("nats IN#%d", n+1)) {
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
	// The query's end acknowledges the rest (off the caller, owned by the
	// query; bounded here).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		info := consumerInfo(t, js, "c1")
		if info.NumAckPending == 0 && info.AckFloor.Stream == n+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the end: %d pending acknowledgement, acknowledged up to %d; counters %v", info.NumAckPending, info.AckFloor.Stream, q.Stats().Connectors)
		}
	}
	if a := q.Stats().Connectors["source.nats.acked"]; a != n+1 {
		t.Fatalf("source.nats.acked %d, want %d", a, n+1)
	}

	// A second run on the consumer reads only what is new.
	publishJSON(t, js, "in.b", n, 10)
	q = runNATSIn(t, s.ClientURL(), "c1", "second", 11, nil)
	if st := q.Stats(); st.EventsIn != 10 || st.Connectors["source.nats.redelivered"] != 0 {
		t.Fatalf("the second run read %d events (%d redelivered), want only the 10 new ones", st.EventsIn, st.Connectors["source.nats.redelivered"])
	}
	takeCollected("second")
}

// A query that fails acknowledges nothing it did not deliver, and gives
// back what it read: the next reader gets it all again at once (not after
// the ack wait), counted as redelivered.
func TestNATSSourceFailureRedelivers(t *testing.T) {
	s := natsServer(t, t.TempDir(), 0)
	js := natsJS(t, s.ClientURL())
	natsStream(t, js, "IN", "in.>")
	publishJSON(t, js, "in.a", 0, 500)
	edit := natsInPlan(t, s.ClientURL(), "c", "unused").Spec()
	edit.Pipeline = edit.Pipeline[:1] // key_by only: results reach the sink as they come
	edit.Sink = query.Sink{Output: query.SinkFunc(func([]query.Event) error { return errors.New("disk full") })}
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
	start := time.Now()
	q = runNATSIn(t, s.ClientURL(), "c", "again", 501, nil)
	st := q.Stats()
	if st.EventsIn != 500 || st.Connectors["source.nats.redelivered"] < 1 {
		t.Fatalf("after the failure the consumer delivered %d events again (%d counted redelivered), want all 500", st.EventsIn, st.Connectors["source.nats.redelivered"])
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("redelivery took %v: the failed query's messages waited for the ack wait", d)
	}
	takeCollected("again")
}

// Two engines run the same spec on one durable consumer: the server
// shares its messages between them; when one is cancelled (it drains and
// acknowledges) the other reads on. Every message is counted by one of
// them at least once.
func TestNATSSourceSharedConsumer(t *testing.T) {
	s := natsServer(t, t.TempDir(), 0)
	js := natsJS(t, s.ClientURL())
	natsStream(t, js, "IN", "in.>")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ea, qa := startQuery(t, natsInPlan(t, s.ClientURL(), "shared", "a"), runtime.WithWorkers(1))
	eb, qb := startQuery(t, natsInPlan(t, s.ClientURL(), "shared", "b"), runtime.WithWorkers(1))
	produced := 0
	for qa.Stats().EventsIn == 0 || qb.Stats().EventsIn == 0 {
		if ctx.Err() != nil {
			t.Fatalf("the messages were never shared: a read %d, b %d", qa.Stats().EventsIn, qb.Stats().EventsIn)
		}
		publishJSON(t, js, "in.a", produced, 100) // and one undecodable message each time
		produced += 100
		time.Sleep(20 * time.Millisecond) // lets both pull between batches
	}
	if err := ea.Cancel(ctx, qa.ID()); err != nil {
		t.Fatal(err)
	}
	publishJSON(t, js, "in.a", produced, 1000)
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
	t.Logf("a %d, b %d events of %d published (%d read twice); results count %v", a, b, produced, a+b-uint64(produced), total)
	if a+b < uint64(produced) || total != float64(a+b) {
		t.Fatalf("a %d + b %d events in, results count %v: want at least %d, and every event read counted", a, b, total, produced)
	}
}

// A stream that does not exist, and a server that does not answer, fail
// the query with what is wrong.
func TestNATSSourceErrors(t *testing.T) {
	s := natsServer(t, t.TempDir(), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, q := startQuery(t, natsInPlan(t, s.ClientURL(), "c", "none"), runtime.WithWorkers(1))
	if err := q.Wait(ctx); err == nil || !strings.Contains(err.Error(), "nats: stream IN does not exist") {
		t.Fatalf("no stream: %v", err)
	}
	_, q = startQuery(t, natsInPlan(t, "127.0.0.1:1", "c", "none"), runtime.WithWorkers(1))
	if err := q.Wait(ctx); err == nil || !strings.Contains(err.Error(), "nats: connecting to 127.0.0.1:1") {
		t.Fatalf("no server: %v", err)
	}
}

// Settings errors come out with the field and its position.
func TestNATSSettingsErrors(t *testing.T) {
	for _, c := range []struct{ in, sink, want string }{
		{in: `{servers: [], stream: S, consumer: c}`, want: "sources[0].nats.servers: missing"},
		{in: `{servers: ['http://h:1'], stream: S, consumer: c}`, want: `sources[0].nats.servers[0]: "http://h:1": want nats:// or tls://`},
		{in: `{servers: [h], stream: S, consumer: c}`, want: `sources[0].nats.servers[0]: "h": want host:port`},
		{in: `{servers: [h:1], consumer: c}`, want: "sources[0].nats.stream: missing"},
		{in: `{servers: [h:1], stream: 'a.b', consumer: c}`, want: `sources[0].nats.stream: "a.b" is not a stream name`},
		{in: `{servers: [h:1], stream: S}`, want: "sources[0].nats.consumer: missing"},
		{in: `{servers: [h:1], stream: S, consumer: c, subjects: ['a.>.b']}`, want: `sources[0].nats.subjects[0]: "a.>.b" is not a subject filter`},
		{in: `{servers: [h:1], stream: S, consumer: c, start: first}`, want: `sources[0].nats.start: "first": want all or new`},
		{in: `{servers: [h:1], stream: S, consumer: c, ack_wait: 10ms}`, want: "sources[0].nats.ack_wait: must be 1s to 1h0m0s"},
		{in: `{servers: [h:1], stream: S, consumer: c, max_ack_pending: 0}`, want: "sources[0].nats.max_ack_pending: must be 1 to"},
		{in: `{servers: [h:1], stream: S, consumer: c, token: t, user: u}`, want: "sources[0].nats.token: give a token or a user and password, not both"},
		{in: `{servers: [h:1], stream: S, consumer: c, durable: c}`, want: `sources[0].nats: unknown field "durable"`},
		{sink: `{servers: [h:1], subject: 'a.*'}`, want: `sink.nats.subject: "a.*" is not a subject to publish to`},
		{sink: `{servers: [h:1]}`, want: "sink.nats.subject: missing"},
		{sink: `{servers: [h:1], subject: a, headers: {Nats-Msg-Id: key}}`, want: "sink.nats.headers.Nats-Msg-Id: set by the sink itself"},
		{sink: `{servers: [h:1], subject: a, headers: {x: 'key +'}}`, want: "sink.nats.headers.x: expression"},
		{sink: `{servers: [h:1], subject: a, retries: -1}`, want: "sink.nats.retries: must be 0 to 100"},
		{sink: `{servers: [h:1], subject: a, timeout: 1}`, want: "sink.nats.timeout:"},
	} {
		in, sink := `generator: {rate: 10}`, `{discard: {}}`
		if c.in != "" {
			in = `nats: ` + c.in
		}
		if c.sink != "" {
			sink = `{nats: ` + c.sink + `}`
		}
		spec := "name: x\nlatency_target: 1s\nsources:\n  - name: s\n    " + in + "\nsink: " + sink + "\n"
		_, err := query.Parse("x.yaml", []byte(spec))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "x.yaml:") {
			t.Errorf("%s / %s: got %v, want %q with its position", c.in, c.sink, err, c.want)
		}
	}
}

// examples/connectors/nats-in-out.yaml on an embedded server: clicks in,
// per-page counts out, every click counted once.
func TestNATSInOutExample(t *testing.T) {
	s := natsServer(t, t.TempDir(), 0)
	js := natsJS(t, s.ClientURL())
	natsStream(t, js, "CLICKS", "clicks.>")
	natsStream(t, js, "PAGE_COUNTS", "page-counts")
	data, err := os.ReadFile("../examples/connectors/nats-in-out.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "nats://127.0.0.1:4222", s.ClientURL())
	plan, err := query.Parse("nats-in-out.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	pages := []string{"home", "search", "cart"}
	const n = 3000
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		if _, err := js.PublishAsync("clicks."+pages[i%3], []byte(`{"user":"u1"}`)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publishing did not complete")
	}
	eng, q := startQuery(t, plan, runtime.WithWorkers(2))
	waitRead(t, ctx, q, n)
	if err := eng.Cancel(ctx, q.ID()); err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	msgs := natsMessages(t, js, "PAGE_COUNTS", int(q.Stats().Results))
	for _, m := range msgs {
		var r map[string]any
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			t.Fatal(err)
		}
		counts[m.Headers().Get("page")] += r["clicks"].(float64)
	}
	if counts["clicks.home"] != n/3 || counts["clicks.search"] != n/3 || counts["clicks.cart"] != n/3 {
		t.Fatalf("counts %v from %d messages, want %d each", counts, len(msgs), n/3)
	}
}
