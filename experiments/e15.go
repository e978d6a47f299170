package experiments

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// E15: density. n small queries over 100 tenants on one engine of 2
// workers: nine in ten latency-sensitive (generator → filter → sink, 20 ms
// target), one in ten a 1 s window over 50 keys (1 s target), each ~10
// events/s. Three variants per count: the queries at 10 events/s; the
// same queries at rest (one event per 1,000 s); and the same events
// carried by two queries (one LS at 0.9 × n × 10 events/s, one window at
// 0.1 × n × 10), for the CPU per event a query costs beyond its events.
// Beside each, the simulator's prediction for the same count, queries and
// rates, with the per-message cost the real run measured.

const (
	e15Rate   = 10.0
	e15Target = 20 * time.Millisecond
)

type e15Run struct {
	variant            string
	queries            int // the queries it held
	events             uint64
	cpuNs              int64 // user + system CPU of the process during the run
	elapsed            time.Duration
	rssBase, rssPeak   int64
	heapBase, heapPeak int64
	submit             time.Duration
	lsResults, lsMet   float64 // LS results, and of them within target
	lsP99s             []float64
	baResults          uint64
	timerRuns          uint64
	timerLateNs        int64 // summed over the runs
}

// e15Spec is query i of a run: LS unless i%10 == 9; rate in events/s;
// keys for the window.
func e15Spec(i int, ls bool, rate float64, keys int) (*query.Plan, error) {
	var body string
	if ls {
		body = fmt.Sprintf(`name: ls-%d
tenant: t%d
latency_target: %s
sources: [{name: s, generator: {rate: %g, seed: %d, keys: {count: 10}, fields: {v: {uniform: [1, 100]}}}}]
pipeline: [{filter: 'v > 5'}]
sink: {discard: {}}
`, i, i%100, e15Target, rate, i+1)
	} else {
		body = fmt.Sprintf(`name: win-%d
tenant: t%d
latency_target: 1s
sources: [{name: s, generator: {rate: %g, seed: %d, keys: {count: %d}, fields: {v: {uniform: [1, 100]}}}}]
pipeline:
  - key_by: key
  - window: {tumbling: 1s}
    aggregate: {n: count(), s: sum(v)}
sink: {discard: {}}
`, i, i%100, rate, i+1, keys)
	}
	return query.Parse("e15.yaml", []byte(body))
}

// e15Once runs one variant: the plans on a fresh engine for dur.
func e15Once(ctx context.Context, o Options, variant string, n int, plans []*query.Plan, dur time.Duration) (*e15Run, error) {
	eng, err := runtime.New(runtime.WithWorkers(o.workers()), runtime.WithScheduler("cameo"), runtime.WithNodeMemory(-1))
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = eng.Stop(context.Background())
		}
	}()
	r := &e15Run{variant: variant, queries: len(plans)}
	resetPeakRSS()
	r.rssBase, r.heapBase = currentRSS(), heapBytes()
	start := time.Now()
	qs := make([]*runtime.Query, 0, len(plans))
	for _, p := range plans {
		q, err := eng.Submit(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("E15 %s n=%d: submit %s: %w", variant, n, p.Name(), err)
		}
		qs = append(qs, q)
	}
	r.submit = time.Since(start)
	// A second to settle (first events, first windows), then the measure.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Second):
	}
	events0 := uint64(0)
	for _, q := range qs {
		events0 += q.Stats().EventsRead
	}
	cpu0, t0, timers0 := processCPU(), time.Now(), eng.TimerStats()
	r.heapPeak = heapBytes()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.After(dur)
