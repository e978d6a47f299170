//go:build !race

// The in-process cluster tests start several protoactor remotes in one
// process; remote.(*Remote).Start sets gRPC's global logger each time, which
// the race detector reports against the gRPC goroutines of the other
// remotes. A node is one process with one remote, so .ci/run runs these
// without -race, and cmd/cameo's multi-process tests run under -race.

package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cameo-go/cameo/actors/actorspb"
	"github.com/cameo-go/cameo/query"
)

// freeAddr returns a loopback address with a port free right now, and
// the next (its gossip) too.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := FreeNodeAddress("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// testNode is a node's cluster configuration in these tests: heartbeats
// every 20 ms, down after 500 ms of silence.
func testNode(name, addr string, peers map[string]string) ClusterConfig {
	return ClusterConfig{Name: name, Address: addr, Peers: peers, Heartbeat: 20 * time.Millisecond, PeerTimeout: 500 * time.Millisecond}
}

// newCluster starts one engine per name, each a peer of the others.
func newCluster(t *testing.T, names []string, opts ...Option) map[string]*Engine {
	t.Helper()
	addrs := map[string]string{}
	for _, n := range names {
		addrs[n] = freeAddr(t)
	}
	out := map[string]*Engine{}
	for _, n := range names {
		peers := map[string]string{}
		for _, m := range names {
			if m != n {
				peers[m] = addrs[m]
			}
		}
		e := newEngine(t, append([]Option{WithCluster(testNode(n, addrs[n], peers))}, opts...)...)
		out[n] = e
	}
	waitUp(t, out)
	return out
}

