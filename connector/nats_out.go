package connector

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/cameo-go/cameo/query"
)

// The nats sink: each result a message published to a JetStream subject,
// its data the result's JSON line (without the newline), its headers from
// expressions over the result. Each message carries a Nats-Msg-Id unique
// to the query's run, so a message published again after a lost
// acknowledgement is stored once (within the stream's duplicate window).
// Publishing is asynchronous, off the workers, and waits for the stream's
// acknowledgement; one that fails (timeout, disconnection, a storage
// error) is published again after a backoff, up to `retries` times, and
// then fails the query. A subject no stream takes fails the query at once.
// Messages not yet acknowledged count in the query's in-flight bound, so a
// slow server makes the sources wait. Counters (sink.nats.*): messages,
// bytes, retries, duplicates (stored before, the stream said), failed.
//
//	sink:
//	  nats:
//	    servers: [nats://127.0.0.1:4222]
//	    subject: results.counts
//	    headers: {window: 'string(window_start)'}
//	    timeout: 5s        # for each acknowledgement
//	    retries: 5
//	    backoff: 100ms     # before the first retry, doubled after each

// NATSOut is the nats sink's settings.
type NATSOut struct {
	NATSConn
	Subject string
	Headers [][2]string // name → expression
	Timeout time.Duration
	Retries int
	Backoff time.Duration
}

const (
	maxNATSHeaders = 32
	maxNATSTimeout = 10 * time.Minute
	maxNATSRetries = 100
	maxNATSBackoff = time.Minute
)

func init() {
	RegisterOutput(query.OutputKind{Name: "nats", Parse: func(s *query.Section) query.OutputSpec {
		n := &NATSOut{Timeout: 5 * time.Second, Retries: 5, Backoff: 100 * time.Millisecond}
		s.Fields(n.natsFields(map[string]func(*query.Value){
			"subject": func(v *query.Value) { n.Subject = v.Text() },
			"headers": func(v *query.Value) { n.Headers = v.StringMap() },
			"timeout": func(v *query.Value) { n.Timeout = v.Duration() },
			"retries": func(v *query.Value) { n.Retries = int(v.Int()) },
			"backoff": func(v *query.Value) { n.Backoff = v.Duration() },
		}))
		return n
	}}, openNATSOut)
}

// Kind is "nats".
func (*NATSOut) Kind() string { return "nats" }

// Check validates the settings and compiles the expressions.
func (n *NATSOut) Check(c *query.Checker) {
	n.check(c)
	if n.Subject == "" {
		c.Fail("subject", "missing: the subject results are published to")
	} else if !validSubject(n.Subject, false) {
		c.Fail("subject", "%q is not a subject to publish to (dot-separated tokens, no wildcards or spaces)", n.Subject)
	}
	if len(n.Headers) > maxNATSHeaders {
		c.Fail("headers", "%d headers: at most %d", len(n.Headers), maxNATSHeaders)
	}
	for _, h := range n.Headers {
		if !validHeader(h[0]) {
			c.Fail("headers."+h[0], "not a valid header name")
		} else if h[0] == jetstream.MsgIDHeader {
			c.Fail("headers."+h[0], "set by the sink itself (one per message, for deduplication)")
		}
		if _, err := compileExpr(h[1]); err != nil {
			c.Fail("headers."+h[0], "expression %q does not compile: %v", h[1], err)
		}
	}
	if n.Timeout <= 0 || n.Timeout > maxNATSTimeout {
		c.Fail("timeout", "must be > 0 and at most %v, got %v", maxNATSTimeout, n.Timeout)
	}
	if n.Retries < 0 || n.Retries > maxNATSRetries {
		c.Fail("retries", "must be 0 to %d, got %d", maxNATSRetries, n.Retries)
	}
	if n.Backoff < 0 || n.Backoff > maxNATSBackoff {
		c.Fail("backoff", "must be 0 to %v, got %v", maxNATSBackoff, n.Backoff)
	}
}

// Uses is each server it connects to.
func (n *NATSOut) Uses() []query.Use { return n.uses() }

// Clone implements query.Cloner.
func (n *NATSOut) Clone() query.OutputSpec {
	c := *n
	c.NATSConn = n.clone()
	c.Headers = append([][2]string(nil), n.Headers...)
	return &c
}

