package connector

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/cameo-go/cameo/query"
)

// The kafka sink: each result a record of a topic, its value the result's
// JSON line (without the newline), its key and headers from expressions
// over the result. The producer is franz-go's, idempotent with acks from
// every in-sync replica, so a record retried after a broker fault is
// written once; a record that cannot be delivered within `timeout` (after
// franz-go's retries) fails the query. Records are produced
// asynchronously, off the workers; those not yet acknowledged count in the
// query's in-flight bound, so a slow cluster makes the sources wait.
// Counters: records, bytes, failed (sink.kafka.*).
//
//	sink:
//	  kafka:
//	    brokers: [127.0.0.1:9092]
//	    topic: results
//	    key: key                         # an expression; default: the result's key
//	    headers: {window: 'string(window_start)'}
//	    timeout: 30s
//	    tls: false
//	    sasl: {mechanism: scram-sha-256, user: u, password: p}

// KafkaOut is the kafka sink's settings.
type KafkaOut struct {
	Brokers []string
	Topic   string
	Key     string      // expression; "" is the result's key
	Headers [][2]string // name → expression
	Timeout time.Duration
	TLS     bool
	SASL    *KafkaSASL
}

// KafkaSASL is a Kafka client's SASL login.
type KafkaSASL struct {
	Mechanism      string // plain, scram-sha-256 or scram-sha-512
	User, Password string
}

const (
	maxKafkaBrokers = 64
	maxKafkaHeaders = 32
	maxKafkaTimeout = 10 * time.Minute
)

func init() {
	RegisterOutput(query.OutputKind{Name: "kafka", Parse: func(s *query.Section) query.OutputSpec {
		k := &KafkaOut{Timeout: 30 * time.Second}
		s.Fields(map[string]func(*query.Value){
			"brokers": func(v *query.Value) { k.Brokers = v.Strings() },
			"topic":   func(v *query.Value) { k.Topic = v.Text() },
			"key":     func(v *query.Value) { k.Key = v.Text() },
			"headers": func(v *query.Value) { k.Headers = v.StringMap() },
			"timeout": func(v *query.Value) { k.Timeout = v.Duration() },
			"tls":     func(v *query.Value) { k.TLS = v.Bool() },
			"sasl":    func(v *query.Value) { k.SASL = parseSASL(v.Section()) },
		})
		return k
	}}, openKafkaOut)
}

func parseSASL(s *query.Section) *KafkaSASL {
	a := &KafkaSASL{}
	s.Fields(map[string]func(*query.Value){
		"mechanism": func(v *query.Value) { a.Mechanism = v.Text() },
		"user":      func(v *query.Value) { a.User = v.Text() },
		"password":  func(v *query.Value) { a.Password = v.Text() },
	})
	return a
}

// Kind is "kafka".
func (*KafkaOut) Kind() string { return "kafka" }

// Check validates the settings and compiles the expressions.
func (k *KafkaOut) Check(c *query.Checker) {
	checkBrokers(c, k.Brokers)
	if k.Topic == "" {
		c.Fail("topic", "missing: the topic results are written to")
	} else if len(k.Topic) > 249 {
		c.Fail("topic", "%d characters: Kafka topics have at most 249", len(k.Topic))
	}
	if k.Key != "" {
		if _, err := compileExpr(k.Key); err != nil {
			c.Fail("key", "expression %q does not compile: %v", k.Key, err)
		}
	}
	if len(k.Headers) > maxKafkaHeaders {
		c.Fail("headers", "%d headers: at most %d", len(k.Headers), maxKafkaHeaders)
	}
	for _, h := range k.Headers {
		if _, err := compileExpr(h[1]); err != nil {
			c.Fail("headers."+h[0], "expression %q does not compile: %v", h[1], err)
		}
	}
	if k.Timeout <= 0 || k.Timeout > maxKafkaTimeout {
		c.Fail("timeout", "must be > 0 and at most %v, got %v", maxKafkaTimeout, k.Timeout)
	}
	checkSASL(c, k.SASL)
}

