package connector_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

func webhookSpec(url, extra string) string {
	return `
name: hook
latency_target: 1s
sources:
  - name: s
    generator: {rate: 100000, duration: 1s, seed: 3, keys: {count: 7}}
pipeline:
  - key_by: key
  - window: {tumbling: 100ms}
    aggregate: {n: count()}
sink:
  webhook: {url: '` + url + `', batch: 5` + extra + `}
`
}

// collector is a webhook endpoint that keeps what it is sent, failing the
// first `fail` requests with a 503.
type collector struct {
	mu       sync.Mutex
	lines    []map[string]any
	requests atomic.Int64
	fail     int64
	header   string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := c.requests.Add(1)
	if n <= c.fail {
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Content-Type") != "application/x-ndjson" {
		http.Error(w, "want ndjson", http.StatusUnsupportedMediaType)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.header = r.Header.Get("X-Token")
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.lines = append(c.lines, m)
	}
}

func runHook(t *testing.T, spec string) (*runtime.Query, error) {
	t.Helper()
	plan, err := query.Parse("hook.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	_, q := startQuery(t, plan, runtime.WithWorkers(2), runtime.WithUnpacedSources())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return q, q.Wait(ctx)
}

// Every result reaches the endpoint, as JSON lines in requests of at most
// `batch`, through transient failures (retried and counted).
func TestWebhookDeliversEveryResult(t *testing.T) {
	c := &collector{fail: 2}
	srv := httptest.NewServer(c)
	defer srv.Close()
	q, err := runHook(t, webhookSpec(srv.URL+"/in", ", retries: 3, backoff: 1ms, headers: {X-Token: abc}"))
	if err != nil {
		t.Fatal(err)
	}
	st := q.Stats()
	c.mu.Lock()
	defer c.mu.Unlock()
	var total float64
	for _, m := range c.lines {
		total += m["n"].(float64)
	}
	if uint64(len(c.lines)) != st.Results || total != 100000 || c.header != "abc" {
		t.Fatalf("endpoint got %d results counting %v events (header %q); the query emitted %d from 100000", len(c.lines), total, c.header, st.Results)
	}
	cn := st.Connectors
	if cn["sink.webhook.retries"] != 2 || cn["sink.webhook.results"] != int64(st.Results) || cn["sink.webhook.requests"] != c.requests.Load() || cn["sink.webhook.failed"] != 0 {
		t.Fatalf("counters %v, endpoint saw %d requests", cn, c.requests.Load())
	}
	if max := (int64(st.Results)+4)/5 + 2; cn["sink.webhook.requests"] > max+2 {
		t.Fatalf("%d requests for %d results in batches of 5", cn["sink.webhook.requests"], st.Results)
	}
}

// An endpoint that keeps failing fails the query, with the reason, after
// the retries; one that refuses (4xx) is not retried.
func TestWebhookFailureFailsTheQuery(t *testing.T) {
	for _, c := range []struct {
		name        string
		status      int
		retries     int64
		wantInError string
	}{
		{"unavailable", http.StatusServiceUnavailable, 2, "answered 503 Service Unavailable (after 3 attempts)"},
		{"refused", http.StatusForbidden, 0, "answered 403 Forbidden (not retried)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var requests atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				requests.Add(1)
				w.WriteHeader(c.status)
			}))
			defer srv.Close()
			q, err := runHook(t, webhookSpec(srv.URL, ", retries: 2, backoff: 1ms"))
			if err == nil || !strings.Contains(err.Error(), c.wantInError) || q.State() != runtime.StateFailed {
				t.Fatalf("query %s: %v", q.State(), err)
			}
			if st := q.Stats(); st.Connectors["sink.webhook.failed"] != 1 || st.Connectors["sink.webhook.retries"] != c.retries {
				t.Fatalf("counters %v", st.Connectors)
			}
		})
	}
}

// A slow endpoint holds no worker: another query on the same engine runs
// to its end while the webhook's requests wait, and the webhook's query
// stays within the in-flight bound.
func TestWebhookSlowEndpointHoldsNoWorker(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	slow, err := query.Parse("slow.yaml", []byte(webhookSpec(srv.URL, ", timeout: 1m, retries: 0")))
	if err != nil {
		t.Fatal(err)
	}
	eng, qs := startQuery(t, slow, runtime.WithWorkers(1), runtime.WithUnpacedSources())
	other, err := query.NewBuilder("other").Generator("g", query.Generator{Rate: 1000, Duration: 200 * time.Millisecond}).
		Filter("true").Discard().Build()
	if err != nil {
		t.Fatal(err)
	}
	qo, err := eng.Submit(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if err := qo.Wait(ctx); err != nil || qo.Stats().Results != 200 {
		t.Fatalf("the other query: %v, %d results", err, qo.Stats().Results)
	}
	if st := qs.Stats(); st.Backlog > 4096+5 {
		t.Fatalf("the webhook's query holds %d in flight, over the bound", st.Backlog)
	}
	// Unblocked, the webhook delivers what it held and the query drains.
	unblock()
	if err := eng.Cancel(ctx, qs.ID()); err != nil {
		t.Fatalf("cancel: %v", err)
	}
}
