package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const runSpec = `
name: tiny
tenant: t
latency_target: 50ms
parallelism: 2
sources:
  - name: s
    generator: {rate: 20000, duration: 300ms, seed: 1, keys: {count: 4}, fields: {v: {uniform: [0, 9]}}}
pipeline:
  - key_by: key
  - window: {tumbling: 100ms}
    aggregate: {n: count(), s: sum(v)}
sink: {stdout: {}}
`

func TestRunCommand(t *testing.T) {
	dir := t.TempDir()
	spec, summary := filepath.Join(dir, "tiny.yaml"), filepath.Join(dir, "sum.json")
	if err := os.WriteFile(spec, []byte(runSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "run", "--scheduler", "fifo", "--workers", "2", "--interval", "50ms", "--summary", summary, spec)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Results (JSON lines) and the reports share the test's buffer here;
	// the binary keeps them apart on stdout and stderr.
	if !strings.Contains(out, `{"key":"k`) || !strings.Contains(out, "QUERY") || !strings.Contains(out, "ev/s") {
		t.Fatalf("output:\n%s", out)
	}
	data, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Scheduler string           `json:"scheduler"`
		Queries   []map[string]any `json:"queries"`
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Scheduler != "fifo" || len(sum.Queries) != 1 {
		t.Fatalf("summary: %s", data)
	}
	q := sum.Queries[0]
	for _, k := range []string{"name", "tenant", "latency_target_ms", "events_in", "results", "p50_ms", "p99_ms", "max_ms", "met_ratio", "late", "dropped"} {
		if _, ok := q[k]; !ok {
			t.Errorf("summary lacks %q: %s", k, data)
		}
	}
	if q["events_in"] != 6000.0 || q["state"] != "done" {
		t.Errorf("events_in %v state %v", q["events_in"], q["state"])
	}
}

func TestRunCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(runSpec, "tumbling: 100ms", "tumbling: soon", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "run", bad)
	var exit exitError
	if !errors.As(err, &exit) || exit.code != 1 || !strings.Contains(out, "bad.yaml:11:") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(runSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "run", "--scheduler", "lifo", good); err == nil || !strings.Contains(err.Error(), `"lifo"`) {
		t.Fatalf("bad scheduler: %v", err)
	}
}

// `cameo run` with a webhook sink: every result reaches the endpoint, and
// the summary shows the connector's counters.
func TestRunCommandWebhook(t *testing.T) {
	var mu sync.Mutex
	var lines int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		lines += strings.Count(string(body), "\n")
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	spec := filepath.Join(dir, "hook.yaml")
	text := strings.Replace(runSpec, "sink: {stdout: {}}", "sink: {webhook: {url: '"+srv.URL+"', batch: 3}}", 1)
	if err := os.WriteFile(spec, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "run", "-q", spec)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	// 4 keys × 3 windows of 100 ms over 300 ms: 12 results (a window
	// may straddle the end, so 12 or 16).
	if lines < 12 {
		t.Fatalf("endpoint got %d lines; output:\n%s", lines, out)
	}
	if !strings.Contains(out, fmt.Sprintf("sink.webhook.results %d", lines)) {
		t.Fatalf("the summary does not count the %d results delivered:\n%s", lines, out)
	}
}