func checkBrokers(c *query.Checker, brokers []string) {
	switch {
	case len(brokers) == 0:
		c.Fail("brokers", "missing: at least one host:port to bootstrap from")
	case len(brokers) > maxKafkaBrokers:
		c.Fail("brokers", "%d brokers: at most %d", len(brokers), maxKafkaBrokers)
	}
	for i, b := range brokers {
		if h, p, err := net.SplitHostPort(b); err != nil || h == "" || p == "" {
			c.Fail(fmt.Sprintf("brokers[%d]", i), "%q: want host:port", b)
		}
	}
}

func checkSASL(c *query.Checker, a *KafkaSASL) {
	if a == nil {
		return
	}
	switch a.Mechanism {
	case "plain", "scram-sha-256", "scram-sha-512":
	default:
		c.Fail("sasl.mechanism", "%q: want plain, scram-sha-256 or scram-sha-512", a.Mechanism)
	}
	if a.User == "" {
		c.Fail("sasl.user", "missing")
	}
}

// Uses is each broker it connects to.
func (k *KafkaOut) Uses() []query.Use { return brokerUses(k.Brokers) }

func brokerUses(brokers []string) []query.Use {
	var out []query.Use
	for i, b := range brokers {
		out = append(out, query.Use{Field: fmt.Sprintf("brokers[%d]", i), What: query.Connects, Path: b})
	}
	return out
}

// Clone implements query.Cloner.
func (k *KafkaOut) Clone() query.OutputSpec {
	c := *k
	c.Brokers = append([]string(nil), k.Brokers...)
	c.Headers = append([][2]string(nil), k.Headers...)
	if k.SASL != nil {
		a := *k.SASL
		c.SASL = &a
	}
	return &c
}

func compileExpr(src string) (*vm.Program, error) {
	return expr.Compile(src, expr.AllowUndefinedVariables())
}

