package connector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cameo-go/cameo/query"
)

// The kafka source: records of topics read in a consumer group, each
// record's value a JSON object (as a JSON line; its "key" field, else the
// record's key, is the event's key). Offsets are committed at least once:
// a record's offset is marked for commit only once every result it can
// lead to was delivered by the sink (Env.Delivered, the query's delivery
// frontier), and franz-go commits what is marked every second, when the
// group takes partitions away, and when the query ends. A node that dies
// leaves its uncommitted records to whoever takes its partitions: they are
// read again, so results may repeat, never go missing. Several nodes
// running the same spec in one group split the topic's partitions: that
// is how a query scales out over machines.
//
//	sources:
//	  - name: clicks
//	    kafka:
//	      brokers: [127.0.0.1:9092]
//	      topics: [clicks]
//	      group: cameo-clicks
//	      start: earliest         # or latest: where a group without committed offsets starts
//	      timestamp_field: ts     # the record's timestamp (Unix ms) as field ts, for event_time
//
// Undecodable records are dropped and counted with topic, partition and
// offset. Counters: records, bytes, fetch_errors, committed (source.kafka.*).

// KafkaIn is the kafka source's settings.
type KafkaIn struct {
	Brokers        []string
	Topics         []string
	Group          string
	Start          string // where a group without committed offsets starts: earliest (default; "committed" says the same) or latest
	TimestampField string
	TLS            bool
	SASL           *KafkaSASL
}

const maxKafkaTopics = 64

func init() {
	RegisterInput(query.InputKind{Name: "kafka", Parse: func(s *query.Section) query.InputSpec {
		k := &KafkaIn{Start: "earliest"}
		s.Fields(map[string]func(*query.Value){
			"brokers":         func(v *query.Value) { k.Brokers = v.Strings() },
			"topics":          func(v *query.Value) { k.Topics = v.Strings() },
			"group":           func(v *query.Value) { k.Group = v.Text() },
			"start":           func(v *query.Value) { k.Start = v.Text() },
			"timestamp_field": func(v *query.Value) { k.TimestampField = v.Text() },
			"tls":             func(v *query.Value) { k.TLS = v.Bool() },
			"sasl":            func(v *query.Value) { k.SASL = parseSASL(v.Section()) },
		})
		return k
	}}, openKafkaIn)
}

// Kind is "kafka".
func (*KafkaIn) Kind() string { return "kafka" }

// Check validates the settings; the fields are the records' (unknown
// until read), so nil.
func (k *KafkaIn) Check(c *query.Checker) map[string]string {
	checkBrokers(c, k.Brokers)
	switch {
	case len(k.Topics) == 0:
		c.Fail("topics", "missing: at least one topic to read")
	case len(k.Topics) > maxKafkaTopics:
		c.Fail("topics", "%d topics: at most %d", len(k.Topics), maxKafkaTopics)
	}
	for i, t := range k.Topics {
		if t == "" || len(t) > 249 {
			c.Fail(fmt.Sprintf("topics[%d]", i), "%q: want 1 to 249 characters", t)
		}
	}
	if k.Group == "" {
		c.Fail("group", "missing: the consumer group, whose committed offsets say what was delivered")
	}
	switch k.Start {
	case "committed", "earliest", "latest":
	default:
		c.Fail("start", "%q: want earliest or latest (where a group without committed offsets starts; committed offsets always win), or committed (the same as earliest)", k.Start)
	}
	checkSASL(c, k.SASL)
	return nil
}

// Uses is each broker it connects to.
func (k *KafkaIn) Uses() []query.Use { return brokerUses(k.Brokers) }

// Clone implements query.Cloner.
func (k *KafkaIn) Clone() query.InputSpec {
	c := *k
	c.Brokers = append([]string(nil), k.Brokers...)
	c.Topics = append([]string(nil), k.Topics...)
	if k.SASL != nil {
		a := *k.SASL
		c.SASL = &a
	}
	return &c
}

type partitionKey struct {
	topic     string
	partition int32
}

// pendingRecord is a record read and not yet marked for commit: its
// offset and leader epoch (not the record: a window open for an hour would
// keep an hour of records), with the time the engine stamped its event
// (math.MinInt64: it made no event).
type pendingRecord struct {
	offset int64
	epoch  int32
	t      int64
}

