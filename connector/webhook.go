package connector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cameo-go/cameo/query"
)

// The webhook sink: results POSTed as JSON lines (application/x-ndjson)
// to a URL, in requests of at most `batch` results, each retried on a
// network error, a 5xx or a 429 with exponential backoff; a request that
// still fails fails the query. Deliveries run in the sink's own goroutine,
// never on a worker: Write queues a request and returns at once; each
// queued result counts in the query's in-flight bound (Env.Hold), so a
// slow endpoint makes the sources wait instead of a queue growing. Counters: requests,
// retries, failed, results (sink.webhook.*).
//
//	sink:
//	  webhook: {url: http://127.0.0.1:9000/hook, batch: 100, timeout: 5s, retries: 3, backoff: 100ms, headers: {X-Token: abc}}

// Webhook is the webhook sink's settings.
type Webhook struct {
	URL     string
	Batch   int           // results per request; default 100
	Timeout time.Duration // per request; default 5 s
	Retries int           // attempts after the first; default 3
	Backoff time.Duration // before the first retry, doubled after each; default 100 ms
	Headers [][2]string   // added to each request, in order
}

// Bounds on a webhook's settings.
const (
	maxWebhookBatch   = 10_000
	maxWebhookTimeout = time.Minute
	maxWebhookRetries = 10
	maxWebhookBackoff = 10 * time.Second
	maxWebhookHeaders = 32
)

func init() {
	RegisterOutput(query.OutputKind{Name: "webhook", Parse: func(s *query.Section) query.OutputSpec {
		w := &Webhook{Batch: 100, Timeout: 5 * time.Second, Retries: 3, Backoff: 100 * time.Millisecond}
		s.Fields(map[string]func(*query.Value){
			"url":     func(v *query.Value) { w.URL = v.Text() },
			"batch":   func(v *query.Value) { w.Batch = int(v.Int()) },
			"timeout": func(v *query.Value) { w.Timeout = v.Duration() },
			"retries": func(v *query.Value) { w.Retries = int(v.Int()) },
			"backoff": func(v *query.Value) { w.Backoff = v.Duration() },
			"headers": func(v *query.Value) { w.Headers = v.StringMap() },
		})
		return w
	}}, openWebhook)
}

// Kind is "webhook".
func (*Webhook) Kind() string { return "webhook" }

// Check validates the settings.
func (w *Webhook) Check(c *query.Checker) {
	switch u, err := url.Parse(w.URL); {
	case w.URL == "":
		c.Fail("url", "missing: where to POST the results")
	case err != nil:
		c.Fail("url", "%q does not parse: %v", w.URL, err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		c.Fail("url", "%q: want http:// or https:// and a host", w.URL)
	}
	if w.Batch < 1 || w.Batch > maxWebhookBatch {
		c.Fail("batch", "must be 1 to %d results per request, got %d", maxWebhookBatch, w.Batch)
	}
	if w.Timeout <= 0 || w.Timeout > maxWebhookTimeout {
		c.Fail("timeout", "must be > 0 and at most %v, got %v", maxWebhookTimeout, w.Timeout)
	}
	if w.Retries < 0 || w.Retries > maxWebhookRetries {
		c.Fail("retries", "must be 0 to %d, got %d", maxWebhookRetries, w.Retries)
	}
	if w.Backoff < 0 || w.Backoff > maxWebhookBackoff {
		c.Fail("backoff", "must be 0 to %v, got %v", maxWebhookBackoff, w.Backoff)
	}
	if len(w.Headers) > maxWebhookHeaders {
		c.Fail("headers", "%d headers: at most %d", len(w.Headers), maxWebhookHeaders)
	}
	for _, h := range w.Headers {
		if !validHeader(h[0]) {
			c.Fail("headers."+h[0], "not a valid header name")
		}
	}
}

func validHeader(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || bytes.ContainsRune([]byte(`"(),/:;<=>?@[\]{}`), r) {
			return false
		}
	}
	return true
}