// waitUp waits (bounded) until every node sees every peer up.
func waitUp(t *testing.T, nodes map[string]*Engine) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := true
		for _, e := range nodes {
			ci, _ := e.Cluster()
			for _, p := range ci.Peers {
				all = all && p.Up
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			for n, e := range nodes {
				ci, _ := e.Cluster()
				t.Logf("%s: %+v", n, ci)
			}
			t.Fatal("peers not up within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const spanningSpec = `
name: spanning
latency_target: 50ms
parallelism: 2
sources:
  - name: logs
    jsonl: {path: events.jsonl}
    event_time: {field: ts, format: unix_ms, max_out_of_order: 40ms}
pipeline:
  - filter: 'level != "info"'
    nodes: [b]
  - key_by: key
    nodes: [a, b]
  - window: {tumbling: 100ms}
    aggregate: {n: count(), total: sum(latency_ms), worst: max(latency_ms)}
    node: b
sink: {file: {path: out.jsonl}}
`

// writeEvents writes n JSON lines of log events to dir/events.jsonl: event
// times 1 ms apart from a fixed start, each line up to 30 ms out of order.
func writeEvents(t *testing.T, dir string, n int) {
	t.Helper()
	var b strings.Builder
	levels := []string{"info", "warn", "error"}
	x := uint64(12345)
	next := func() uint64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x }
	for i := 0; i < n; i++ {
		ts := 1_763_900_000_000 + int64(i) - int64(next()%30)
		fmt.Fprintf(&b, "{\"ts\": %d, \"key\": \"k%d\", \"level\": %q, \"latency_ms\": %d}\n", ts, next()%40, levels[next()%3], 1+next()%500)
	}
	if err := os.WriteFile(filepath.Join(dir, "events.jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runToFile submits spec text (its sink writes out.jsonl in dir) and
// returns the sorted result lines.
func runToFile(t *testing.T, e *Engine, dir, text string) []string {
	t.Helper()
	spec, err := query.Parse(filepath.Join(dir, "spec.yaml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q, err := e.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(ctx); err != nil {
		t.Fatalf("%v (state %s)", err, q.State())
	}
	data, err := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	sort.Strings(lines)
	return lines
}

func TestClusterQueryMatchesOneNode(t *testing.T) {
	single := newEngine(t, WithUnpacedSources())
	dir1, dir2 := t.TempDir(), t.TempDir()
	writeEvents(t, dir1, 20000)
	writeEvents(t, dir2, 20000)
	want := runToFile(t, single, dir1, strings.ReplaceAll(strings.ReplaceAll(spanningSpec, "    nodes: [b]\n", ""), "    nodes: [a, b]\n", ""))

	nodes := newCluster(t, []string{"a", "b"}, WithUnpacedSources())
	got := runToFile(t, nodes["a"], dir2, spanningSpec)
	if len(want) < 50 {
		t.Fatalf("reference run gave only %d results", len(want))
	}
	if !slicesEqual(got, want) {
		t.Fatalf("two nodes gave %d results, one node %d; first differences:\n%s", len(got), len(want), firstDiff(got, want))
	}
	// The part on b ran and ended; b's view of a is up, with a measured clock.
	q := nodes["b"].Queries()
	if len(q) != 1 || q[0].pl.coordinator != "a" {
		t.Fatalf("b's parts: %v", q)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q[0].Wait(ctx); err != nil || q[0].State() != StateDone {
		t.Fatalf("b's part: %v, %s", err, q[0].State())
	}
	ci, _ := nodes["a"].Cluster()
	if len(ci.Peers) != 1 || !ci.Peers[0].Up || ci.Peers[0].RTTMs <= 0 || ci.Peers[0].HopRTTMs <= 0 {
		t.Fatalf("a's view: %+v", ci)
	}
	// The statistics say where each step's instances run.
	var placed []string
	for _, o := range nodes["a"].Queries()[0].Stats().Operators {
		placed = append(placed, fmt.Sprintf("%s %v", o.Step, o.Nodes))
	}
	if got := strings.Join(placed, "; "); got != "pipeline[0] filter [b b]; pipeline[1] key_by [a b]; pipeline[2] window [b b]; sink [a]" {
		t.Fatalf("placement in the statistics: %s", got)
	}
	// Costs on b flowed back to a: a's filter instances hold b's reply.
	var sawReply bool
	for _, x := range nodes["a"].Queries()[0].remote {
		if r := x.published(); r.Cost > 0 {
			sawReply = true
		}
	}
	if !sawReply {
		t.Fatal("no reply with a cost came back from b")
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func firstDiff(got, want []string) string {
	var b bytes.Buffer
	n := 0
	for i := 0; i < max(len(got), len(want)) && n < 5; i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			b.WriteString("got:  " + g + "\nwant: " + w + "\n")
			n++
		}
	}
	return b.String()
}

func TestClusterPlacementErrors(t *testing.T) {
	nodes := newCluster(t, []string{"a", "b"})
	bad := strings.Replace(spanningSpec, "node: b", "node: zz", 1)
	spec, err := query.Parse("bad.yaml", []byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	_, err = nodes["a"].Submit(context.Background(), spec)
	var es query.Errors
	if !errors.As(err, &es) || !errors.Is(err, ErrCluster) || !strings.Contains(err.Error(), `bad.yaml:16:11: pipeline[2].nodes: node "zz" is not in the cluster (nodes: a, b)`) {
		t.Fatalf("got %v", err)
	}
	// A spec built in Go has no text to ship: explicit placement is refused.
	b := query.NewBuilder("go").Generator("g", query.Generator{Rate: 100, Duration: time.Second})
	b.Filter("true").Discard()
	built, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	gs := built.Spec()
	gs.Pipeline[0].Nodes = []string{"b"}
	if _, err := nodes["a"].Submit(context.Background(), mustCompile(t, gs)); !errors.Is(err, ErrCluster) || !strings.Contains(err.Error(), "cannot be shipped") {
		t.Fatalf("got %v", err)
	}
}

func TestClusterUnknownMessagesDoNotCrash(t *testing.T) {
	nodes := newCluster(t, []string{"a", "b"})
	a := nodes["a"]
	// A protobuf type b's control actor does not handle, and an envelope
	// for an instance b does not run.
	pid := nodes["b"].cluster.peers["a"].pid // b's PID for a's wire actor
	b := nodes["b"]
	b.sys.Root.Send(pid, &actorspb.Value{})
	b.sys.Root.Send(pidOf(a, "cameo/a.q99/0/0"), &actorspb.Envelope{Receiver: "a.q99/0/0"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		ci, _ := a.Cluster()
		if ci.UnknownMessages >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unknown message not counted: %+v", ci)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitUp(t, nodes) // both still answer
}

func pidOf(e *Engine, name string) *actor.PID { return actor.NewPID(e.cluster.addr, name) }

// TestClusterUndecodableMessageClosesOnlyItsStream speaks protoactor's
// Remoting protocol to node a over raw gRPC and sends batches its reader
// cannot decode: a type name no one registered and a target index out of
// range (protoactor's reader panics on both). The guard closes that
// stream with InvalidArgument and counts it; a keeps serving b.
func TestClusterUndecodableMessageClosesOnlyItsStream(t *testing.T) {
	nodes := newCluster(t, []string{"a", "b"})
	a, b := nodes["a"], nodes["b"]
	conn, err := grpc.Dial(a.cluster.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wire := &actor.PID{Address: a.cluster.addr, Id: wireActor}
	batches := map[string]*remote.MessageBatch{
		"unknown type": {TypeNames: []string{"cameo.NoSuchType"}, Targets: []*actor.PID{wire},
			Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 0, MessageData: []byte{8, 1}}}},
		"target out of range": {TypeNames: []string{"cameo.actors.v1.Value"}, Targets: []*actor.PID{wire},
			Envelopes: []*remote.MessageEnvelope{{TypeId: 0, Target: 7}}},
	}
	want := int64(0)
	for name, batch := range batches {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err := remote.NewRemotingClient(conn).Receive(ctx)
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", name, err)
		}
		hello := &remote.RemoteMessage{MessageType: &remote.RemoteMessage_ConnectRequest{ConnectRequest: &remote.ConnectRequest{
			ConnectionType: &remote.ConnectRequest_ServerConnection{ServerConnection: &remote.ServerConnection{SystemId: "intruder", Address: "127.0.0.1:1"}}}}}
		if err := st.Send(hello); err != nil {
			t.Fatalf("%s: connect: %v", name, err)
		}
		if err := st.Send(&remote.RemoteMessage{MessageType: &remote.RemoteMessage_MessageBatch{MessageBatch: batch}}); err != nil {
			t.Fatalf("%s: send: %v", name, err)
		}
		for err == nil {
			_, err = st.Recv() // the connect response, then the stream's end
		}
		cancel()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "cannot read a message") {
			t.Fatalf("%s: stream ended with %v, want InvalidArgument from the guard", name, err)
		}
		want++
		if ci, _ := a.Cluster(); ci.BadStreams != want {
			t.Fatalf("%s: bad_streams = %d, want %d", name, ci.BadStreams, want)
		}
	}
	// a still reads what b sends: an unhandled type is counted.
	before, _ := a.Cluster()
	b.sys.Root.Send(b.cluster.peers["a"].pid, &actorspb.Value{})
	deadline := time.Now().Add(10 * time.Second)
	for {
		ci, _ := a.Cluster()
		if ci.UnknownMessages > before.UnknownMessages {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a stopped reading b after the bad streams: %+v", ci)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClusterDeployRefusedOnAddressMismatch: b knows c at another address
// than a does. A query a places on b and c is refused by b with both
// addresses, and a undeploys it everywhere.
func TestClusterDeployRefusedOnAddressMismatch(t *testing.T) {
	addrs := map[string]string{"a": freeAddr(t), "b": freeAddr(t), "c": freeAddr(t)}
	// b's wrong address for c is a live node's (stopped last), so no dial
	// is left retrying when the test ends.
	wrong := freeAddr(t)
	newEngine(t, WithCluster(ClusterConfig{Name: "d", Address: wrong}))
	peers := map[string]map[string]string{
		"a": {"b": addrs["b"], "c": addrs["c"]},
		"b": {"a": addrs["a"], "c": wrong},
		"c": {"a": addrs["a"], "b": addrs["b"]},
	}
	nodes := map[string]*Engine{}
	for _, n := range []string{"a", "b", "c"} {
		nodes[n] = newEngine(t, WithCluster(testNode(n, addrs[n], peers[n])))
	}
	waitUp(t, map[string]*Engine{"a": nodes["a"]})
	text := `
name: mismatch
latency_target: 50ms
sources:
  - name: g
    generator: {rate: 100, duration: 1s}
pipeline:
  - key_by: key
    node: b
  - window: {tumbling: 100ms}
    aggregate: {n: count()}
    node: c
sink: {discard: {}}
`
	spec, err := query.Parse("mismatch.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	_, err = nodes["a"].Submit(context.Background(), spec)
	want := fmt.Sprintf("the coordinator knows node c as %q, but it is %q to this node", addrs["c"], wrong)
	if !errors.Is(err, ErrCluster) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want it to say %s", err, want)
	}
	for _, n := range []string{"b", "c"} {
		deadline := time.Now().Add(10 * time.Second)
		for len(activeQueries(nodes[n])) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s still runs a part: %v", n, activeQueries(nodes[n]))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// activeQueries lists the ids of e's queries that have not ended.
func activeQueries(e *Engine) []string {
	var out []string
	for _, q := range e.Queries() {
		if st := q.State(); st == StateRunning {
			out = append(out, q.ID())
		}
	}
	return out
}

// TestClusterDeployRefusedOnSchedulerMismatch: b runs another scheduler
// than a; a query a places on b is refused with both names.
func TestClusterDeployRefusedOnSchedulerMismatch(t *testing.T) {
	addrs := map[string]string{"a": freeAddr(t), "b": freeAddr(t)}
	nodes := map[string]*Engine{}
	for n, sched := range map[string]string{"a": "cameo", "b": "fifo"} {
		other := map[string]string{"a": "b", "b": "a"}[n]
		nodes[n] = newEngine(t, WithScheduler(sched), WithCluster(testNode(n, addrs[n], map[string]string{other: addrs[other]})))
	}
	waitUp(t, nodes)
	spec, err := query.Parse("sched.yaml", []byte(`
name: sched
latency_target: 50ms
sources:
  - name: g
    generator: {rate: 100, duration: 1s}
pipeline:
  - key_by: key
    node: b
sink: {discard: {}}
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = nodes["a"].Submit(context.Background(), spec)
	if want := `the coordinator a schedules with "cameo" and this node with "fifo"`; !errors.Is(err, ErrCluster) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want it to say %s", err, want)
	}
}

// A node stopped while it runs part of a query another node coordinates
// asks the coordinator to stop that query's sources, and drains: its Stop
// returns in time and without error, the query ends cancelled with every
// window flushed, and the coordinator goes on.
func TestClusterPeerStopDrainsItsParts(t *testing.T) {
	nodes := newCluster(t, []string{"a", "b"})
	spec := mustParse(t, `
name: endless
latency_target: 1s
parallelism: 2
sources: [{name: s, generator: {rate: 2000, seed: 1, keys: {count: 20}}}]
pipeline:
  - key_by: key
    nodes: [b]
  - window: {tumbling: 100ms}
    aggregate: {n: count()}
    nodes: [b]
sink: {discard: {}}
`)
	q, err := nodes["a"].Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for q.Stats().Results == 0 && time.Now().Before(deadline) { // b is running its part
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nodes["b"].Stop(ctx); err != nil {
		t.Fatalf("b's stop: %v", err)
	}
	if err := q.Wait(ctx); err != nil || q.State() != StateCancelled {
		t.Fatalf("the query: %v, %s; want cancelled without error", err, q.State())
	}
	st := q.Stats()
	if st.EventsRead == 0 || st.EventsRead != st.EventsIn+st.Late+st.Dropped {
		t.Errorf("read %d, in %d, late %d, dropped %d", st.EventsRead, st.EventsIn, st.Late, st.Dropped)
	}
	if _, err := nodes["a"].Submit(context.Background(), mustParse(t, small)); err != nil {
		t.Errorf("a after b left: %v", err)
	}
}
