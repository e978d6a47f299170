package experiments

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cameo-go/cameo/connector"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// NEXMark: each query of examples/nexmark run on the engine with the
// workers of the run (2 by default) and the cameo scheduler.
//
//   - Throughput: the query unpaced over a fixed count of the stream's
//     events (the source makes them as fast as the query takes them), its
//     sink discarding; records read per second of wall time, per worker,
//     and per second of the process's CPU time; the median of several runs.
//   - Latency: the query paced at 50 % and 90 % of that median rate (of the
//     whole stream, persons and auctions included), its p99 and met ratio
//     against its target.
//
// The published figures beside them are Alibaba Cloud's NEXMark white paper
// for its Flink service on 8 CU (1 CU = 1 core and 4 GiB): 4–6.5 M
// records/s for q0–q2, 150–630 k for q4, q5 and q16, divided by 8.

// nexmarkQueries are the examples run, in order.
var nexmarkQueries = []string{"q0", "q1", "q2", "q3", "q5", "q7", "q8", "q11", "q12"}

// flinkPerCore is the white paper's per-core range for a query, in records/s.
func flinkPerCore(q string) string {
	switch q {
	case "q0", "q1", "q2":
		return "500–810 k"
	case "q5":
		return "19–79 k"
	}
	return "—"
}

// nexmarkDir finds examples/nexmark from the repository's root or a
// package directory under it.
func nexmarkDir() (string, error) {
	for _, d := range []string{"examples/nexmark", "../examples/nexmark"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, nil
		}
	}
	return "", fmt.Errorf("examples/nexmark not found from %s: run from the repository", func() string { wd, _ := os.Getwd(); return wd }())
}

// nexmarkPlan reads a query and sets its sources: events of the stream (0:
// unbounded), the rate of the whole stream, duration; its sink discards.
func nexmarkPlan(dir, name string, events int64, rate float64, d time.Duration) (*query.Plan, error) {
	p, err := query.ParseFile(filepath.Join(dir, name+".yaml"))
	if err != nil {
		return nil, err
	}
	s := p.Spec()
	for _, src := range s.Sources {
		nx, ok := src.Input.(*connector.Nexmark)
		if !ok {
			return nil, fmt.Errorf("%s: source %s is not nexmark", name, src.Name)
		}
		nx.Events, nx.Rate, nx.Duration = events, rate, d
	}
	s.Sink = query.Sink{Output: query.Discard{}}
	return query.Compile(s)
}

