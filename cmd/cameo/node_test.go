package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/cameo-go/cameo/client"
	"github.com/cameo-go/cameo/node"
	"github.com/cameo-go/cameo/runtime"
)

const (
	lsSpec = `
name: alerts
tenant: ops
latency_target: 20ms
parallelism: 2
sources:
  - name: logs
    generator: {rate: 5000, seed: 3, keys: {count: 10}, fields: {level: {choice: [info, error]}}}
pipeline:
  - filter: 'level == "error"'
sink: {discard: {}}
`
	baSpec = `
name: pages
tenant: bi
latency_target: 2s
parallelism: 2
sources:
  - name: clicks
    generator: {rate: 20000, seed: 4, keys: {count: 100}, fields: {dwell: {uniform: [1, 100]}}}
pipeline:
  - key_by: key
  - window: {tumbling: 200ms}
    aggregate: {views: count(), dwell: sum(dwell)}
sink: {discard: {}}
`
)

// TestNodeThroughTheCLI starts a real node on a free loopback port and
// drives it with the CLI's own commands: two queries of two tenants are
// submitted, listed, inspected, scraped and cancelled, then the node shuts
// down and nothing is left running.
func TestNodeThroughTheCLI(t *testing.T) {
	defer goleak.VerifyNone(t)
	const token = "s3cret"
	n, err := node.NewNode(node.NodeConfig{Listen: "127.0.0.1:0", Token: token, Engine: []runtime.Option{runtime.WithWorkers(2)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer n.Shutdown(ctx)
	t.Setenv("CAMEO_SERVER", n.Addr())
	t.Setenv("CAMEO_TOKEN", token)

	dir := t.TempDir()
	var ids []string
	for name, spec := range map[string]string{"ls.yaml": lsSpec, "ba.yaml": baSpec} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := run(t, "submit", path)
		if err != nil {
			t.Fatalf("submit %s: %v\n%s", name, err, out)
		}
		ids = append(ids, strings.TrimSpace(out))
	}
	// Wait until both queries produced results (progress, not timing, is asserted).
	for {
		out, err := run(t, "list", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var qs []client.QueryInfo
		if err := json.Unmarshal([]byte(out), &qs); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if len(qs) != 2 {
			t.Fatalf("list: %s", out)
		}
		if qs[0].Results > 0 && qs[1].Results > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no results: %s", out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	out, err := run(t, "list")
	if err != nil || !strings.Contains(out, "alerts") || !strings.Contains(out, "pages") || !strings.Contains(out, "running") || !strings.Contains(out, "P99 10S") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = run(t, "stats", ids[0])
	if err != nil || !strings.Contains(out, "latency target") || !strings.Contains(out, "QUEUEING MEAN") || !strings.Contains(out, "last 10s: p50") {
		t.Fatalf("stats: %v\n%s", err, out)
	}

	out, err = run(t, "tenants")
	if err != nil || !strings.Contains(out, "TENANT") || !strings.Contains(out, "ops") || !strings.Contains(out, "bi") {
		t.Fatalf("tenants: %v\n%s", err, out)
	}
	if out, err := run(t, "cluster"); err == nil || !strings.Contains(err.Error(), "not in a cluster") {
		t.Fatalf("cluster on a lone node: %v\n%s", err, out)
	}

	// tail: the first reader makes the query keep its latest results; a
	// later tail --no-follow prints them as JSON lines.
	if out, err := run(t, "tail", "--no-follow", ids[0]); err != nil {
		t.Fatalf("tail: %v\n%s", err, out)
	}
	var tailed []string
	for len(tailed) == 0 {
		out, err := run(t, "tail", "--no-follow", ids[0])
		if err != nil {
			t.Fatalf("tail: %v\n%s", err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.HasPrefix(line, "{") {
				tailed = append(tailed, line)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("tail --no-follow printed no result")
		case <-time.After(20 * time.Millisecond):
		}
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(tailed[0]), &first); err != nil || first["key"] == nil {
		t.Fatalf("tail printed %q: %v", tailed[0], err)
	}
	if out, err := run(t, "tail", "nope"); err == nil || !strings.Contains(out+err.Error(), "no query") {
		t.Fatalf("tail of an unknown query: %v %s", err, out)
	}

	c, err := client.NewClient(n.Addr(), token)
	if err != nil {
		t.Fatal(err)
	}
	text, err := c.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	for _, name := range []string{"cameo_tenant_output_latency_seconds", "cameo_tenant_deadline_met_ratio", "cameo_tenant_events_in_total", "cameo_tenant_late_events_total",
		"cameo_tenant_dropped_events_total", "cameo_tenant_backlog_messages", "cameo_worker_busy_seconds_total", "cameo_scheduler_queued"} {
		if fams[name] == nil {
			t.Errorf("metrics lack %s", name)
		}
	}
	// Per query only with serve --metrics-per-query.
	for _, name := range []string{"cameo_output_latency_seconds", "cameo_operator_queueing_seconds_total"} {
		if fams[name] != nil {
			t.Errorf("metrics have %s without --metrics-per-query", name)
		}
	}
	tenants := map[string]bool{}
	for _, m := range fams["cameo_tenant_events_in_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "tenant" {
				tenants[l.GetValue()] = true
			}
		}
	}
	if !tenants["ops"] || !tenants["bi"] {
		t.Errorf("tenant labels: %v", tenants)
	}

	for _, id := range ids {
		out, err := run(t, "cancel", id)
		if err != nil || !strings.Contains(out, id+" cancelled") {
			t.Fatalf("cancel %s: %v\n%s", id, err, out)
		}
	}
	if out, err := run(t, "list", "-o", "json"); err != nil || strings.TrimSpace(out) != "[]" {
		t.Fatalf("list after cancel: %v %s", err, out)
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "list"); err == nil {
		t.Fatal("list answered after shutdown")
	}
}

// TestServeDrainsOnSignal runs the serve command's loop, submits a query
// with an hour-long window, and ends the context as SIGINT would: serve
// returns nil only once the query drained (its open window flushed; a
// drain that times out is an error).
func TestServeDrainsOnSignal(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, signal := context.WithCancel(context.Background())
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, w, node.NodeConfig{Listen: "127.0.0.1:0", DrainTimeout: 10 * time.Second})
		w.Close()
	}()
	lines := bufio.NewScanner(r)
	if !lines.Scan() {
		t.Fatal("serve printed nothing")
	}
	addr := strings.TrimPrefix(strings.Fields(lines.Text())[3], "http://")
	c, err := client.NewClient(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	spec := strings.Replace(baSpec, "tumbling: 200ms", "tumbling: 1h", 1)
	s, err := c.Submit(context.Background(), []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, err := c.Get(context.Background(), s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Stats.EventsIn > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond) // polls progress only
	}
	signal()
	go io.Copy(io.Discard, r) //nolint:errcheck // the rest of serve's log
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not return within 20 s of the signal")
	}
}

// list marks a query that met its target for less than 99 % of its
// results of the last 10 s, and shows both the recent and the whole figures.
func TestListMarksMissingQueries(t *testing.T) {
	var out strings.Builder
	listTable(&out, []client.QueryInfo{
		{ID: "q1", Name: "fine", State: client.StateRunning, LatencyTarget: 50, Results: 900, P99Ms: 90, MetRatio: 0.9,
			Recent: &client.RecentStats{WindowS: 10, Results: 100, P99Ms: 12, MetRatio: 1}},
		{ID: "q2", Name: "late", State: client.StateRunning, LatencyTarget: 50, Results: 900, P99Ms: 20, MetRatio: 1,
			Recent: &client.RecentStats{WindowS: 10, Results: 100, P99Ms: 80, MetRatio: 0.7}},
	})
	lines := strings.Split(out.String(), "\n")
	if !strings.HasPrefix(lines[1], "  ") || !strings.HasPrefix(lines[2], "!") || !strings.Contains(lines[2], "80.00ms") ||
		!strings.Contains(out.String(), "! 1 of 2 queries met their target for less than 99 %") {
		t.Fatalf("list:\n%s", out.String())
	}
}
