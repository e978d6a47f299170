package experiments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cameo-go/cameo/client"
	"github.com/cameo-go/cameo/runtime"
)

// SoakOptions configures Soak.
type SoakOptions struct {
	// Binary is the cameo executable the soak starts as node processes.
	Binary string
	// Duration of the churn; 10 minutes for the figures in docs/soak.md,
	// 30 s in CI.
	Duration time.Duration
	// Out is where node logs, samples.csv and summary.md go.
	Out string
	// Progress gets a line per sample; nil: none.
	Progress io.Writer
	// Seed of the churn.
	Seed uint64
}

// SoakSample is one look at the node under test.
type SoakSample struct {
	At         time.Duration
	Goroutines float64
	HeapBytes  float64
	OpenFDs    float64
	Running    int
}

// SoakReport is what a soak saw.
type SoakReport struct {
	Baseline, Final SoakSample
	Samples         []SoakSample
	Submitted       int    // queries submitted, the long ones included
	Cancelled       int    // cancelled by the churn
	Ended           int    // ended on their own: done or failed
	Refused         int    // refused at submit (the peer was down for a spanning query)
	PeerKills       int    // the peer stopped and restarted, in turn by SIGTERM and SIGKILL
	PeerTerms       int    // of those, by SIGTERM (each must exit 0)
	Checked         int    // ended queries whose accounting was checked
	Unaccounted     int    // of those, how many broke read = in + late + dropped
	EventsRead      uint64 // over the checked queries
	EventsIn        uint64
	Late, Dropped   uint64
	NodeExit        string // how the node under test exited on SIGTERM
	Problems        []string
}

// OK reports whether the soak found nothing wrong.
func (r *SoakReport) OK() bool { return len(r.Problems) == 0 }

type soakNode struct {
	name, api, remote, peer string
	cmd                     *exec.Cmd
	log                     *os.File
	exited                  chan error
}