// kafkaClientOpts are the options every Kafka client of a spec shares.
func kafkaClientOpts(brokers []string, useTLS bool, a *KafkaSASL) []kgo.Opt {
	// After a broker error the client refreshes its metadata; franz-go's
	// default waits at least 5 s between refreshes, which would hold every
	// result of a latency target past it.
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.WithLogger(nil), kgo.MetadataMinAge(250 * time.Millisecond)}
	if useTLS {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	if a != nil {
		var m sasl.Mechanism
		switch a.Mechanism {
		case "plain":
			m = plain.Auth{User: a.User, Pass: a.Password}.AsMechanism()
		case "scram-sha-256":
			m = scram.Auth{User: a.User, Pass: a.Password}.AsSha256Mechanism()
		case "scram-sha-512":
			m = scram.Auth{User: a.User, Pass: a.Password}.AsSha512Mechanism()
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts
}

// kafkaOut produces the results.
type kafkaOut struct {
	spec    *KafkaOut
	env     *Env
	cl      *kgo.Client
	key     *vm.Program
	headers []*vm.Program
	scratch map[string]any
	seq     uint64 // the next record's number in write order (Write's goroutine)

	mu     sync.Mutex
	err    error // the first delivery failure
	closed bool
	acks   ackWindow // which records, in write order, are acknowledged
}

// ackWindow finds the acknowledged prefix of records numbered in write
// order, whose acknowledgements come in any order.
type ackWindow struct {
	base uint64 // records before it are all acknowledged
	done []bool // done[i]: record base+i is
}

// ack marks record seq acknowledged and returns the prefix's length.
func (a *ackWindow) ack(seq uint64) uint64 {
	i := int(seq - a.base)
	for len(a.done) <= i {
		a.done = append(a.done, false)
	}
	a.done[i] = true
	n := 0
	for n < len(a.done) && a.done[n] {
		n++
	}
	a.base += uint64(n)
	a.done = a.done[n:]
	return a.base
}

// Acked implements Acker.
func (o *kafkaOut) Acked() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.acks.base
}

func openKafkaOut(spec query.OutputSpec, env *Env) (Output, error) {
	k := spec.(*KafkaOut)
	o := &kafkaOut{spec: k, env: env, scratch: map[string]any{}}
	var err error
	if k.Key != "" {
		if o.key, err = compileExpr(k.Key); err != nil {
			return nil, err
		}
	}
	for _, h := range k.Headers {
		p, err := compileExpr(h[1])
		if err != nil {
			return nil, err
		}
		o.headers = append(o.headers, p)
	}
	opts := append(kafkaClientOpts(k.Brokers, k.TLS, k.SASL),
		kgo.DefaultProduceTopic(k.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // with idempotence, franz-go's default
		kgo.RecordDeliveryTimeout(k.Timeout),
		kgo.ProducerLinger(time.Millisecond),
		kgo.MaxBufferedRecords(1<<20), // the in-flight bound stops the sources long before
	)
	if o.cl, err = kgo.NewClient(opts...); err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return o, nil
}

// Write produces each result; it returns at once, the records delivered
// in the background.
func (o *kafkaOut) Write(results []query.Event) error {
	o.mu.Lock()
	err, closed := o.err, o.closed
	o.mu.Unlock()
	if err != nil {
		return err
	}
	if closed {
		return errors.New("kafka: closed")
	}
	for i := range results {
		seq := o.seq
		o.seq++
		rec, err := o.record(&results[i])
		if err != nil {
			o.env.Drop(0, fmt.Errorf("kafka sink: result %q: %w", results[i].Key, err))
			o.env.Count("sink.kafka.unencodable", 1)
			o.ack(seq) // counted, and done with
			continue
		}
		o.env.Hold(1)
		size := int64(len(rec.Value))
		held := size + int64(len(rec.Key))
		o.env.Bytes(held)
		o.cl.Produce(o.env.Context, rec, func(_ *kgo.Record, err error) {
			defer o.env.Hold(-1)
			defer o.env.Bytes(-held)
			if err != nil {
				o.failed(err) // the query fails: its inputs commit nothing more
				return
			}
			o.ack(seq)
			o.env.Count("sink.kafka.records", 1)
			o.env.Count("sink.kafka.bytes", size)
		})
	}
	return nil
}

func (o *kafkaOut) ack(seq uint64) {
	o.mu.Lock()
	o.acks.ack(seq)
	o.mu.Unlock()
}

func (o *kafkaOut) failed(err error) {
	o.env.Count("sink.kafka.failed", 1)
	o.mu.Lock()
	first := o.err == nil
	if first {
		o.err = fmt.Errorf("sink kafka: topic %s: %w", o.spec.Topic, err)
	}
	e := o.err
	o.mu.Unlock()
	if first && !errors.Is(err, context.Canceled) {
		o.env.Fail(e)
	}
}

// record builds a result's record; Write runs on one goroutine at a time.
func (o *kafkaOut) record(ev *query.Event) (*kgo.Record, error) {
	line := AppendJSON(nil, ev)
	rec := &kgo.Record{Value: line[:len(line)-1], Key: []byte(ev.Key)}
	if o.key == nil && len(o.headers) == 0 {
		return rec, nil
	}
	env := ev.Env(o.scratch)
	if o.key != nil {
		v, err := expr.Run(o.key, env)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		rec.Key = []byte(fmt.Sprint(v))
	}
	for i, p := range o.headers {
		v, err := expr.Run(p, env)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", o.spec.Headers[i][0], err)
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: o.spec.Headers[i][0], Value: []byte(fmt.Sprint(v))})
	}
	return rec, nil
}

// Close waits for every record to be acknowledged (or the query to end),
// then closes the client.
func (o *kafkaOut) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.mu.Unlock()
	ferr := o.cl.Flush(o.env.Context)
	o.cl.Close()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	if ferr != nil {
		return fmt.Errorf("sink kafka: flush: %w", ferr)
	}
	return nil
}