// natsPub is one message on its way: published (fut set), or refused
// by the connection (err) and waiting to be published again.
type natsPub struct {
	msg   *nats.Msg
	fut   jetstream.PubAckFuture
	err   error
	tries int
}

// natsOut publishes from one goroutine, in the order written, and takes
// the acknowledgements in that order.
type natsOut struct {
	spec    *NATSOut
	env     *Env
	headers []*vm.Program
	scratch map[string]any
	run     string // this run's prefix of message ids
	seq     uint64 // the next message's number (Write's goroutine)
	js      jetstream.JetStream

	mu     sync.Mutex
	queue  []*natsPub // written, not yet taken by publish
	closed bool       // Close was called
	ended  bool       // publish returned
	err    error      // what ended publishing for good
	wake   chan struct{}
	done   chan struct{} // publish returned
	acked  atomic.Uint64 // messages acknowledged, in order (Acker)
}

func openNATSOut(spec query.OutputSpec, env *Env) (Output, error) {
	n := spec.(*NATSOut)
	o := &natsOut{spec: n, env: env, scratch: map[string]any{}, run: nuid.Next(), wake: make(chan struct{}, 1), done: make(chan struct{})}
	for _, h := range n.Headers {
		p, err := compileExpr(h[1])
		if err != nil {
			return nil, err
		}
		o.headers = append(o.headers, p)
	}
	env.Go(o.publish)
	return o, nil
}

// Acked implements Acker.
func (o *natsOut) Acked() uint64 { return o.acked.Load() }

// Write queues one message per result and returns; publish sends them.
func (o *natsOut) Write(results []query.Event) error {
	pubs := make([]*natsPub, 0, len(results))
	for i := range results {
		m, err := o.message(&results[i])
		if err != nil {
			o.env.Drop(0, fmt.Errorf("nats sink: result %q: %w", results[i].Key, err))
			o.env.Count("sink.nats.unencodable", 1)
			m = nil // counted; acknowledged in its turn
		}
		pubs = append(pubs, &natsPub{msg: m})
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return o.err
	}
	if o.closed || o.ended {
		return errors.New("nats: the sink is closed")
	}
	var size int64
	for _, p := range pubs {
		size += p.size()
	}
	o.env.Hold(int64(len(pubs)))
	o.env.Bytes(size)
	o.queue = append(o.queue, pubs...)
	notify(o.wake)
	return nil
}

// message builds a result's message; Write runs on one goroutine at a time.
func (o *natsOut) message(ev *query.Event) (*nats.Msg, error) {
	line := AppendJSON(nil, ev)
	m := nats.NewMsg(o.spec.Subject)
	m.Data = line[:len(line)-1]
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s-%d", o.run, o.seq))
	o.seq++
	if len(o.headers) == 0 {
		return m, nil
	}
	env := ev.Env(o.scratch)
	for i, p := range o.headers {
		v, err := expr.Run(p, env)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", o.spec.Headers[i][0], err)
		}
		m.Header.Set(o.spec.Headers[i][0], fmt.Sprint(v))
	}
	return m, nil
}

