package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cameo-go/cameo/client"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

func startNode(t *testing.T, cfg NodeConfig) (*Node, string) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	n, err := NewNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return n, "http://" + n.Addr()
}

type answer struct {
	status int
	err    client.APIError
	body   string
}

func call(t *testing.T, method, url, token string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, body: string(data)}
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(data, &a.err); err != nil {
			t.Fatalf("%s %s: %d with a body that is not a JSON error: %q", method, url, resp.StatusCode, data)
		}
	}
	return a
}

const finite = `
name: steady
tenant: keep
latency_target: 100ms
parallelism: 2
sources:
  - name: s
    generator: {rate: 20000, duration: 1500ms, seed: 9, keys: {count: 20}, fields: {v: {uniform: [0, 9]}}}
pipeline:
  - key_by: key
  - window: {tumbling: 100ms}
    aggregate: {n: count()}
sink: {discard: {}}
`

// TestNodeBadInput sends a battery of bad requests to a live node while a
// finite query runs: each gets its status and a JSON error a person can
// act on, the node stays healthy, and the running query's results are
// complete.
func TestNodeBadInput(t *testing.T) {
	const tok = "t0k"
	_, base := startNode(t, NodeConfig{Token: tok, MaxSpecBytes: 64 << 10, Engine: []runtime.Option{runtime.WithWorkers(2)}})
	a := call(t, "POST", base+"/v1/queries", tok, []byte(finite))
	if a.status != http.StatusCreated {
		t.Fatalf("submit: %d %s", a.status, a.body)
	}
	var sub client.Submitted
	_ = json.Unmarshal([]byte(a.body), &sub)

	valid := strings.Replace(finite, "steady", "other", 1)
	cases := []struct {
		name, method, path, token string
		body                      string
		status                    int
		want                      string // in the error or a problem
	}{
		{"malformed YAML", "POST", "/v1/queries", tok, "name: [unclosed\n", 400, "malformed YAML/JSON"},
		{"wrong type", "POST", "/v1/queries", tok, strings.Replace(valid, "parallelism: 2", "parallelism: two", 1), 400, "parallelism"},
		{"unknown field", "POST", "/v1/queries", tok, valid + "colour: blue\n", 400, `unknown field "colour"`},
		{"bad expression", "POST", "/v1/queries", tok, strings.Replace(valid, "key_by: key", "key_by: 'key +'", 1), 400, "does not compile"},
		{"JSON spec with an error", "POST", "/v1/queries", tok, `{"name": "j", "tenant": "t", "latency_target": "-1s"}`, 400, "latency_target"},
		{"huge body", "POST", "/v1/queries", tok, valid + "# " + strings.Repeat("x", 70<<10) + "\n", 413, "over the node's limit"},
		{"stdin source", "POST", "/v1/queries", tok, strings.Replace(valid, "generator: {rate: 20000, duration: 1500ms, seed: 9, keys: {count: 20}, fields: {v: {uniform: [0, 9]}}}", "jsonl: {stdin: true}", 1), 400, "no standard input"},
		{"file sink", "POST", "/v1/queries", tok, strings.Replace(valid, "sink: {discard: {}}", "sink: {file: {path: /tmp/x}}", 1), 400, "--allow-files"},
		{"duplicate name", "POST", "/v1/queries", tok, finite, 409, `already runs a query named "steady"`},
		{"no token", "GET", "/v1/queries", "", "", 401, "bearer token"},
		{"wrong token", "POST", "/v1/queries", "nope", valid, 401, "bearer token"},
		{"metrics need the token", "GET", "/metrics", "", "", 401, "bearer token"},
		{"unknown id", "GET", "/v1/queries/q999", tok, "", 404, `no query "q999"`},
		{"cancel unknown id", "DELETE", "/v1/queries/nope", tok, "", 404, `no query "nope"`},
		{"unknown route", "GET", "/v2/everything", tok, "", 404, "no route"},
	}
	for _, c := range cases {
		a := call(t, c.method, base+c.path, c.token, []byte(c.body))
		text := a.err.Message
		for _, p := range a.err.Problems {
			text += "\n" + p.String()
		}
		if a.status != c.status || !strings.Contains(text, c.want) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, a.status, text, c.status, c.want)
		}
	}
	// Line numbers reach the client.
	a = call(t, "POST", base+"/v1/queries", tok, []byte(strings.Replace(valid, "tumbling: 100ms", "tumbling: soon", 1)))
	if a.status != 400 || len(a.err.Problems) != 1 || a.err.Problems[0].Line != 11 || a.err.Problems[0].Field == "" {
		t.Errorf("problem position: %d %+v", a.status, a.err.Problems)
	}

	// Concurrent submits and cancels of the same names: every request is
	// answered with 201, 409, 200 or 404, never anything else.
	var wg sync.WaitGroup
	statuses := make(chan int, 64)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spec := strings.Replace(endlessSpec, "NAME", fmt.Sprintf("c%d", i%4), 1)
			a := call(t, "POST", base+"/v1/queries", tok, []byte(spec))
			statuses <- a.status
			if a.status == http.StatusCreated {
				var s client.Submitted
				_ = json.Unmarshal([]byte(a.body), &s)
				statuses <- call(t, "DELETE", base+"/v1/queries/"+s.ID, tok, nil).status
				statuses <- call(t, "DELETE", base+"/v1/queries/"+s.ID, tok, nil).status
			}
		}()
	}
	wg.Wait()
	close(statuses)
	seen := map[int]int{}
	for s := range statuses {
		seen[s]++
	}
	if seen[201] == 0 || seen[201] != seen[200] || seen[201] != seen[404] || seen[201]+seen[409] != 16 {
		t.Errorf("concurrent submits and cancels: %v", seen)
	}

	if a := call(t, "GET", base+"/healthz", "", nil); a.status != 200 {
		t.Fatalf("healthz %d", a.status)
	}
	// The first query ran through all of it and completed: 1.5 s at
	// 20,000/s, windows of 100 ms over 20 keys.
	for {
		a := call(t, "GET", base+"/v1/queries/"+sub.ID, tok, nil)
		var d client.QueryDetail
		if err := json.Unmarshal([]byte(a.body), &d); err != nil {
			t.Fatal(err)
		}
		if d.State == runtime.StateDone {
			if d.Stats.EventsIn != 30000 || d.Stats.Dropped != 0 || d.Stats.Results < 15*20 {
				t.Fatalf("steady query: %+v", d.Stats)
			}
			break
		}
		if d.State != runtime.StateRunning && d.State != runtime.StateDraining {
			t.Fatalf("steady query %s: %s", d.State, d.Error)
		}
		time.Sleep(20 * time.Millisecond) // polls completion; asserts nothing about timing
	}
}