wait:
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-end:
			break wait
		case <-tick.C:
			r.heapPeak = max(r.heapPeak, heapBytes())
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "\r  E15 %-22s %6d queries %4.0fs / %.0fs", variant, n, time.Since(t0).Seconds(), dur.Seconds())
			}
		}
	}
	r.cpuNs, r.elapsed = processCPU()-cpu0, time.Since(t0)
	timers1 := eng.TimerStats()
	r.timerRuns, r.timerLateNs = timers1.Runs-timers0.Runs, timers1.LateNs-timers0.LateNs
	r.rssPeak = peakRSS()
	for _, q := range qs {
		st := q.Stats()
		r.events += st.EventsRead
		if strings.HasPrefix(st.Name, "ls-") {
			r.lsResults += float64(st.Results)
			r.lsMet += st.MetRatio * float64(st.Results)
			if st.Results > 0 {
				r.lsP99s = append(r.lsP99s, st.P99Ms)
			}
		} else {
			r.baResults += st.Results
		}
	}
	r.events -= events0
	stopped = true
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := eng.Stop(sctx); err != nil {
		return nil, fmt.Errorf("E15 %s n=%d: stop: %w", variant, n, err)
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "\r%70s\r", "")
	}
	return r, nil
}

func e15(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E15", Title: "Density: many small queries on one node"}
	counts := pick(o, []int{10, 1000}, []int{10, 100, 1000, 5000, 10000})
	dur := pick(o, 2*time.Second, 20*time.Second)
	var rows []Row
	cpuSer := map[string]*Series{}
	rssSer := map[string]*Series{}
	addPoint := func(m map[string]*Series, name string, x, y float64) {
		if m[name] == nil {
			m[name] = &Series{Name: name}
		}
		m[name].X, m[name].Y = append(m[name].X, x), append(m[name].Y, y)
	}
	for _, n := range counts {
		build := func(rate float64) ([]*query.Plan, error) {
			plans := make([]*query.Plan, n)
			for i := range plans {
				var err error
				if plans[i], err = e15Spec(i, i%10 != 9, rate, 50); err != nil {
					return nil, err
				}
			}
			return plans, nil
		}
		busy, err := build(e15Rate)
		if err != nil {
			return nil, err
		}
		rest, err := build(query.MinRate)
		if err != nil {
			return nil, err
		}
		nLS := n - n/10
		ls, err := e15Spec(0, true, e15Rate*float64(nLS), 0)
		if err != nil {
			return nil, err
		}
		two := []*query.Plan{ls}
		if n/10 > 0 {
			win, err := e15Spec(9, false, e15Rate*float64(n/10), min(100_000, 50*(n/10)))
			if err != nil {
				return nil, err
			}
			two = append(two, win)
		}
		var runs [3]*e15Run
		for i, v := range []struct {
			name  string
			plans []*query.Plan
		}{{"10 events/s each", busy}, {"at rest", rest}, {"same events, 2 queries", two}} {
			if runs[i], err = e15Once(ctx, o, v.name, n, v.plans, dur); err != nil {
				return nil, err
			}
		}
		// The simulator on the same count and rates, each message costing
		// what the real run spent per event.
		perEvent := float64(runs[0].cpuNs) / float64(max(runs[0].events, 1))
		mix := simMix{Workers: o.workers(), Queries: n, LS: nLS, LSRate: e15Rate, BARate: e15Rate,
			LSCost: int64(perEvent), BACost: int64(perEvent), LSTarget: int64(e15Target), BATarget: int64(time.Second), Seed: uint64(n)}
		sim, err := simulateMix(mix, "cameo+shares", pick(o, int64(2e9), int64(10e9)))
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			cpuPerEvent := float64(r.cpuNs) / float64(max(r.events, 1)) / 1e3
			cores := float64(r.cpuNs) / float64(r.elapsed.Nanoseconds())
			rssPer := float64(r.rssPeak-r.rssBase) / float64(r.queries) / 1024
			heapPer := float64(r.heapPeak-r.heapBase) / float64(r.queries) / 1024
			met, p99, worst := r.lsFigures()
			row := Row{Experiment: "E15", Variant: r.variant, Scheduler: "cameo", Query: fmt.Sprintf("%d queries", n), Class: LS,
				TargetMs: float64(e15Target) / 1e6, Results: uint64(r.lsResults), P99Ms: p99, MetRatio: met,
				EventsPerSec: float64(r.events) / r.elapsed.Seconds(),
				Extra: map[string]float64{"queries": float64(n), "cpu_us_per_event": cpuPerEvent, "cpu_cores": cores,
					"rss_kib_per_query": rssPer, "heap_kib_per_query": heapPer, "submit_ms": float64(r.submit.Microseconds()) / 1e3,
					"ls_p99_worst_query_ms": worst, "sim_ls_p99_ms": sim.lsP99, "sim_ls_met": sim.lsMet,
					"source_steps_per_s": float64(r.timerRuns) / r.elapsed.Seconds(), "source_step_late_mean_ms": float64(r.timerLateNs) / float64(max(r.timerRuns, 1)) / 1e6}}
			rows = append(rows, row)
			switch r.variant {
			case "10 events/s each":
				addPoint(cpuSer, "n queries", float64(n), cpuPerEvent)
				addPoint(rssSer, "10 ev/s each", float64(n), rssPer)
				rep.Findings = append(rep.Findings, Finding{Metric: fmt.Sprintf("%d queries at 10 events/s: CPU per event, cores, RSS and heap per query, submit", n),
					Paper: "—", Ours: fmt.Sprintf("%.1f µs, %.3f cores, %.0f KiB / %.0f KiB, %.0f ms", cpuPerEvent, cores, rssPer, heapPer, float64(r.submit.Microseconds())/1e3)},
					Finding{Metric: fmt.Sprintf("%d queries at 10 events/s: LS met, p99 median / worst query; simulator", n),
						Paper: "≥ 99 % met at 20 ms", Ours: fmt.Sprintf("%.2f %%, %.2f / %.2f ms; sim %.2f ms, %.2f %%", 100*met, p99, worst, sim.lsP99, 100*sim.lsMet)})
			case "at rest":
				addPoint(rssSer, "at rest", float64(n), rssPer)
				rep.Findings = append(rep.Findings, Finding{Metric: fmt.Sprintf("%d queries at rest: CPU (share of one core), RSS and heap per query", n),
					Paper: "< 5 % of a core, < 64 KB each at 10,000", Ours: fmt.Sprintf("%.2f %%, %.0f KiB / %.0f KiB", 100*cores, rssPer, heapPer)})
			default:
				addPoint(cpuSer, "2 queries", float64(n), cpuPerEvent)
				ratio := (float64(runs[0].cpuNs) / float64(max(runs[0].events, 1))) / (float64(r.cpuNs) / float64(max(r.events, 1)))
				rep.Findings = append(rep.Findings, Finding{Metric: fmt.Sprintf("%d queries' events in 2 queries: CPU per event; the %d queries' ratio to it", n, n),
					Paper: "within 2×", Ours: fmt.Sprintf("%.1f µs; %.2f×", cpuPerEvent, ratio)})
			}
		}
	}
	if err := write(o, rep, "E15.csv", rows, "queries", "cpu_us_per_event", "cpu_cores", "rss_kib_per_query", "heap_kib_per_query", "submit_ms", "ls_p99_worst_query_ms", "sim_ls_p99_ms", "sim_ls_met", "source_steps_per_s", "source_step_late_mean_ms"); err != nil {
		return nil, err
	}
	series := func(m map[string]*Series) []Series {
		var out []Series
		for _, k := range slices.Sorted(maps.Keys(m)) {
			out = append(out, *m[k])
		}
		return out
	}
	if err := plotTo(o, rep, "E15-cpu.png", PlotSpec{Title: "E15: CPU per event, n queries of 10 events/s or 2 queries of the same events", X: "n (log scale)", Y: "CPU µs per event (log scale)", LogX: true, LogY: true}, series(cpuSer)); err != nil {
		return nil, err
	}
	return rep, plotTo(o, rep, "E15-memory.png", PlotSpec{Title: "E15: resident memory per query", X: "queries (log scale)", Y: "KiB per query", LogX: true}, series(rssSer))
}

// lsFigures returns the LS queries' met ratio over all their results, the
// median of their p99s, and the p99 of the worst query.
func (r *e15Run) lsFigures() (met, medianP99, worst float64) {
	if r.lsResults > 0 {
		met = r.lsMet / r.lsResults
	}
	if len(r.lsP99s) == 0 {
		return met, math.NaN(), math.NaN()
	}
	p := slices.Sorted(slices.Values(r.lsP99s))
	return met, p[len(p)/2], p[len(p)-1]
}