// publish connects, then publishes what Write queued and waits for the
// acknowledgements in order, publishing again what failed. It returns
// when the sink closed and everything was acknowledged, when a message
// failed for good (the query fails), or when the query ended.
func (o *natsOut) publish() {
	var flight []*natsPub // published, in order, awaiting acknowledgement
	defer func() {
		// Whatever is left is given up (the query failed or ended): no
		// more is taken, and what was held is released.
		o.mu.Lock()
		o.ended = true
		left := append(o.queue, flight...)
		o.queue = nil
		o.mu.Unlock()
		var size int64
		for _, p := range left {
			size += p.size()
		}
		o.env.Hold(-int64(len(left)))
		o.env.Bytes(-size)
		close(o.done)
	}()
	ctx := o.env.Context
	nc, err := o.spec.connect(o.env, "sink.nats")
	if err != nil {
		o.failed(err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncTimeout(o.spec.Timeout),
		jetstream.WithPublishAsyncMaxPending(1<<20)) // the in-flight bound stops the sources long before
	if err != nil {
		o.failed(fmt.Errorf("nats: %w", err))
		return
	}
	o.js = js
	for {
		o.mu.Lock()
		newer := o.queue
		o.queue = nil
		closed := o.closed
		o.mu.Unlock()
		for _, p := range newer {
			if p.msg != nil {
				o.send(p)
			}
			flight = append(flight, p)
		}
		for len(flight) > 0 && flight[0].msg == nil { // unencodable: done with, in its turn
			o.settle(flight[0], nil)
			flight = flight[1:]
		}
		if len(flight) == 0 {
			if closed {
				return
			}
			select {
			case <-o.wake:
			case <-ctx.Done():
				return
			}
			continue
		}
		head := flight[0]
		if head.fut == nil { // its publish was refused
			if !o.retry(flight, head.err) {
				return
			}
			continue
		}
		select {
		case a := <-head.fut.Ok():
			o.settle(head, a)
			flight = flight[1:]
		case err := <-head.fut.Err():
			if !o.retry(flight, err) {
				return
			}
		case <-o.wake:
		case <-ctx.Done():
			return
		}
	}
}

// send publishes p; a publish the connection refuses leaves p without a
// future, with the reason.
func (o *natsOut) send(p *natsPub) {
	p.fut, p.err = o.js.PublishMsgAsync(p.msg)
	if p.err != nil {
		p.fut = nil
	}
}

// settle is done with the head p: acknowledged (a) or unencodable (nil).
func (o *natsOut) settle(p *natsPub, a *jetstream.PubAck) {
	if a != nil {
		if a.Duplicate {
			o.env.Count("sink.nats.duplicates", 1)
		}
		o.env.Count("sink.nats.messages", 1)
		o.env.Count("sink.nats.bytes", int64(len(p.msg.Data)))
	}
	o.acked.Add(1)
	o.env.Hold(-1)
	o.env.Bytes(-p.size())
}

// size is what p holds: its message's data and headers, roughly.
func (p *natsPub) size() int64 {
	if p.msg == nil {
		return 0
	}
	n := len(p.msg.Data) + len(p.msg.Subject)
	for k, vs := range p.msg.Header {
		n += len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	return int64(n)
}

// retry handles the head's failure err: a subject no stream takes fails
// the query at once; otherwise, after a backoff, the head is published
// again, with every later message whose publish failed meanwhile (a lost
// connection fails all that were on their way), each within its retries.
// false: publishing ended (the query failed or ended).
func (o *natsOut) retry(flight []*natsPub, err error) bool {
	head := flight[0]
	if errors.Is(err, jetstream.ErrNoStreamResponse) {
		o.failed(fmt.Errorf("nats: no stream takes subject %s", o.spec.Subject))
		return false
	}
	head.tries++
	if head.tries > o.spec.Retries {
		o.failed(fmt.Errorf("nats: subject %s: not acknowledged after %d attempts: %w", o.spec.Subject, head.tries, err))
		return false
	}
	wait := o.spec.Backoff
	for i := 1; i < head.tries && wait < maxNATSBackoff; i++ {
		wait *= 2
	}
	wait = min(wait, maxNATSBackoff)
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-o.env.Context.Done():
			t.Stop()
			return false
		}
	}
	o.env.Count("sink.nats.retries", 1)
	o.send(head)
	for _, p := range flight[1:] {
		if p.msg == nil {
			continue
		}
		if p.fut != nil {
			select {
			case p.err = <-p.fut.Err():
			default:
				continue // on its way
			}
			p.fut = nil
		}
		if p.tries >= o.spec.Retries {
			continue // fails at the head, with its error
		}
		p.tries++
		o.env.Count("sink.nats.retries", 1)
		o.send(p)
	}
	return true
}

func (o *natsOut) failed(err error) {
	o.env.Count("sink.nats.failed", 1)
	o.mu.Lock()
	first := o.err == nil
	if first {
		o.err = fmt.Errorf("sink %w", err)
	}
	e := o.err
	o.mu.Unlock()
	if first && o.env.Context.Err() == nil {
		o.env.Fail(e)
	}
}

// Close waits until every message was acknowledged, one failed for good,
// or the query ended (giving the rest up).
func (o *natsOut) Close() error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		notify(o.wake)
	}
	o.mu.Unlock()
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}