const endlessSpec = `
name: NAME
tenant: race
latency_target: 50ms
sources: [{name: s, generator: {rate: 1000, seed: 1}}]
pipeline: [{filter: 'key != ""'}]
sink: {discard: {}}
`

func TestNodeConfig(t *testing.T) {
	if _, err := NewNode(NodeConfig{Listen: "0.0.0.0:7700"}); err == nil || !strings.Contains(err.Error(), "not a loopback address: set a token") {
		t.Fatalf("open listen without a token: %v", err)
	}
	if _, err := NewNode(NodeConfig{Listen: "nonsense"}); err == nil || !strings.Contains(err.Error(), `listen "nonsense"`) {
		t.Fatalf("bad listen: %v", err)
	}
}

func TestNodeReadyzDuringShutdown(t *testing.T) {
	n, base := startNode(t, NodeConfig{})
	if a := call(t, "GET", base+"/readyz", "", nil); a.status != 200 {
		t.Fatalf("readyz %d", a.status)
	}
	n.ready.Store(false) // what Shutdown does first
	if a := call(t, "GET", base+"/readyz", "", nil); a.status != 503 {
		t.Fatalf("readyz while draining: %d", a.status)
	}
}

// A node with a files directory takes paths inside it only: "..", absolute
// paths and links out are refused with the field; a refusal never quotes
// the file it would have read.
func TestNodeFilesDirConfines(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	_, base := startNode(t, NodeConfig{FilesDir: dir, Engine: []runtime.Option{runtime.WithWorkers(1)}})
	spec := func(in string) []byte {
		return []byte("name: f\nlatency_target: 1s\nsources: [{name: s, jsonl: {path: '" + in + "'}}]\nsink: {discard: {}}\n")
	}
	for _, c := range []struct{ in, want string }{
		{"../" + filepath.Base(outside) + "/secret", "sources[0].jsonl.path"},
		{"/etc/passwd", "sources[0].jsonl.path"},
		{"link", "leads out of the node's file directory"},
	} {
		a := call(t, "POST", base+"/v1/queries", "", spec(c.in))
		text := a.err.Message
		for _, p := range a.err.Problems {
			text += "\n" + p.String()
		}
		if a.status != 400 || !strings.Contains(text, c.want) || strings.Contains(text, "root:x") {
			t.Errorf("%s: %d %q, want 400 with %q", c.in, a.status, text, c.want)
		}
	}
}

