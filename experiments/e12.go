package experiments

import (
	"context"
	"fmt"
	"math"
	goruntime "runtime"
	"time"

	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// ---- E12: two nodes over protoactor remote (beyond the paper's single
// process): an LS query and a BA query whose steps span both nodes.
//
// The queries are YAML (only text specs can be shipped to other nodes), so
// the bulk query's work is an expression that burns CPU (a reduce over a
// range) instead of the calibrated Spin of E4. Both nodes run in this
// process, each with its own engine, remote layer on 127.0.0.1 and one
// worker: two workers in all, as in E4, with every hop between steps on
// different nodes crossing gRPC.

const e12LS = `
name: alerts
tenant: ls
latency_target: 50ms
parallelism: 2
sources:
  - name: g
    generator: {rate: 2000, duration: %s, seed: 1, keys: {count: 20}, fields: {v: {uniform: [0, 100]}}}
pipeline:
  - filter: 'v > 10'
    nodes: [a, b]
  - key_by: key
    nodes: [b, a]
  - window: {tumbling: 100ms}
    aggregate: {n: count(), top: max(v)}
    nodes: [a, b]
sink: {discard: {}}
`

const e12BA = `
name: bulk
tenant: ba
latency_target: 5s
parallelism: 2
sources:
  - name: g
    generator: {rate: %d, duration: %s, seed: 2, keys: {count: 200}, fields: {v: {uniform: [0, 100]}}}
pipeline:
  - map: {v: v, w: 'reduce(1..%d, #acc + (# %% 7), 0) + v'}
    nodes: [a, b]
  - key_by: key
    nodes: [b, a]
  - window: {tumbling: 1s}
    aggregate: {n: count(), total: sum(w)}
    nodes: [a, b]
sink: {discard: {}}
`

// e12Loads are the worker utilisations E12 aims its bulk rate at, the
// last as high as E4's. Serialisation and gRPC run outside the workers on
// the same two vCPUs, so the last load holds the whole machine.
var e12Loads = []float64{0.5, 0.7, 0.9}

// e12Work is the length of the bulk query's reduce: its cost per event.
const e12Work = 3000

func e12(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E12", Title: "Two nodes over protoactor remote: LS + BA"}
	d := pick(o, 3*time.Second, 30*time.Second)
	// Calibrate: the workers' utilisation under LS alone, and under BA
	// alone at a base rate; BA's rate for load l is then
	// base × (l − LS's share) / BA's share.
	cal := pick(o, time.Second, 3*time.Second)
	const baseRate = 1000
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "  E12 calibrating: LS alone, then BA alone at %d events/s, %v each\n", baseRate, cal)
	}
	ls, err := runTwoNodes(ctx, "cameo", cal, fmt.Sprintf(e12LS, cal))
	if err != nil {
		return nil, fmt.Errorf("E12 calibration, LS: %w", err)
	}
	ba, err := runTwoNodes(ctx, "cameo", cal, fmt.Sprintf(e12BA, baseRate, cal, e12Work))
	if err != nil {
		return nil, fmt.Errorf("E12 calibration, BA: %w", err)
	}
	if ba.util <= 0 {
		return nil, fmt.Errorf("E12 calibration: BA alone kept the workers idle")
	}
	rep.Findings = append(rep.Findings, Finding{Metric: "calibration: worker utilisation (process CPU), LS alone / BA alone at 1,000 ev/s",
		Ours: fmt.Sprintf("%.1f %% (%s) / %.1f %% (%s)", 100*ls.util, pct(ls.cpu), 100*ba.util, pct(ba.cpu))})
	var rows []Row
	p99 := map[string]float64{}
	for _, load := range e12Loads {
		rate := int(math.Round(baseRate * max(0.01, load-ls.util) / ba.util))
		for _, sched := range []string{"cameo", "fifo"} {
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "  E12 load %.1f, %s: %v on two nodes, BA at %d events/s\n", load, sched, d, rate)
			}
			res, err := runTwoNodes(ctx, sched, d, fmt.Sprintf(e12LS, d), fmt.Sprintf(e12BA, rate, d, e12Work))
			if err != nil {
				return nil, fmt.Errorf("E12 load %.1f, %s: %w", load, sched, err)
			}
			var lsS, baS runtime.QueryStats
			for _, s := range res.stats {
				class := BA
				if s.Tenant == "ls" {
					class, lsS = LS, s
				} else {
					baS = s
				}
				rows = append(rows, Row{Experiment: "E12", Variant: fmt.Sprintf("load %.1f", load), Scheduler: sched, Query: s.Name, Tenant: s.Tenant, Class: class,
					TargetMs: s.LatencyTargetMs, EventsIn: s.EventsIn, Results: s.Results, P50Ms: s.P50Ms, P99Ms: s.P99Ms, MaxMs: s.MaxMs,
					MetRatio: s.MetRatio, EventsPerSec: float64(s.EventsIn) / d.Seconds(), Utilisation: res.util,
					Extra: map[string]float64{"load": load, "util_a": res.nodes[0], "util_b": res.nodes[1], "process_cpu": res.cpu, "ba_rate": float64(rate)}})
			}
			rep.Findings = append(rep.Findings, Finding{
				Metric: fmt.Sprintf("load %.1f (BA %d ev/s), %s: LS p50 / p99 / met; BA met; worker utilisation a / b; process CPU", load, rate, sched),
				Ours: fmt.Sprintf("%.1f / %.1f ms / %.1f %%; %.1f %%; %.0f %% / %.0f %%; %s", lsS.P50Ms, lsS.P99Ms, 100*lsS.MetRatio, 100*baS.MetRatio,
					100*res.nodes[0], 100*res.nodes[1], pct(res.cpu))})
			if load == e12Loads[len(e12Loads)-1] {
				p99[sched] = lsS.P99Ms
			}
		}
	}
	rep.Findings = append(rep.Findings, Finding{Metric: fmt.Sprintf("LS p99 fifo/cameo at load %.1f, two nodes", e12Loads[len(e12Loads)-1]),
		Paper: "— (the paper runs one process)", Ours: ratioText(p99["fifo"], p99["cameo"])})
	return rep, write(o, rep, "E12.csv", rows)
}