type kafkaIn struct {
	spec  *KafkaIn
	dec   query.LineDecoder // Read's: one goroutine at a time
	env   *Env
	cl    *kgo.Client
	batch chan []*kgo.Record
	ready chan struct{}

	started  bool
	buffered []*kgo.Record // fetched, not yet read
	fetched  chan struct{} // closed when fetch returned

	mu      sync.Mutex
	pending map[partitionKey][]pendingRecord
	closed  bool
}

func openKafkaIn(spec query.InputSpec, env *Env) (Input, error) {
	k := spec.(*KafkaIn)
	in := &kafkaIn{spec: k, env: env, batch: make(chan []*kgo.Record, 4), ready: make(chan struct{}, 1), fetched: make(chan struct{}), pending: map[partitionKey][]pendingRecord{}}
	// start says where a group with no committed offset begins; committed
	// offsets always win, so that a restart reads on from what was
	// delivered.
	reset := kgo.NewOffset().AtStart()
	if k.Start == "latest" {
		reset = kgo.NewOffset().AtEnd()
	}
	opts := append(kafkaClientOpts(k.Brokers, k.TLS, k.SASL),
		kgo.ConsumeTopics(k.Topics...),
		kgo.ConsumerGroup(k.Group),
		kgo.ConsumeResetOffset(reset),
		kgo.AutoCommitMarks(), // only what the delivery frontier passed
		kgo.AutoCommitInterval(time.Second),
		kgo.OnPartitionsRevoked(in.forget),
		kgo.OnPartitionsLost(in.forget),
		kgo.FetchMaxBytes(16<<20),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	in.cl = cl
	return in, nil
}

// fetch polls records and hands them over a few batches at a time, so
// that a query that does not read (its sources wait for credit) stops
// fetching.
func (in *kafkaIn) fetch() {
	defer close(in.fetched)
	ctx := in.env.Context
	for ctx.Err() == nil {
		fs := in.cl.PollRecords(ctx, in.env.MaxBatch)
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
				in.env.Count("source.kafka.fetch_errors", 1)
			}
		})
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		size := recordsBytes(recs)
		in.env.Bytes(size) // held until read
		select {
		case in.batch <- recs:
			notify(in.ready)
		case <-ctx.Done():
			in.env.Bytes(-size)
			return
		}
	}
}

// lagEvery is how often a broker source measures its consumer lag.
const lagEvery = 2 * time.Second

// every runs fn every d until ctx is done (a goroutine the query owns).
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// lag measures, every lagEvery, the group's lag on the partitions this
// node holds: the records past its last commit (read but not yet
// delivered included), Kafka's own measure of consumer lag.
func (in *kafkaIn) lag() {
	ctx := in.env.Context
	adm := kadm.NewClient(in.cl)
	every(ctx, lagEvery, func() {
		lags, err := adm.Lag(ctx, in.spec.Group)
		if err != nil {
			in.env.Count("source.kafka.lag_errors", 1)
			return
		}
		me, _ := in.cl.GroupMetadata()
		lags.Each(func(l kadm.DescribedGroupLag) {
			for _, ml := range l.Lag.Sorted() {
				if ml.Member != nil && ml.Member.MemberID == me && ml.Lag >= 0 {
					in.env.Gauge(fmt.Sprintf("source.kafka.lag.%s.%d", ml.Topic, ml.Partition), ml.Lag)
				}
			}
		})
	})
}

func (in *kafkaIn) Ready() <-chan struct{} { return in.ready }

// Read decodes the records fetched, and marks for commit those whose
// results were delivered.
func (in *kafkaIn) Read(now int64, max int, events []query.Event) ([]query.Event, bool, error) {
	if !in.started {
		in.started = true
		in.env.Go(in.fetch)
		in.env.Go(in.lag)
	}
	in.markDelivered()
	for len(events) < max {
		if len(in.buffered) == 0 {
			select {
			case recs := <-in.batch:
				in.buffered = recs
			default:
			}
			if len(in.buffered) == 0 {
				break
			}
		}
		n := min(len(in.buffered), max-len(events))
		recs := in.buffered[:n]
		in.buffered = in.buffered[n:]
		size := recordsBytes(recs)
		in.env.Bytes(-size) // read: the engine counts its events
		in.env.Count("source.kafka.records", int64(len(recs)))
		in.env.Count("source.kafka.bytes", size)
		in.mu.Lock()
		for _, r := range recs {
			ev, t, ok := in.decode(r, now)
			if ok {
				events = append(events, ev)
			}
			pk := partitionKey{r.Topic, r.Partition}
			in.pending[pk] = append(in.pending[pk], pendingRecord{offset: r.Offset, epoch: r.LeaderEpoch, t: t})
		}
		in.mu.Unlock()
		if len(in.buffered) > 0 {
			notify(in.ready) // more is here already
		}
	}
	return events, false, nil
}