func nexmark(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "NEXMark", Title: "NEXMark queries: throughput per core and latency at 50 % and 90 % of it"}
	dir, err := nexmarkDir()
	if err != nil {
		return nil, err
	}
	workers := o.workers()
	events := pick(o, int64(100_000), int64(4_000_000))
	runs := pick(o, 1, 5)
	paced := pick(o, time.Second, 10*time.Second)
	var rows []Row
	var table []string
	for qi, name := range nexmarkQueries {
		// Throughput, unpaced.
		var rates, cpuRates, readRates []float64
		for r := range runs {
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "\r  NEXMark %s (%d of %d): unpaced run %d of %d   ", name, qi+1, len(nexmarkQueries), r+1, runs)
			}
			plan, err := nexmarkPlan(dir, name, events, 1e6, 0)
			if err != nil {
				return nil, err
			}
			eng, err := runtime.New(runtime.WithWorkers(workers), runtime.WithScheduler("cameo"), runtime.WithUnpacedSources())
			if err != nil {
				return nil, err
			}
			cpu0, start := processCPU(), time.Now()
			q, err := eng.Submit(ctx, plan)
			if err == nil {
				err = q.Wait(ctx)
			}
			elapsed, cpu := time.Since(start), processCPU()-cpu0
			_ = eng.Stop(context.Background())
			if err != nil {
				return nil, fmt.Errorf("%s unpaced: %w", name, err)
			}
			st := q.Stats()
			rates = append(rates, float64(events)/elapsed.Seconds())
			readRates = append(readRates, float64(st.EventsRead)/elapsed.Seconds())
			if cpu > 0 {
				cpuRates = append(cpuRates, float64(st.EventsRead)/(float64(cpu)/1e9))
			}
			rows = append(rows, Row{Experiment: "NEXMark", Variant: "unpaced", Scheduler: "cameo", Query: name, Tenant: "nexmark", Class: BA,
				TargetMs: 1000, EventsIn: st.EventsIn, Results: st.Results, EventsPerSec: float64(st.EventsRead) / elapsed.Seconds(),
				Extra: map[string]float64{"stream_events_per_s": float64(events) / elapsed.Seconds(), "cpu_s": float64(cpu) / 1e9, "run": float64(r + 1)}})
		}
		stream, read, perCPU := median(rates), median(readRates), median(cpuRates)
		// Latency at 50 % and 90 % of the median stream rate.
		var lat []string
		for _, frac := range []float64{0.5, 0.9} {
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "\r  NEXMark %s (%d of %d): paced at %.0f %%          ", name, qi+1, len(nexmarkQueries), 100*frac)
			}
			plan, err := nexmarkPlan(dir, name, 0, frac*stream, paced)
			if err != nil {
				return nil, err
			}
			eng, err := runtime.New(runtime.WithWorkers(workers), runtime.WithScheduler("cameo"))
			if err != nil {
				return nil, err
			}
			q, err := eng.Submit(ctx, plan)
			if err == nil {
				err = q.Wait(ctx)
			}
			_ = eng.Stop(context.Background())
			if err != nil && (q == nil || ctx.Err() != nil) {
				return nil, fmt.Errorf("%s paced: %w", name, err)
			}
			st := q.Stats()
			if err != nil { // the query failed (its memory budget, say): reported, and the rest goes on
				lat = append(lat, fmt.Sprintf("failed after %s events: %v", si(float64(st.EventsRead)), err))
				rows = append(rows, Row{Experiment: "NEXMark", Variant: fmt.Sprintf("paced %.0f%% (failed)", 100*frac), Scheduler: "cameo", Query: name, Tenant: "nexmark", Class: BA,
					TargetMs: st.LatencyTargetMs, EventsIn: st.EventsIn, Results: st.Results, Extra: map[string]float64{"stream_events_per_s": frac * stream}})
				continue
			}
			rows = append(rows, Row{Experiment: "NEXMark", Variant: fmt.Sprintf("paced %.0f%%", 100*frac), Scheduler: "cameo", Query: name, Tenant: "nexmark", Class: BA,
				TargetMs: st.LatencyTargetMs, EventsIn: st.EventsIn, Results: st.Results, P50Ms: st.P50Ms, P99Ms: st.P99Ms, MaxMs: st.MaxMs, MetRatio: st.MetRatio,
				EventsPerSec: float64(st.EventsRead) / paced.Seconds(),
				Extra:        map[string]float64{"stream_events_per_s": frac * stream, "source_lag_ms": st.SourceLagMs, "unproduced": float64(st.EventsUnproduced)}})
			lat = append(lat, fmt.Sprintf("%.1f ms / %.1f %%", st.P99Ms, 100*st.MetRatio))
		}
		table = append(table, fmt.Sprintf("%s: %s records/s read (%s per worker, %s per CPU-second; stream %s events/s), Flink per core %s; p99 / met at 50 %%: %s, at 90 %%: %s",
			name, si(read), si(read/float64(workers)), si(perCPU), si(stream), flinkPerCore(name), lat[0], lat[1]))
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "\r%70s\r", "")
	}
	for _, line := range table {
		q, rest, _ := strings.Cut(line, ": ")
		rep.Findings = append(rep.Findings, Finding{Metric: "NEXMark " + q, Paper: "—", Ours: rest})
	}
	return rep, write(o, rep, "NEXMark.csv", rows, "stream_events_per_s", "cpu_s", "run", "source_lag_ms", "unproduced")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// si writes n with k or M.
func si(n float64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0f k", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}