// The node forgets what it kept of a query (its spec, its rate) once its
// engine forgot the query (runtime.Config.KeepEnded).
func TestNodeForgetsWhatItsEngineForgot(t *testing.T) {
	n, base := startNode(t, NodeConfig{SampleEvery: 5 * time.Millisecond,
		Engine: []runtime.Option{runtime.WithWorkers(1), runtime.WithKeepEnded(1, time.Hour)}})
	var ids []string
	for _, name := range []string{"first", "second"} {
		a := call(t, "POST", base+"/v1/queries", "", []byte(strings.Replace(finite, "steady", name, 1)))
		if a.status != 201 {
			t.Fatalf("submit %s: %d %s", name, a.status, a.body)
		}
		var sub client.Submitted
		_ = json.Unmarshal([]byte(a.body), &sub)
		ids = append(ids, sub.ID)
		q, _ := n.Engine().Query(sub.ID)
		if err := q.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if a := call(t, "GET", base+"/v1/queries/"+ids[0], "", nil); a.status != 404 {
		t.Fatalf("the first query, past KeepEnded 1: %d, want 404", a.status)
	}
	deadline := time.Now().Add(10 * time.Second) // bounds the test; the sampler runs every 5 ms
	for {
		n.mu.Lock()
		_, spec := n.mu.specs[ids[0]]
		_, kept := n.mu.specs[ids[1]]
		n.mu.Unlock()
		if !spec && kept {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node records: first kept %v, second kept %v; want only the second", spec, kept)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A tenant over its max_queries is answered 429 with the figures.
func TestSubmitOverTenantQuotaIs429(t *testing.T) {
	ts, err := query.ParseTenants("tenants.yaml", []byte("tenants:\n  keep: {max_queries: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, base := startNode(t, NodeConfig{Engine: []runtime.Option{runtime.WithTenants(ts)}})
	if a := call(t, "POST", base+"/v1/queries", "", []byte(finite)); a.status != 201 {
		t.Fatalf("first submit: %d %s", a.status, a.body)
	}
	other := strings.Replace(finite, "name: steady", "name: other", 1)
	a := call(t, "POST", base+"/v1/queries", "", []byte(other))
	if a.status != 429 || !strings.Contains(a.err.Message, `tenant quota reached: tenant "keep" is at its max_queries (1 running or draining; tenant file tenants.yaml)`) {
		t.Fatalf("second submit: %d %+v", a.status, a.err)
	}
}

// The node's memory budget and what its queries hold are in GET /v1/load
// and in /metrics.
func TestNodeMemoryIsVisible(t *testing.T) {
	_, base := startNode(t, NodeConfig{Engine: []runtime.Option{runtime.WithNodeMemory(3 << 30)}})
	a := call(t, "GET", base+"/v1/load", "", nil)
	var l client.Load
	if err := json.Unmarshal([]byte(a.body), &l); err != nil || a.status != 200 {
		t.Fatalf("GET /v1/load: %d %s %v", a.status, a.body, err)
	}
	if l.MemoryBudgetMiB != 3<<10 || l.MemoryMiB != 0 {
		t.Fatalf("load %+v: want a budget of 3072 MiB and nothing held", l)
	}
	m := call(t, "GET", base+"/metrics", "", nil)
	for _, want := range []string{"cameo_node_memory_budget_bytes 3.221225472e+09", "cameo_node_memory_bytes 0"} {
		if !strings.Contains(m.body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// A node user reads a running query's results, whatever its sink (here
// discard): the stream gives each result as the sinks' JSON line, then
// the end with the query's state; without follow, the results kept.
func TestNodeStreamsResults(t *testing.T) {
	n, base := startNode(t, NodeConfig{Engine: []runtime.Option{runtime.WithWorkers(2)}})
	c, err := client.NewClient(base, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := c.Submit(ctx, []byte(finite))
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	var end *client.ResultsEnd
	var skipped uint64
	err = c.Results(ctx, sub.ID, true, func(ev client.ResultsEvent) error {
		switch {
		case ev.Result != nil:
			var m map[string]any
			if err := json.Unmarshal(ev.Result, &m); err != nil {
				return fmt.Errorf("result %s: %w", ev.Result, err)
			}
			lines = append(lines, m)
		case ev.End != nil:
			end = ev.End
		default:
			skipped += ev.Skipped
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := n.Engine().Query(sub.ID)
	st := q.Stats()
	if end == nil || end.State != client.StateDone || end.Partial || len(lines) == 0 {
		t.Fatalf("end %+v after %d results", end, len(lines))
	}
	// The stream opened during the query's first 1.5 s: it has what came
	// after, every one of them (none skipped at this rate).
	if skipped != 0 || uint64(len(lines)) > st.Results || len(lines) < int(st.Results)/2 {
		t.Fatalf("%d results streamed (%d skipped) of %d", len(lines), skipped, st.Results)
	}
	for _, m := range lines {
		if _, ok := m["key"].(string); !ok || m["n"] == nil || m["window_start"] == nil {
			t.Fatalf("a result line without key, n and window_start: %v", m)
		}
	}
	// Without follow, after the end: the results kept, then the end.
	var kept int
	err = c.Results(ctx, sub.ID, false, func(ev client.ResultsEvent) error {
		if ev.Result != nil {
			kept++
		}
		if ev.End != nil && (ev.End.State != client.StateDone || ev.End.Partial) {
			return fmt.Errorf("end %+v", ev.End)
		}
		return nil
	})
	if err != nil || kept != min(len(lines), runtime.RecentResults) {
		t.Fatalf("no follow: %d kept, %v; want %d", kept, err, min(len(lines), runtime.RecentResults))
	}
	if a := call(t, "GET", base+"/v1/queries/nope/results", "", nil); a.status != 404 {
		t.Fatalf("unknown query: %d", a.status)
	}
	if a := call(t, "GET", base+"/v1/queries/"+sub.ID+"/results?follow=maybe", "", nil); a.status != 400 || !strings.Contains(a.err.Message, "follow") {
		t.Fatalf("bad follow: %d %+v", a.status, a.err)
	}
}

// An open results stream does not hold the node up: shutdown ends it.
func TestNodeShutdownEndsResultStreams(t *testing.T) {
	n, base := startNode(t, NodeConfig{DrainTimeout: 5 * time.Second, Engine: []runtime.Option{runtime.WithWorkers(1)}})
	c, err := client.NewClient(base, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := c.Submit(ctx, []byte(strings.Replace(finite, "duration: 1500ms, ", "", 1))) // endless
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	streamed := make(chan error, 1)
	go func() { // the test waits for it below
		streamed <- c.Results(ctx, sub.ID, true, func(ev client.ResultsEvent) error {
			if ev.Result != nil {
				select {
				case got <- struct{}{}:
				default:
				}
			}
			return nil
		})
	}()
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("no result streamed")
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-streamed: // ended by the shutdown (the stream is cut; its end event may or may not make it)
	case <-ctx.Done():
		t.Fatal("the stream outlived the node's shutdown")
	}
}

// A spec whose connector connects out (a webhook) is refused unless the
// node allows that host:port.
func TestNodeAllowConnect(t *testing.T) {
	spec := strings.Replace(finite, "sink: {discard: {}}", "sink: {webhook: {url: 'http://127.0.0.1:9/hook'}}", 1)
	_, base := startNode(t, NodeConfig{})
	a := call(t, "POST", base+"/v1/queries", "", []byte(spec))
	if a.status != 400 || len(a.err.Problems) != 1 || a.err.Problems[0].Field != "sink.webhook.url" ||
		!strings.Contains(a.err.Problems[0].Message, "does not let queries connect to 127.0.0.1:9 (start it with --allow-connect 127.0.0.1:9)") {
		t.Fatalf("without --allow-connect: %d %+v", a.status, a.err)
	}
	_, base = startNode(t, NodeConfig{AllowConnect: []string{"127.0.0.1:9"}})
	if a := call(t, "POST", base+"/v1/queries", "", []byte(spec)); a.status != 201 {
		t.Fatalf("allowed: %d %s", a.status, a.body)
	}
}