// Uses is the host it connects to.
func (w *Webhook) Uses() []query.Use {
	u, err := url.Parse(w.URL)
	if err != nil {
		return nil
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	return []query.Use{{Field: "url", What: query.Connects, Path: host}}
}

// Clone implements query.Cloner.
func (w *Webhook) Clone() query.OutputSpec {
	c := *w
	c.Headers = append([][2]string(nil), w.Headers...)
	return &c
}

// webhook delivers batches from one goroutine.
type webhook struct {
	spec   *Webhook
	env    *Env
	client *http.Client

	mu      sync.Mutex
	pending []query.Event // results not yet in a request
	queue   []body        // requests to deliver, in order
	closed  bool
	wake    chan struct{} // a request was queued, or Close
	done    chan struct{} // deliver returned
	err     error         // the failure that ended deliveries
	acked   atomic.Uint64 // results delivered, in order (Acker)
}

// Acked implements Acker: requests are delivered one after another, in
// the order written.
func (w *webhook) Acked() uint64 { return w.acked.Load() }

type body struct {
	data    []byte
	results int64
}

func openWebhook(spec query.OutputSpec, env *Env) (Output, error) {
	w := &webhook{spec: spec.(*Webhook), env: env, wake: make(chan struct{}, 1), done: make(chan struct{})}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2
	w.client = &http.Client{Timeout: w.spec.Timeout, Transport: tr}
	env.Go(w.deliver)
	return w, nil
}

// Write queues the results in requests of Batch and returns.
func (w *webhook) Write(results []query.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("webhook: closed")
	}
	if w.err != nil {
		return w.err
	}
	w.pending = append(w.pending, results...)
	for len(w.pending) >= w.spec.Batch {
		w.queueLocked(w.pending[:w.spec.Batch])
		w.pending = w.pending[w.spec.Batch:]
	}
	return nil
}

// queueLocked queues one request of events and holds their count.
func (w *webhook) queueLocked(events []query.Event) {
	n := int64(len(events))
	w.env.Hold(n)
	b := body{data: appendLines(nil, events), results: n}
	w.env.Bytes(int64(len(b.data)))
	w.queue = append(w.queue, b)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Close queues what is left and waits until every request was delivered,
// one failed for good, or the query ended (giving the rest up).
func (w *webhook) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		if len(w.pending) > 0 {
			w.queueLocked(w.pending)
			w.pending = nil
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	w.mu.Unlock()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// deliver posts each queued request in order until Close and an empty
// queue; after a failure for good (the query fails) it releases the rest.
func (w *webhook) deliver() {
	defer close(w.done)
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			closed := w.closed
			w.mu.Unlock()
			if closed {
				return
			}
			select {
			case <-w.wake:
			case <-w.env.Context.Done():
				w.mu.Lock()
				w.closed = true // the query ended: nothing more comes
				w.mu.Unlock()
			}
			continue
		}
		b := w.queue[0]
		w.queue = w.queue[1:]
		failed := w.err != nil
		w.mu.Unlock()
		if !failed {
			err := w.post(b.data)
			if err == nil {
				w.acked.Add(uint64(b.results))
			}
			if err != nil {
				w.mu.Lock()
				w.err = fmt.Errorf("sink webhook: %w", err)
				w.mu.Unlock()
				w.env.Count("sink.webhook.failed", 1)
				w.env.Fail(w.err)
			}
		}
		w.env.Hold(-b.results)
		w.env.Bytes(-int64(len(b.data)))
	}
}

// post delivers one body, retrying what may succeed later.
func (w *webhook) post(body []byte) error {
	ctx := w.env.Context
	backoff := w.spec.Backoff
	var last error
	for attempt := 0; attempt <= w.spec.Retries; attempt++ {
		if attempt > 0 {
			w.env.Count("sink.webhook.retries", 1)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%s: given up, the query ended: %w (after %d attempts; last: %v)", w.spec.URL, ctx.Err(), attempt, last)
			}
			backoff = min(2*backoff, maxWebhookBackoff)
		}
		w.env.Count("sink.webhook.requests", 1)
		retry, err := w.once(ctx, body)
		if err == nil {
			w.env.Count("sink.webhook.results", int64(bytes.Count(body, []byte{'\n'})))
			return nil
		}
		last = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("%s: %w (after %d attempts)", w.spec.URL, last, w.spec.Retries+1)
}

// once makes one request; retry says whether another attempt may succeed.
func (w *webhook) once(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.spec.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	for _, h := range w.spec.Headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("answered %s", resp.Status)
	}
	return false, fmt.Errorf("answered %s (not retried)", resp.Status)
}
