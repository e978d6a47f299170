package connector

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cameo-go/cameo/query"
)

// The nats source: messages of a JetStream stream read through a durable
// pull consumer, each message's data a JSON object (as a JSON line; its
// "key" field is the event's key). Each message is acknowledged at least
// once: only once every result it can lead to was delivered by the sink
// (Env.Delivered, the query's delivery frontier). Messages held longer
// than half the consumer's ack wait are reported in progress, so the
// server does not hand them to someone else while their window is open.
// A query that ends without draining (it failed, or was stopped) gives
// back what it read and did not acknowledge (a negative acknowledgement),
// so it is delivered again at once; a node that dies leaves it to be
// delivered again after the ack wait. Either way results may repeat,
// never go missing. Several nodes running the same spec on one durable
// consumer share its messages: that is how a query scales out over
// machines with NATS.
//
//	sources:
//	  - name: clicks
//	    nats:
//	      servers: [nats://127.0.0.1:4222]
//	      stream: CLICKS
//	      consumer: cameo-clicks       # durable; created when missing
//	      subjects: [clicks.>]         # the consumer's filter, when it is created
//	      start: all                   # or new: where a new consumer starts
//	      ack_wait: 30s
//	      max_ack_pending: 10000       # unacknowledged messages the server lets out
//	      timestamp_field: ts          # the message's stream time (Unix ms) as field ts
//	      subject_field: subject       # the message's subject as a field
//
// The server bounds what is read and not yet acknowledged
// (max_ack_pending), and the source fetches only as fast as the query
// reads: a slow sink stops the fetching. Undecodable messages are dropped
// and counted with stream and sequence. Counters (source.nats.*):
// messages, bytes, redelivered (messages the server delivered more than
// once), acked, naked, in_progress, fetch_errors; gauges pending (in the
// stream, not yet delivered to the consumer) and ack_pending.

// NATSIn is the nats source's settings.
type NATSIn struct {
	NATSConn
	Stream         string
	Consumer       string
	Subjects       []string
	Start          string // all (default) or new
	AckWait        time.Duration
	MaxAckPending  int
	TimestampField string
	SubjectField   string
}

const (
	maxNATSSubjects      = 64
	maxNATSAckWait       = time.Hour
	maxNATSMaxAckPending = 1_000_000
)

func init() {
	RegisterInput(query.InputKind{Name: "nats", Parse: func(s *query.Section) query.InputSpec {
		n := &NATSIn{Start: "all", AckWait: 30 * time.Second, MaxAckPending: 10_000}
		s.Fields(n.natsFields(map[string]func(*query.Value){
			"stream":          func(v *query.Value) { n.Stream = v.Text() },
			"consumer":        func(v *query.Value) { n.Consumer = v.Text() },
			"subjects":        func(v *query.Value) { n.Subjects = v.Strings() },
			"start":           func(v *query.Value) { n.Start = v.Text() },
			"ack_wait":        func(v *query.Value) { n.AckWait = v.Duration() },
			"max_ack_pending": func(v *query.Value) { n.MaxAckPending = int(v.Int()) },
			"timestamp_field": func(v *query.Value) { n.TimestampField = v.Text() },
			"subject_field":   func(v *query.Value) { n.SubjectField = v.Text() },
		}))
		return n
	}}, openNATSIn)
}

// Kind is "nats".
func (*NATSIn) Kind() string { return "nats" }

