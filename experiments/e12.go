package experiments

import (
	"context"
	"fmt"
	"net"
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

func e12(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E12", Title: "Two nodes over protoactor remote: LS + BA"}
	d := pick(o, 3*time.Second, 30*time.Second)
	var rows []Row
	p99 := map[string]float64{}
	for _, sched := range []string{"cameo", "fifo"} {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "  E12 %s: %v on two nodes\n", sched, d)
		}
		res, err := runTwoNodes(ctx, sched, d)
		if err != nil {
			return nil, fmt.Errorf("E12 %s: %w", sched, err)
		}
		for _, s := range res {
			class := BA
			if s.Tenant == "ls" {
				class = LS
				p99[sched] = s.P99Ms
				rep.Findings = append(rep.Findings, Finding{Metric: "LS p50 / p99 / met, " + sched, Ours: fmt.Sprintf("%.2f / %.2f ms / %.1f %%", s.P50Ms, s.P99Ms, 100*s.MetRatio)})
			}
			rows = append(rows, Row{Experiment: "E12", Variant: "two nodes", Scheduler: sched, Query: s.Name, Tenant: s.Tenant, Class: class,
				TargetMs: s.LatencyTargetMs, EventsIn: s.EventsIn, Results: s.Results, P50Ms: s.P50Ms, P99Ms: s.P99Ms, MaxMs: s.MaxMs,
				MetRatio: s.MetRatio, EventsPerSec: float64(s.EventsIn) / d.Seconds()})
		}
	}
	rep.Findings = append(rep.Findings, Finding{Metric: "LS p99 fifo/cameo, two nodes", Paper: "— (the paper runs one process)", Ours: fmt.Sprintf("%.1f×", ratio(p99["fifo"], p99["cameo"]))})
	return rep, write(o, rep, "E12.csv", rows)
}

// runTwoNodes runs the LS and BA queries on two in-process nodes with
// scheduler sched and returns their stats from the submitting node.
func runTwoNodes(ctx context.Context, sched string, d time.Duration) ([]runtime.QueryStats, error) {
	addrs := map[string]string{}
	for _, n := range []string{"a", "b"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addrs[n] = ln.Addr().String()
		ln.Close()
	}
	engines := map[string]*runtime.Engine{}
	defer func() {
		for _, e := range engines {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = e.Stop(sctx)
			cancel()
		}
	}()
	for _, n := range []string{"a", "b"} {
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
	var qs []*runtime.Query
	for _, text := range []string{fmt.Sprintf(e12LS, d), fmt.Sprintf(e12BA, 6000, d, 3000)} {
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
	var out []runtime.QueryStats
	for _, q := range qs {
		if err := q.Wait(wctx); err != nil {
			return nil, err
		}
		out = append(out, q.Stats())
	}
	return out, nil
}
