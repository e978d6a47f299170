//go:build !race

// Two nodes in one process: protoactor's remote.(*Remote).Start sets gRPC's
// global logger each time, which the race detector reports against the
// other remote's gRPC goroutines (runtime/cluster_test.go says the same).
// A node is one process with one remote, so .ci/run runs this test without
// -race.

package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cameo-go/cameo/client"
	"github.com/cameo-go/cameo/runtime"
)

// The dashboard of a node in a cluster of two: the peer is shown up with
// its round trip and clock offset, and the graph of a query whose keyed
// step runs on both nodes says so. Its screenshot is docs/dashboard-cluster.png
// (CAMEO_SCREENSHOT_DIR keeps it).
func TestDashboardClusterInBrowser(t *testing.T) {
	ctx := browser(t)
	addrs := map[string]string{}
	for _, n := range []string{"n1", "n2"} {
		a, err := runtime.FreeNodeAddress("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		addrs[n] = a
	}
	bases := map[string]string{}
	for _, n := range []string{"n1", "n2"} {
		peers := map[string]string{}
		for m, a := range addrs {
			if m != n {
				peers[m] = a
			}
		}
		cl := runtime.ClusterConfig{Name: n, Address: addrs[n], Peers: peers, Heartbeat: 50 * time.Millisecond, PeerTimeout: 2 * time.Second}
		_, bases[n] = startNode(t, NodeConfig{Engine: []runtime.Option{runtime.WithWorkers(2), runtime.WithCluster(cl)}})
	}
	c, err := client.NewClient(bases["n1"], "")
	if err != nil {
		t.Fatal(err)
	}
	// Wait until n1 sees n2 up: a submit placing work on n2 needs it.
	for deadline := time.Now().Add(20 * time.Second); ; {
		ci, err := c.Cluster(context.Background())
		if err == nil && len(ci.Peers) == 1 && ci.Peers[0].Up {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n2 not up at n1 within 20 s: %+v %v", ci, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	spans := `
name: clicks-per-region
tenant: ads
latency_target: 100ms
parallelism: 2
sources:
  - name: clicks
    generator: {rate: 5000, duration: 60s, seed: 3, keys: {count: 50}, fields: {v: {uniform: [0, 9]}}}
pipeline:
  - filter: 'v > 2'
  - key_by: key
    nodes: [n1, n2]
  - window: {tumbling: 200ms}
    aggregate: {n: count(), s: sum(v)}
    nodes: [n1, n2]
sink: {discard: {}}
`
	sub, err := c.Submit(context.Background(), []byte(spans))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = c.Cancel(context.Background(), sub.ID) }()
	other := strings.Replace(strings.Replace(finite, "duration: 1500ms", "duration: 60s", 1), "tenant: keep", "tenant: reports", 1)
	sub2, err := c.Submit(context.Background(), []byte(other))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = c.Cancel(context.Background(), sub2.ID) }()

	check := func(js string) chromedp.Action[chromedp.Void] {
		poll := chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := poll(ctx, tg)
			return err
		})
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(bases["n1"]+"/?every=300"),
		check(`Array.from(document.querySelectorAll("#peers tbody tr")).some(tr => tr.cells[0].textContent === "n2" && tr.cells[2].textContent === "up")`),
		check(`document.querySelector("#cluster-self").textContent.includes("n1")`),
		check(fmt.Sprintf(`!!document.querySelector(%q)`, fmt.Sprintf(`#queries tbody tr[data-id=%q] td[data-field="results"]`, sub.ID))),
		check(`Array.from(document.querySelectorAll("#graph .op")).some(op => op.textContent.includes("on n1, n2"))`),
		check(`document.querySelectorAll("#tenants tbody tr").length === 2`),
		check(`!!document.querySelector("#chart canvas")`),
		check(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent > "0"`, fmt.Sprintf(`#queries tbody tr[data-id=%q] td[data-field="eps"]`, sub.ID))),
	); err != nil {
		t.Fatal(err)
	}
	// A few more polls, so that the screenshot's chart has a line: nothing
	// is checked after this wait.
	time.Sleep(3 * time.Second)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if d := os.Getenv("CAMEO_SCREENSHOT_DIR"); d != "" {
		dir = d
	}
	path := filepath.Join(dir, "dashboard-cluster.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
}