// Check validates the settings; the fields are the messages' (unknown
// until read), so nil.
func (n *NATSIn) Check(c *query.Checker) map[string]string {
	n.check(c)
	if n.Stream == "" {
		c.Fail("stream", "missing: the JetStream stream to read")
	} else if !validNATSName(n.Stream) {
		c.Fail("stream", "%q is not a stream name (no spaces, '.', '*', '>' or slashes)", n.Stream)
	}
	if n.Consumer == "" {
		c.Fail("consumer", "missing: the durable consumer, whose acknowledgements say what was delivered")
	} else if !validNATSName(n.Consumer) {
		c.Fail("consumer", "%q is not a consumer name (no spaces, '.', '*', '>' or slashes)", n.Consumer)
	}
	if len(n.Subjects) > maxNATSSubjects {
		c.Fail("subjects", "%d subjects: at most %d", len(n.Subjects), maxNATSSubjects)
	}
	for i, s := range n.Subjects {
		if !validSubject(s, true) {
			c.Fail(fmt.Sprintf("subjects[%d]", i), "%q is not a subject filter", s)
		}
	}
	switch n.Start {
	case "all", "new":
	default:
		c.Fail("start", "%q: want all or new (where a consumer that does not exist yet starts; an existing one goes on from its acknowledgements)", n.Start)
	}
	if n.AckWait < time.Second || n.AckWait > maxNATSAckWait {
		c.Fail("ack_wait", "must be 1s to %v, got %v", maxNATSAckWait, n.AckWait)
	}
	if n.MaxAckPending < 1 || n.MaxAckPending > maxNATSMaxAckPending {
		c.Fail("max_ack_pending", "must be 1 to %d, got %d", maxNATSMaxAckPending, n.MaxAckPending)
	}
	if n.TimestampField != "" && n.TimestampField == n.SubjectField {
		c.Fail("subject_field", "%q is also the timestamp_field", n.SubjectField)
	}
	return nil
}

// Uses is each server it connects to.
func (n *NATSIn) Uses() []query.Use { return n.uses() }

// Clone implements query.Cloner.
func (n *NATSIn) Clone() query.InputSpec {
	c := *n
	c.NATSConn = n.clone()
	c.Subjects = append([]string(nil), n.Subjects...)
	return &c
}

// pendingMsg is a message read and not yet acknowledged: the subject its
// acknowledgement goes to (not the message: a window open for long would
// keep its data), with the time the engine stamped its event
// (math.MinInt64: it made no event).
type pendingMsg struct {
	reply string
	t     int64
}

// JetStream's acknowledgement bodies.
var (
	natsAck        = []byte("+ACK")
	natsNak        = []byte("-NAK")
	natsInProgress = []byte("+WPI")
)

type natsIn struct {
	spec  *NATSIn
	dec   query.LineDecoder // Read's: one goroutine at a time
	env   *Env
	msgs  chan jetstream.Msg // fetched, not yet read
	ready chan struct{}

	started bool
	touched int64         // when pending messages were last reported in progress
	read    []pendingMsg  // scratch: the messages of one Read
	fetched chan struct{} // closed when fetch returned

	mu      sync.Mutex
	nc      *nats.Conn
	err     error        // what ended fetching for good (Read returns it)
	pending []pendingMsg // read, not acknowledged, in the order read
}

func openNATSIn(spec query.InputSpec, env *Env) (Input, error) {
	n := spec.(*NATSIn)
	return &natsIn{spec: n, env: env, msgs: make(chan jetstream.Msg, 2*env.MaxBatch), ready: make(chan struct{}, 1), fetched: make(chan struct{})}, nil
}

func (in *natsIn) Ready() <-chan struct{} { return in.ready }

// fetch connects, finds or creates the consumer and hands its messages
// over as the query reads them. Its channel holds two batches: a query
// that does not read (its sources wait for credit) stops fetching, and the
// server stops delivering at max_ack_pending.
func (in *natsIn) fetch() {
	defer close(in.fetched)
	ctx := in.env.Context
	cons, err := in.consumer(ctx)
	if err != nil {
		if ctx.Err() == nil {
			in.fail(err)
		}
		return
	}
	in.env.Go(func() { in.lag(cons) })
	it, err := cons.Messages(jetstream.PullMaxMessages(min(in.env.MaxBatch, in.spec.MaxAckPending)))
	if err != nil {
		in.fail(fmt.Errorf("nats: consumer %s of stream %s: %w", in.spec.Consumer, in.spec.Stream, err))
		return
	}
	var back []jetstream.Msg
	defer func() { in.giveBack(it, back) }()
	for ctx.Err() == nil {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			in.env.Count("source.nats.fetch_errors", 1)
			continue
		}
		in.env.Bytes(int64(len(m.Data()))) // held until read
		select {
		case in.msgs <- m:
			notify(in.ready)
		case <-ctx.Done():
			in.env.Bytes(-int64(len(m.Data())))
			back = append(back, m)
			return
		}
	}
}

