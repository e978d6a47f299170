package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cameo-go/cameo/client"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// TestMain lets the test binary act as the cameo command when a test
// starts it as a node process (CAMEO_TEST_AS_CLI=1).
func TestMain(m *testing.M) {
	if os.Getenv("CAMEO_TEST_AS_CLI") == "1" {
		os.Args = append([]string{"cameo"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	// protoactor's dead-letter throttle keeps a goroutine for its period
	// after messages reach stopped actors; its remote's endpoint writer
	// sleeps between attempts to reach a gone peer. Both end by themselves.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/remote.(*endpointWriter).initialize"))
}

// nodeProc is one cameo serve process.
type nodeProc struct {
	name, api, remote string
	args              []string // of cameo, to start it again
	dir               string
	cmd               *exec.Cmd
	client            *client.Client
	log               *lockedBuffer
	exited            chan error
}

// start runs the node's process (again); its stderr goes to x.log and
// its exit to x.exited.
func (x *nodeProc) start(t *testing.T) {
	t.Helper()
	x.cmd = exec.Command(os.Args[0], x.args...)
	x.cmd.Env = append(os.Environ(), "CAMEO_TEST_AS_CLI=1")
	x.cmd.Dir = x.dir
	stderr, err := x.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := x.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, exited := x.cmd, make(chan error, 1)
	x.exited = exited
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			_, _ = x.log.Write([]byte(sc.Text() + "\n"))
		}
		exited <- cmd.Wait()
	}()
}

// startNodes starts one `cameo serve` process per name on 127.0.0.1, each
// a peer of the others, and waits (bounded) until all see each other.
// Every process is killed when the test ends.
func startNodes(t *testing.T, dir string, names ...string) map[string]*nodeProc {
	t.Helper()
	nodes := map[string]*nodeProc{}
	taken := map[string]bool{}
	for _, n := range names {
		remote, err := runtime.FreeNodeAddress("127.0.0.1")
		if err != nil || taken[remote] {
			t.Fatalf("free address: %v (taken: %v)", err, taken[remote])
		}
		host, port, _ := net.SplitHostPort(remote)
		p, _ := strconv.Atoi(port)
		taken[remote], taken[net.JoinHostPort(host, strconv.Itoa(p+1))] = true, true
		nodes[n] = &nodeProc{name: n, remote: remote, log: &lockedBuffer{}}
	}
	for _, n := range names { // below the ephemeral range too: a restarted node finds it free
		var api string
		for api == "" || taken[api] {
			a, err := runtime.FreeNodeAddress("127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			api = a
		}
		taken[api] = true
		nodes[n].api = api
	}
	for _, n := range names {
		x := nodes[n]
		x.args = []string{"serve", "--name", n, "--listen", x.api, "--remote", x.remote, "--allow-files", dir,
			"--heartbeat", "50ms", "--peer-timeout", "1s", "--drain-timeout", "10s", "--workers", "1"}
		for _, m := range names {
			if m != n {
				x.args = append(x.args, "--peer", m+"="+nodes[m].remote)
			}
		}
		x.dir = dir
		x.start(t)
		t.Cleanup(func() {
			if x.cmd.ProcessState == nil {
				_ = x.cmd.Process.Kill()
				select {
				case <-x.exited:
				case <-time.After(10 * time.Second):
				}
			}
		})
		var err error
		if x.client, err = client.NewClient(x.api, ""); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range names {
		for {
			ci, err := nodes[n].client.Cluster(context.Background())
			up := err == nil && len(ci.Peers) == len(names)-1
			for _, p := range ci.Peers {
				up = up && p.Up
			}
			if up {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s: peers not up within 30s (last: %+v, %v)", n, ci, err)
			}
			time.Sleep(20 * time.Millisecond) // polls a process's readiness
		}
	}
	return nodes
}

// waitQuery polls a query until it ends (bounded).
func waitQuery(t *testing.T, c *client.Client, id string, within time.Duration) client.QueryDetail {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		d, err := c.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d.State != runtime.StateRunning && d.State != runtime.StateDraining {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %s still %s after %v: %+v", id, d.State, within, d.Stats)
		}
		time.Sleep(20 * time.Millisecond) // polls a process's progress
	}
}

func sortedLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	sort.Strings(lines)
	return lines
}

// clusterSpec reads event-time JSON lines, so its results do not depend
// on when it runs. Without placement, its three steps spread over three
// nodes: key_by on n1, the window on n2, the filter on n3.
const clusterSpec = `
name: spread
latency_target: 100ms
sources:
  - name: logs
    jsonl: {path: events.jsonl}
    event_time: {field: ts, format: unix_ms, max_out_of_order: 40ms}
pipeline:
  - key_by: key
  - window: {tumbling: 100ms}
    aggregate: {n: count(), total: sum(latency_ms), worst: max(latency_ms)}
  - filter: 'n > 2'
sink: {file: {path: %s}}
`

func writeEvents(t *testing.T, path string, n int) {
	t.Helper()
	var b strings.Builder
	x := uint64(99)
	next := func() uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "{\"ts\": %d, \"key\": \"k%d\", \"latency_ms\": %d}\n", 1_763_900_000_000+int64(i)-int64(next()%30), next()%20, 1+next()%500)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestThreeNodeProcessesMatchOneNode(t *testing.T) {
	dir := t.TempDir()
	writeEvents(t, filepath.Join(dir, "events.jsonl"), 30000)

	// The reference: the same spec on one engine in this process.
	e, err := runtime.New(runtime.WithUnpacedSources())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background()) //nolint:errcheck
	ref, err := queryParseIn(dir, fmt.Sprintf(clusterSpec, "one.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q, err := e.Submit(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	want := sortedLines(t, filepath.Join(dir, "one.jsonl"))
	if len(want) < 100 {
		t.Fatalf("reference gave %d results", len(want))
	}

	nodes := startNodes(t, dir, "n1", "n2", "n3")
	s, err := nodes["n1"].client.Submit(ctx, []byte(fmt.Sprintf(clusterSpec, "three.jsonl")))
	if err != nil {
		t.Fatal(err)
	}
	d := waitQuery(t, nodes["n1"].client, s.ID, 60*time.Second)
	if d.State != runtime.StateDone {
		t.Fatalf("state %s: %s\nn1 log:\n%s", d.State, d.Error, nodes["n1"].log)
	}
	got := sortedLines(t, filepath.Join(dir, "three.jsonl"))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("three nodes: %d results, one node: %d", len(got), len(want))
	}
	// n2 and n3 each ran a part of it.
	for _, n := range []string{"n2", "n3"} {
		parts, err := nodes[n].client.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != 1 || parts[0].ID != s.ID {
			t.Fatalf("%s runs %+v, want the part of %s", n, parts, s.ID)
		}
		pd := waitQuery(t, nodes[n].client, s.ID, 10*time.Second)
		var msgs int64
		for _, op := range pd.Stats.Operators {
			msgs += op.Messages
		}
		if pd.State != runtime.StateDone || msgs == 0 {
			t.Fatalf("%s's part: %s, %d messages run: %+v", n, pd.State, msgs, pd.Stats.Operators)
		}
	}
	// The skew between processes of one machine is measured and small.
	ci, err := nodes["n1"].client.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ci.Peers {
		if p.RTTMs <= 0 || p.ClockOffsetMs > 50 || p.ClockOffsetMs < -50 {
			t.Fatalf("peer %s: rtt %.3f ms, offset %.3f ms", p.Name, p.RTTMs, p.ClockOffsetMs)
		}
	}
	// and exported to Prometheus.
	m := scrape(t, nodes["n1"])
	for _, peer := range []string{"n2", "n3"} {
		for _, prefix := range []string{`cameo_peer_up{node="n1",peer="` + peer + `"} 1`, `cameo_peer_clock_offset_seconds{node="n1",peer="` + peer + `"} `, `cameo_peer_rtt_seconds{node="n1",peer="` + peer + `"} `} {
			if !strings.Contains(m, "\n"+prefix) {
				t.Fatalf("n1's /metrics lacks %q:\n%s", prefix, grepLines(m, "cameo_peer"))
			}
		}
	}
}

// scrape returns a node's /metrics.
func scrape(t *testing.T, x *nodeProc) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + x.api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s, %v", resp.Status, err)
	}
	return string(body)
}