func (n *soakNode) start(bin, out string) error {
	f, err := os.OpenFile(filepath.Join(out, n.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n.log = f
	n.cmd = exec.Command(bin, "serve", "--name", n.name, "--listen", n.api, "--remote", n.remote, "--peer", n.peer,
		"--pprof", "--workers", "2", "--keep-ended", "10000", "--drain-timeout", "10s", "--heartbeat", "100ms", "--peer-timeout", "1s")
	n.cmd.Stdout, n.cmd.Stderr = f, f
	if err := n.cmd.Start(); err != nil {
		f.Close()
		return err
	}
	n.exited = make(chan error, 1)
	go func() { n.exited <- n.cmd.Wait() }() // owned: every path below waits for it
	return nil
}

// stop ends the process with sig and waits (bounded) for it.
func (n *soakNode) stop(sig syscall.Signal, within time.Duration) error {
	_ = n.cmd.Process.Signal(sig)
	defer n.log.Close()
	select {
	case err := <-n.exited:
		return err
	case <-time.After(within):
		_ = n.cmd.Process.Kill()
		<-n.exited
		return fmt.Errorf("%s did not exit within %v of %v", n.name, within, sig)
	}
}

func waitFor(ctx context.Context, within time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("soak: %s: not within %v", what, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// metric reads an unlabelled metric from Prometheus text.
func metric(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v
		}
	}
	return -1
}

// Soak runs a node under churn for o.Duration with a peer beside it: three
// tenants' long queries (a latency-sensitive filter, a bulk sliding window
// over 5,000 keys, a query whose steps run on the peer), short queries
// submitted and cancelled twice a second, and the peer stopped (in turn
// SIGTERM, which must drain and exit 0, and SIGKILL) and restarted every
// quarter of the run. It samples the node's
// goroutines, heap and open files from its /metrics, checks every ended
// query's accounting (read = in + late + dropped), and at the end, with
// every query ended and a GC forced, compares the node with its baseline.
func Soak(ctx context.Context, o SoakOptions) (*SoakReport, error) {
	if o.Duration <= 0 {
		o.Duration = 30 * time.Second
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(o.Seed, 99))
	// Remote addresses with their next port (gossip) free; API ports
	// distinct from all four.
	var addrs [4]string
	taken := map[string]bool{}
	for _, i := range []int{1, 3, 0, 2} {
		for {
			var a string
			var err error
			a, err = runtime.FreeNodeAddress("127.0.0.1") // below the ephemeral range: free again at a restart
			if err != nil {
				return nil, err
			}
			if !taken[a] {
				addrs[i] = a
				break
			}
		}
		taken[addrs[i]] = true
		if i%2 == 1 {
			host, port, _ := net.SplitHostPort(addrs[i])
			p, _ := strconv.Atoi(port)
			taken[net.JoinHostPort(host, strconv.Itoa(p+1))] = true
		}
	}
	n1 := &soakNode{name: "n1", api: addrs[0], remote: addrs[1], peer: "n2=" + addrs[3]}
	n2 := &soakNode{name: "n2", api: addrs[2], remote: addrs[3], peer: "n1=" + addrs[1]}
	if err := n1.start(o.Binary, o.Out); err != nil {
		return nil, err
	}
	if err := n2.start(o.Binary, o.Out); err != nil {
		_ = n1.stop(syscall.SIGKILL, 5*time.Second)
		return nil, err
	}
	n2up := true
	defer func() {
		if n2up {
			_ = n2.stop(syscall.SIGKILL, 5*time.Second)
		}
	}()
	n1done := false
	defer func() {
		if !n1done {
			_ = n1.stop(syscall.SIGKILL, 5*time.Second)
		}
	}()
	cl, err := client.NewClient(n1.api, "")
	if err != nil {
		return nil, err
	}
	// Up: the membership protocol has it alive and, for up, it answered a
	// heartbeat over the data path within the last second (the remote
	// layer's connections, part of the baseline, exist).
	peerUp := func(want bool) func() bool {
		return func() bool {
			ci, err := cl.Cluster(ctx)
			if err != nil || len(ci.Peers) != 1 || ci.Peers[0].Up != want {
				return false
			}
			return !want || ci.Peers[0].LastSeenMs >= 0 && ci.Peers[0].LastSeenMs < 1000
		}
	}
	if err := waitFor(ctx, 20*time.Second, "n1 sees n2 up", peerUp(true)); err != nil {
		return nil, err
	}
	rep := &SoakReport{}
	sample := func(at time.Duration, gc bool) (SoakSample, error) {
		if gc { // pprof's heap profile with gc=1 runs a collection first
			resp, err := http.Get("http://" + n1.api + "/debug/pprof/heap?gc=1")
			if err != nil {
				return SoakSample{}, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		text, err := cl.Metrics(ctx)
		if err != nil {
			return SoakSample{}, err
		}
		qs, err := cl.List(ctx)
		if err != nil {
			return SoakSample{}, err
		}
		s := SoakSample{At: at, Goroutines: metric(text, "go_goroutines"), HeapBytes: metric(text, "go_memstats_heap_alloc_bytes"), OpenFDs: metric(text, "process_open_fds")}
		for _, q := range qs {
			if q.State == client.StateRunning || q.State == client.StateDraining {
				s.Running++
			}
		}
		return s, nil
	}
	if rep.Baseline, err = sample(0, true); err != nil {
		return nil, err
	}
	if resp, err := http.Get("http://" + n1.api + "/debug/pprof/goroutine?debug=1"); err == nil {
		if data, err := io.ReadAll(resp.Body); err == nil {
			_ = os.WriteFile(filepath.Join(o.Out, "n1-goroutines-start.txt"), data, 0o644)
		}
		resp.Body.Close()
	}

	check := func(d client.QueryDetail) {
		st := d.Stats
		rep.Checked++
		rep.EventsRead += st.EventsRead
		rep.EventsIn += st.EventsIn
		rep.Late += st.Late
		rep.Dropped += st.Dropped
		if st.EventsRead != st.EventsIn+st.Late+st.Dropped {
			rep.Unaccounted++
			rep.Problems = append(rep.Problems, fmt.Sprintf("query %s (%s, %s): read %d ≠ in %d + late %d + dropped %d",
				d.ID, st.Name, d.State, st.EventsRead, st.EventsIn, st.Late, st.Dropped))
		}
	}
	submit := func(spec string) (string, bool) {
		rep.Submitted++
		s, err := cl.Submit(ctx, []byte(spec))
		if err != nil {
			rep.Refused++
			return "", false
		}
		return s.ID, true
	}
	long := []string{soakLS, soakBulk}
	var longIDs []string
	for _, s := range long {
		id, ok := submit(s)
		if !ok {
			return nil, fmt.Errorf("soak: a long query was refused")
		}
		longIDs = append(longIDs, id)
	}
	spanID, _ := submit(soakSpan)
	var churn []string
	start := time.Now()
	every := max(10*time.Second, o.Duration/4)
	nextKill, nextSample := start.Add(every/2), start
	seq := 0
	for time.Since(start) < o.Duration {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Churn: a short query in, and one of the older ones cancelled.
		seq++
		if id, ok := submit(soakShort(rng, seq)); ok {
			churn = append(churn, id)
		}
		if len(churn) > 6 || (len(churn) > 0 && rng.IntN(2) == 0) {
			i := rng.IntN(len(churn))
			d, err := cl.Cancel(ctx, churn[i])
			if err == nil {
				rep.Cancelled++
				check(d)
			}
			churn = append(churn[:i], churn[i+1:]...)
		}
		// The spanning query fails when its peer dies: submit it again.
		if spanID != "" {
			if d, err := cl.Get(ctx, spanID); err == nil && d.State != client.StateRunning && d.State != client.StateDraining {
				rep.Ended++
				check(d)
				spanID = ""
			}
		}
		if spanID == "" && n2up {
			spanID, _ = submit(soakSpan)
		}
		if time.Now().After(nextKill) {
			// In turn: SIGTERM, which must drain the peer's parts and exit
			// 0, and SIGKILL, which fails the queries that use the peer.
			rep.PeerKills++
			if rep.PeerKills%2 == 1 {
				rep.PeerTerms++
				if err := n2.stop(syscall.SIGTERM, 20*time.Second); err != nil {
					rep.Problems = append(rep.Problems, fmt.Sprintf("n2 on SIGTERM: %v (want exit 0 once its parts drained)", err))
				}
			} else {
				_ = n2.stop(syscall.SIGKILL, 5*time.Second)
			}
			n2up = false
			if err := waitFor(ctx, 10*time.Second, "n1 sees n2 down", peerUp(false)); err != nil {
				rep.Problems = append(rep.Problems, err.Error())
			}
			if err := n2.start(o.Binary, o.Out); err != nil {
				return nil, err
			}
			n2up = true
			if err := waitFor(ctx, 20*time.Second, "n1 sees n2 up again", peerUp(true)); err != nil {
				rep.Problems = append(rep.Problems, err.Error())
			}
			nextKill = time.Now().Add(every)
		}
		if time.Now().After(nextSample) {
			s, err := sample(time.Since(start), false)
			if err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("sample at %v: %v", time.Since(start).Round(time.Second), err))
			} else {
				rep.Samples = append(rep.Samples, s)
				if o.Progress != nil {
					fmt.Fprintf(o.Progress, "soak %4.0fs  goroutines %4.0f  heap %6.1f MB  fds %3.0f  running %d\n",
						s.At.Seconds(), s.Goroutines, s.HeapBytes/1e6, s.OpenFDs, s.Running)
				}
			}
			nextSample = time.Now().Add(max(time.Second, o.Duration/60))
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Wind down: cancel everything still running, then compare.
	ids := append(append([]string{}, longIDs...), churn...)
	if spanID != "" {
		ids = append(ids, spanID)
	}
	for _, id := range ids {
		if d, err := cl.Cancel(ctx, id); err == nil {
			rep.Cancelled++
			check(d)
		}
	}
	qs, err := cl.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range qs { // the short queries that ended on their own
		d, err := cl.Get(ctx, q.ID)
		if err != nil {
			continue
		}
		if d.State == client.StateRunning || d.State == client.StateDraining {
			rep.Problems = append(rep.Problems, fmt.Sprintf("query %s still %s after the wind-down", q.ID, d.State))
			continue
		}
		rep.Ended++
		check(d)
	}
	// Let heartbeats and connections settle, then look with a GC.
	time.Sleep(2 * time.Second)
	if rep.Final, err = sample(o.Duration, true); err != nil {
		return nil, err
	}
	saveProfile := func(name, path string) { // for whoever reads a failed soak
		resp, err := http.Get("http://" + n1.api + path)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		if data, err := io.ReadAll(resp.Body); err == nil {
			_ = os.WriteFile(filepath.Join(o.Out, name), data, 0o644)
		}
	}
	saveProfile("n1-goroutines-end.txt", "/debug/pprof/goroutine?debug=1")
	b, f := rep.Baseline, rep.Final
	if f.Goroutines > b.Goroutines+5 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("goroutines %v at the end, %v at the start", f.Goroutines, b.Goroutines))
	}
	if f.OpenFDs > b.OpenFDs+10 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("open files %v at the end, %v at the start", f.OpenFDs, b.OpenFDs))
	}
	if f.HeapBytes > max(2*b.HeapBytes, b.HeapBytes+32e6) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("heap %.1f MB at the end, %.1f MB at the start", f.HeapBytes/1e6, b.HeapBytes/1e6))
	}
	n1done = true
	if err := n1.stop(syscall.SIGTERM, 30*time.Second); err != nil {
		rep.NodeExit = err.Error()
		rep.Problems = append(rep.Problems, "n1 on SIGTERM: "+err.Error())
	} else {
		rep.NodeExit = "exit 0"
	}
	if err := writeSoak(o.Out, rep); err != nil {
		return rep, err
	}
	if !rep.OK() {
		return rep, errors.New("soak: " + strings.Join(rep.Problems, "; "))
	}
	return rep, nil
}