// giveBack ends fetching: the messages the client had fetched ahead
// (delivered to this reader, never handed to the query) go back to the
// server at once, rather than after the ack wait.
func (in *natsIn) giveBack(it jetstream.MessagesContext, back []jetstream.Msg) {
	it.Drain()
	for {
		m, err := it.Next(jetstream.NextMaxWait(time.Second))
		if err != nil {
			break
		}
		back = append(back, m)
	}
	it.Stop()
	for _, m := range back {
		_ = m.Nak()
	}
	if len(back) > 0 {
		in.env.Count("source.nats.naked", int64(len(back)))
	}
}

// consumer connects and returns the durable consumer, creating it with the
// spec's settings when it does not exist. An existing one is used as it
// is (its acknowledgements are where reading goes on from).
func (in *natsIn) consumer(ctx context.Context) (jetstream.Consumer, error) {
	nc, err := in.spec.connect(in.env, "source.nats")
	if err != nil {
		return nil, err
	}
	in.mu.Lock()
	in.nc = nc
	in.mu.Unlock()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, natsConnectTimeout)
	defer cancel()
	s := in.spec
	cons, err := js.Consumer(octx, s.Stream, s.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cfg := jetstream.ConsumerConfig{
			Durable:       s.Consumer,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       s.AckWait,
			MaxAckPending: s.MaxAckPending,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		}
		if s.Start == "new" {
			cfg.DeliverPolicy = jetstream.DeliverNewPolicy
		}
		switch len(s.Subjects) {
		case 0:
		case 1:
			cfg.FilterSubject = s.Subjects[0]
		default:
			cfg.FilterSubjects = s.Subjects
		}
		cons, err = js.CreateConsumer(octx, s.Stream, cfg)
	}
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("nats: stream %s does not exist", s.Stream)
	case err != nil:
		return nil, fmt.Errorf("nats: consumer %s of stream %s: %w", s.Consumer, s.Stream, err)
	}
	return cons, nil
}

func (in *natsIn) fail(err error) {
	in.mu.Lock()
	if in.err == nil {
		in.err = err
	}
	in.mu.Unlock()
	notify(in.ready)
}

// lag reports, every lagEvery, the consumer's backlog as the server
// counts it: messages not yet delivered to it, and delivered but not
// acknowledged (read and waiting for delivery included).
func (in *natsIn) lag(cons jetstream.Consumer) {
	ctx := in.env.Context
	every(ctx, lagEvery, func() {
		info, err := cons.Info(ctx)
		if err != nil {
			if ctx.Err() == nil {
				in.env.Count("source.nats.lag_errors", 1)
			}
			return
		}
		in.env.Gauge("source.nats.pending", int64(min(info.NumPending, math.MaxInt64)))
		in.env.Gauge("source.nats.ack_pending", int64(info.NumAckPending))
	})
}

// Read decodes the messages fetched, and acknowledges those whose results
// were delivered.
func (in *natsIn) Read(now int64, max int, events []query.Event) ([]query.Event, bool, error) {
	if !in.started {
		in.started = true
		in.touched = now
		in.env.Go(in.fetch)
	}
	in.mu.Lock()
	err := in.err
	in.mu.Unlock()
	if err != nil {
		return events, false, err
	}
	in.ackDelivered()
	in.keepAlive(now)
	var n, size int64
	for len(events) < max {
		var m jetstream.Msg
		select {
		case m = <-in.msgs:
		default:
		}
		if m == nil {
			break
		}
		n++
		size += int64(len(m.Data()))
		ev, t, ok := in.decode(m, now)
		if ok {
			events = append(events, ev)
		}
		in.read = append(in.read, pendingMsg{reply: m.Reply(), t: t})
	}
	if n > 0 {
		in.mu.Lock() // once per batch: Finish may read pending meanwhile
		in.pending = append(in.pending, in.read...)
		in.mu.Unlock()
		clear(in.read)
		in.read = in.read[:0]
		in.env.Bytes(-size) // read: the engine counts its events
		in.env.Count("source.nats.messages", n)
		in.env.Count("source.nats.bytes", size)
		if len(in.msgs) > 0 {
			notify(in.ready) // more is here already
		}
	}
	return events, false, nil
}