// grepLines returns the lines of s that start with prefix.
func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A node killed mid-run: the query with a part on it fails with the
// reason, its sources stop, and a query on the surviving node completes;
// restarted, the node is seen up again and takes new parts.
func TestKilledNodeFailsOnlyItsQueries(t *testing.T) {
	dir := t.TempDir()
	nodes := startNodes(t, dir, "n1", "n2")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	spanning := `
name: spanning
latency_target: 100ms
sources:
  - name: g
    generator: {rate: 2000, duration: 60s, seed: 1, keys: {count: 10}}
pipeline:
  - key_by: key
    node: n2
  - window: {tumbling: 100ms}
    aggregate: {n: count()}
sink: {discard: {}}
`
	local := `
name: local
latency_target: 100ms
sources:
  - name: g
    generator: {rate: 2000, duration: 3s, seed: 2, keys: {count: 10}}
pipeline:
  - key_by: key
    node: n1
  - window: {tumbling: 100ms}
    aggregate: {n: count()}
    node: n1
sink: {discard: {}}
`
	sp, err := nodes["n1"].client.Submit(ctx, []byte(spanning))
	if err != nil {
		t.Fatal(err)
	}
	lo, err := nodes["n1"].client.Submit(ctx, []byte(local))
	if err != nil {
		t.Fatal(err)
	}
	// Let the spanning query run across the nodes, then kill n2.
	for {
		d, err := nodes["n1"].client.Get(ctx, sp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Stats.Results > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the spanning query produced nothing")
		}
		time.Sleep(20 * time.Millisecond) // polls a process's progress
	}
	killed := time.Now()
	if err := nodes["n2"].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d := waitQuery(t, nodes["n1"].client, sp.ID, 15*time.Second)
	if d.State != runtime.StateFailed || !strings.Contains(d.Error, "node n2") || !strings.Contains(d.Error, "did not answer the membership protocol's probes") {
		t.Fatalf("spanning query: %s: %q", d.State, d.Error)
	}
	t.Logf("failure detected %v after the kill: %s", time.Since(killed).Round(time.Millisecond), d.Error)
	dl := waitQuery(t, nodes["n1"].client, lo.ID, 30*time.Second)
	if dl.State != runtime.StateDone || dl.Stats.Results == 0 {
		t.Fatalf("local query: %s (%s), %d results", dl.State, dl.Error, dl.Stats.Results)
	}
	// The failed query's sources stopped: its input count no longer grows.
	a, _ := nodes["n1"].client.Get(ctx, sp.ID)
	time.Sleep(200 * time.Millisecond) // two source ticks' worth, to see nothing more arrives
	b, _ := nodes["n1"].client.Get(ctx, sp.ID)
	if a.Stats.EventsIn != b.Stats.EventsIn {
		t.Fatalf("the failed query's sources still run: %d then %d events in", a.Stats.EventsIn, b.Stats.EventsIn)
	}
	// n1 reports n2 down and goes on serving; a query placed on n2 now is refused.
	ci, err := nodes["n1"].client.Cluster(ctx)
	if err != nil || len(ci.Peers) != 1 || ci.Peers[0].Up || ci.Peers[0].Downs != 1 {
		t.Fatalf("n1's view: %+v, %v", ci, err)
	}
	_, err = nodes["n1"].client.Submit(ctx, []byte(strings.Replace(spanning, "name: spanning", "name: again", 1)))
	if err == nil || !strings.Contains(err.Error(), `node "n2" is not reachable now`) {
		t.Fatalf("submit placed on a dead node: %v", err)
	}
	// So does its /metrics.
	m := scrape(t, nodes["n1"])
	for _, line := range []string{`cameo_peer_up{node="n1",peer="n2"} 0`, `cameo_peer_downs_total{node="n1",peer="n2"} 1`} {
		if !strings.Contains(m, "\n"+line+"\n") {
			t.Fatalf("n1's /metrics lacks %q:\n%s", line, grepLines(m, "cameo_peer"))
		}
	}
	// n2 comes back on the same addresses: n1 sees it up again and places
	// a query's steps on it again.
	select {
	case <-nodes["n2"].exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the killed n2 did not exit")
	}
	nodes["n2"].start(t)
	for {
		ci, err := nodes["n1"].client.Cluster(ctx)
		if err == nil && len(ci.Peers) == 1 && ci.Peers[0].Up {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("n1 never saw n2 up again: %+v, %v\n%s", ci, err, nodes["n2"].log)
		}
		time.Sleep(20 * time.Millisecond) // polls a process's readiness
	}
	back := strings.NewReplacer("name: spanning", "name: back", "duration: 60s", "duration: 2s").Replace(spanning)
	bk, err := nodes["n1"].client.Submit(ctx, []byte(back))
	if err != nil {
		t.Fatalf("submit after n2 came back: %v", err)
	}
	if d := waitQuery(t, nodes["n1"].client, bk.ID, 30*time.Second); d.State != runtime.StateDone || d.Stats.Results == 0 {
		t.Fatalf("query on the restarted n2: %s (%s), %d results", d.State, d.Error, d.Stats.Results)
	}
	// n1 drains and exits cleanly on SIGTERM.
	if err := nodes["n1"].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-nodes["n1"].exited:
		if err != nil {
			t.Fatalf("n1 exit: %v\n%s", err, nodes["n1"].log)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("n1 did not exit within 20s of SIGTERM")
	}
}

func queryParseIn(dir, text string) (*query.Plan, error) {
	return query.Parse(filepath.Join(dir, "spec.yaml"), []byte(text))
}