// Summary is the report as Markdown.
func (r *SoakReport) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| | goroutines | heap (MB, after GC) | open files | queries running |\n|---|---|---|---|---|\n")
	row := func(name string, s SoakSample) {
		fmt.Fprintf(&b, "| %s | %.0f | %.1f | %.0f | %d |\n", name, s.Goroutines, s.HeapBytes/1e6, s.OpenFDs, s.Running)
	}
	row("baseline", r.Baseline)
	var peak SoakSample
	for _, s := range r.Samples {
		peak.Goroutines, peak.HeapBytes, peak.OpenFDs, peak.Running = max(peak.Goroutines, s.Goroutines), max(peak.HeapBytes, s.HeapBytes), max(peak.OpenFDs, s.OpenFDs), max(peak.Running, s.Running)
	}
	row("peak under churn", peak)
	row("end", r.Final)
	fmt.Fprintf(&b, "\nqueries submitted %d (refused %d), cancelled %d, ended on their own %d; peer stopped and restarted %d times (%d by SIGTERM, each exit 0 unless said below, the others SIGKILL); node exit on SIGTERM: %s\n",
		r.Submitted, r.Refused, r.Cancelled, r.Ended, r.PeerKills, r.PeerTerms, r.NodeExit)
	fmt.Fprintf(&b, "accounting checked on %d ended queries: read %d = in %d + late %d + dropped %d; unaccounted: %d\n",
		r.Checked, r.EventsRead, r.EventsIn, r.Late, r.Dropped, r.Unaccounted)
	if len(r.Problems) > 0 {
		fmt.Fprintf(&b, "\nproblems:\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	return b.String()
}

func writeSoak(out string, r *SoakReport) error {
	var b strings.Builder
	b.WriteString("seconds,goroutines,heap_bytes,open_fds,running\n")
	for _, s := range r.Samples {
		fmt.Fprintf(&b, "%.1f,%.0f,%.0f,%.0f,%d\n", s.At.Seconds(), s.Goroutines, s.HeapBytes, s.OpenFDs, s.Running)
	}
	if err := os.WriteFile(filepath.Join(out, "soak-samples.csv"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "soak-summary.md"), []byte(r.Summary()), 0o644)
}

const soakLS = `
name: soak-ls
tenant: ops
latency_target: 20ms
sources: [{name: s, generator: {rate: 2000, seed: 1, keys: {count: 50}, fields: {level: {choice: [info, error], weights: [9, 1]}}}}]
pipeline: [{filter: 'level == "error"'}]
sink: {discard: {}}
`

const soakBulk = `
name: soak-bulk
tenant: bi
latency_target: 2s
parallelism: 2
sources: [{name: s, generator: {rate: 20000, seed: 2, keys: {count: 5000, distribution: zipf}, fields: {v: {uniform: [0, 100]}}}}]
pipeline:
  - key_by: key
  - window: {sliding: {size: 2s, slide: 500ms}}
    aggregate: {n: count(), s: sum(v)}
sink: {discard: {}}
`

const soakSpan = `
name: soak-span
tenant: edge
latency_target: 500ms
parallelism: 2
sources: [{name: s, generator: {rate: 1000, seed: 3, keys: {count: 100}, fields: {v: {uniform: [0, 9]}}}}]
pipeline:
  - key_by: key
    nodes: [n2]
  - window: {tumbling: 200ms}
    aggregate: {n: count()}
    nodes: [n2]
sink: {discard: {}}
`

// soakShort is a short query of a random shape, some with expressions
// that fail on part of their input.
func soakShort(rng *rand.Rand, i int) string {
	steps := []string{
		"pipeline: [{filter: 'v > 4'}]",
		"pipeline: [{map: {r: '10 / v'}}]",
		"pipeline: [{key_by: key}, {window: {tumbling: 100ms}, aggregate: {n: count(), m: max(v)}}]",
		"pipeline: [{key_by: key}, {window: {sliding: {size: 1s, slide: 250ms}}, aggregate: {n: count()}}]",
	}
	return fmt.Sprintf(`
name: churn-%d
tenant: adhoc
latency_target: %dms
parallelism: %d
sources: [{name: s, generator: {rate: %d, duration: %dms, seed: %d, keys: {count: %d}, fields: {v: {uniform: [0, 9]}}}}]
%s
sink: {discard: {}}
`, i, 10+rng.IntN(500), 1+rng.IntN(3), 100+rng.IntN(20000), 500+rng.IntN(3000), i, 1+rng.IntN(10000), steps[rng.IntN(len(steps))])
}