// decode makes a message's event and the time the engine will stamp it
// with (see kafkaIn.decode). ok false: dropped and counted.
func (in *natsIn) decode(m jetstream.Msg, now int64) (query.Event, int64, bool) {
	md, err := m.Metadata()
	where := func() string { return "nats " + in.spec.Stream }
	if err != nil {
		in.env.Drop(0, fmt.Errorf("%s: %w", where(), err))
		return query.Event{}, math.MinInt64, false
	}
	if md.NumDelivered > 1 {
		in.env.Count("source.nats.redelivered", 1)
	}
	return decodeRecord(in.env, &in.dec, m.Data(), now, func(ev *query.Event) {
		if f := in.spec.TimestampField; f != "" {
			ev.Fields = ev.Fields.With(f, md.Timestamp.UnixMilli())
		}
		if f := in.spec.SubjectField; f != "" {
			ev.Fields = ev.Fields.With(f, m.Subject())
		}
	}, func() string { return fmt.Sprintf("nats %s#%d", in.spec.Stream, md.Sequence.Stream) })
}

// ackDelivered acknowledges, in the order read, the messages up to the
// first whose results may not be delivered yet.
func (in *natsIn) ackDelivered() {
	f := in.env.Delivered()
	in.mu.Lock()
	defer in.mu.Unlock()
	i := 0
	for i < len(in.pending) && in.pending[i].t <= f {
		i++
	}
	if i == 0 {
		return
	}
	var errs int64
	for _, p := range in.pending[:i] {
		if in.nc.Publish(p.reply, natsAck) != nil {
			errs++ // the server delivers it again after the ack wait
		}
	}
	in.pending = append(in.pending[:0], in.pending[i:]...)
	in.env.Count("source.nats.acked", int64(i)-errs)
	if errs > 0 {
		in.env.Count("source.nats.ack_errors", errs)
	}
}

// keepAlive reports every pending message in progress once per half ack
// wait, so that messages held for an open window are not delivered to
// another reader meanwhile.
func (in *natsIn) keepAlive(now int64) {
	if now-in.touched < int64(in.spec.AckWait/2) {
		return
	}
	in.touched = now
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, p := range in.pending {
		_ = in.nc.Publish(p.reply, natsInProgress) // a lost one is delivered again: at least once
	}
	if len(in.pending) > 0 {
		in.env.Count("source.nats.in_progress", int64(len(in.pending)))
	}
}

// Close ends reading; the connection stays for Finish.
func (in *natsIn) Close() error { return nil }

// Finish acknowledges, when the query drained, every message read (all
// its results were delivered); otherwise it gives back what was read and
// not acknowledged, and what was fetched and never read, so that the
// server delivers it again at once. Then it closes the connection.
func (in *natsIn) Finish(drained bool) {
	if !in.started {
		return
	}
	if drained {
		in.ackDelivered() // the frontier is at its end: everything read
	}
	// Fetching stops with the sources (its context; connecting is bounded
	// by its timeout); what it handed over and no one read goes back too.
	<-in.fetched
	in.mu.Lock()
	back := in.pending
	in.pending = nil
	nc := in.nc
	in.mu.Unlock()
	var unread int64
	for {
		select {
		case m := <-in.msgs:
			unread += int64(len(m.Data()))
			back = append(back, pendingMsg{reply: m.Reply()})
			continue
		default:
		}
		break
	}
	in.env.Bytes(-unread)
	for _, p := range back {
		if nc != nil {
			_ = nc.Publish(p.reply, natsNak)
		}
	}
	if len(back) > 0 {
		in.env.Count("source.nats.naked", int64(len(back)))
	}
	if nc != nil {
		_ = nc.FlushTimeout(5 * time.Second) // the acknowledgements reach the server
		nc.Close()
	}
}