// decode makes a record's event and the time the engine will stamp it
// with (its arrival, now, under processing time; its event time under
// event time). ok false: the record made no event (dropped and counted).
func (in *kafkaIn) decode(r *kgo.Record, now int64) (query.Event, int64, bool) {
	return decodeRecord(in.env, &in.dec, r.Value, now, func(ev *query.Event) {
		if ev.Key == "" {
			ev.Key = string(r.Key)
		}
		if f := in.spec.TimestampField; f != "" {
			ev.Fields = ev.Fields.With(f, r.Timestamp.UnixMilli())
		}
	}, func() string { return fmt.Sprintf("kafka %s/%d@%d", r.Topic, r.Partition, r.Offset) })
}

// markDelivered marks for commit, per partition in offset order, the
// records up to the first whose results may not be delivered yet.
func (in *kafkaIn) markDelivered() {
	f := in.env.Delivered()
	in.mu.Lock()
	defer in.mu.Unlock()
	marks := map[string]map[int32]kgo.EpochOffset{}
	var n int64
	for pk, q := range in.pending {
		i := 0
		for i < len(q) && q[i].t <= f {
			i++
		}
		if i == 0 {
			continue
		}
		last := q[i-1]
		if marks[pk.topic] == nil {
			marks[pk.topic] = map[int32]kgo.EpochOffset{}
		}
		// A commit names the next offset to read.
		marks[pk.topic][pk.partition] = kgo.EpochOffset{Epoch: last.epoch, Offset: last.offset + 1}
		n += int64(i)
		if i == len(q) {
			delete(in.pending, pk)
		} else {
			in.pending[pk] = slices.Delete(q, 0, i)
		}
	}
	if n > 0 {
		in.cl.MarkCommitOffsets(marks)
		in.env.Count("source.kafka.marked", n)
	}
}

// recordsBytes is what recs hold: their keys and values.
func recordsBytes(recs []*kgo.Record) int64 {
	var n int64
	for _, r := range recs {
		n += int64(len(r.Key) + len(r.Value))
	}
	return n
}

// forget drops what is pending of partitions the group took away: their
// new owner reads them again from the last commit.
func (in *kafkaIn) forget(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for t, ps := range lost {
		for _, p := range ps {
			delete(in.pending, partitionKey{t, p})
		}
	}
}

// Close ends reading; the client stays for Finish's last commit, unless
// the input never started (its query did not build).
func (in *kafkaIn) Close() error {
	if !in.started {
		in.cl.Close()
	}
	in.env.Bytes(-recordsBytes(in.buffered)) // taken from the hand-over, never read
	in.buffered = nil
	return nil
}

// unhold uncounts what was fetched and never read, once fetching ended:
// the batches still in the hand-over (Close uncounts what Read had taken
// from it; the source's goroutine may still be reading when Finish runs).
func (in *kafkaIn) unhold() {
	var size int64
	for {
		select {
		case recs := <-in.batch:
			size += recordsBytes(recs)
			continue
		default:
		}
		break
	}
	in.env.Bytes(-size)
}

// Finish commits, when the query drained, every record read (all its
// results were delivered), then leaves the group; otherwise only what was
// marked already.
func (in *kafkaIn) Finish(drained bool) {
	if !in.started {
		return
	}
	if drained {
		in.markDelivered() // the frontier is at its end: everything
	}
	<-in.fetched // fetching stops with the sources
	in.unhold()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.cl.CommitMarkedOffsets(ctx); err != nil {
		in.env.Count("source.kafka.commit_errors", 1)
	}
	in.cl.Close()
}