// pct formats a share as a percentage of the machine's CPU.
func pct(x float64) string {
	if math.IsNaN(x) {
		return "CPU not reported"
	}
	return fmt.Sprintf("%.0f %% CPU", 100*x)
}

// twoNodes is what one E12 run measured: the queries' stats from the
// submitting node, each node's worker utilisation (busy over capacity),
// their mean, and the process's CPU time over the machine's capacity
// (NaN where the platform does not report it).
type twoNodes struct {
	stats []runtime.QueryStats
	nodes [2]float64
	util  float64
	cpu   float64
}

// runTwoNodes runs the given specs on two in-process nodes with scheduler
// sched for d.
func runTwoNodes(ctx context.Context, sched string, d time.Duration, texts ...string) (*twoNodes, error) {
	names := []string{"a", "b"}
	addrs := map[string]string{}
	for _, n := range names {
		addr, err := runtime.FreeNodeAddress("127.0.0.1")
		if err != nil {
			return nil, err
		}
		addrs[n] = addr
	}
	engines := map[string]*runtime.Engine{}
	defer func() {
		for _, e := range engines {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = e.Stop(sctx)
			cancel()
		}
	}()
	for _, n := range names {
		other := map[string]string{"a": "b", "b": "a"}[n]
		e, err := runtime.New(runtime.WithWorkers(1), runtime.WithScheduler(sched),
			runtime.WithCluster(runtime.ClusterConfig{Name: n, Address: addrs[n], Peers: map[string]string{other: addrs[other]}, Heartbeat: 50 * time.Millisecond}))
		if err != nil {
			return nil, err
		}
		engines[n] = e
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		ca, _ := engines["a"].Cluster()
		cb, _ := engines["b"].Cluster()
		if ca.Peers[0].Up && cb.Peers[0].Up {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the nodes did not see each other within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var busy0 [2]int64
	for i, n := range names {
		busy0[i], _, _ = schedBusy(engines[n])
	}
	cpu0, start := processCPU(), time.Now()
	var qs []*runtime.Query
	for _, text := range texts {
		spec, err := query.Parse("E12.yaml", []byte(text))
		if err != nil {
			return nil, err
		}
		q, err := engines["a"].Submit(ctx, spec)
		if err != nil {
			return nil, err
		}
		qs = append(qs, q)
	}
	wctx, cancel := context.WithTimeout(ctx, d+60*time.Second)
	defer cancel()
	out := &twoNodes{}
	for _, q := range qs {
		if err := q.Wait(wctx); err != nil {
			return nil, err
		}
		out.stats = append(out.stats, q.Stats())
	}
	elapsed := time.Since(start)
	for i, n := range names {
		busy, _, _ := schedBusy(engines[n])
		out.nodes[i] = float64(busy-busy0[i]) / float64(elapsed.Nanoseconds()) // one worker each
	}
	out.util = (out.nodes[0] + out.nodes[1]) / 2
	if cpu1 := processCPU(); cpu0 >= 0 && cpu1 >= 0 {
		out.cpu = float64(cpu1-cpu0) / (float64(elapsed.Nanoseconds()) * float64(goruntime.NumCPU()))
	} else {
		out.cpu = math.NaN()
	}
	return out, nil
}
