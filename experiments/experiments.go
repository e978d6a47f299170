package experiments

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"sort"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// Options of a run of experiments.
type Options struct {
	Quick    bool      // the small version CI runs
	Out      string    // directory for CSV files and plots
	Progress io.Writer // a progress line while runs go; nil: none
	Workers  int       // worker pool size; default 2
}

// Finding is one number an experiment reports, beside the paper's.
type Finding struct {
	Metric string
	Paper  string
	Ours   string
}

// Report is what an experiment produced.
type Report struct {
	Name, Title string
	Findings    []Finding
	Files       []string // CSV and plots written
}

// Experiment is one entry of the catalogue.
type Experiment struct {
	Name  string
	Title string
	Run   func(ctx context.Context, o Options) (*Report, error)
}

// Catalogue lists the experiments, E1–E15 and NEXMark, in order.
func Catalogue() []Experiment {
	return []Experiment{
		{"E1", "Motivating example (slides 17–23)", e1},
		{"E2", "One windowed multi-stage query, fifo vs cameo (slide 40)", e2},
		{"E3", "Single tenant: latency against load", e3},
		{"E4", "Multi-tenant: latency-sensitive + bulk analytics", e4},
		{"E5", "Transient spikes of the bulk tenants", e5},
		{"E6", "Plug-in policy: proportional fair share 20/40/40", e6},
		{"E7", "Policy comparison: the E4 mix, and big windows beside tight targets", e7},
		{"E8", "Sensitivity to profiling error", e8},
		{"E9", "Overhead: throughput at low load, cost per message as actors grow", e9},
		{"E10", "Scheduler knobs: turn quantum and batch size", e10},
		{"E11", "Beyond the paper: the simulator at scale", e11},
		{"E12", "Beyond the paper: LS + BA across two nodes over protoactor remote", e12},
		{"E13", "Beyond the paper: gaming — a tenant declares 1 ms targets at 10× another's load", e13},
		{"E14", "Beyond the paper: admission — queries submitted until the node is full", e14},
		{"E15", "Beyond the paper: density — 10 to 10,000 small queries on one node", e15},
		{"NEXMark", "NEXMark queries: throughput per core against Flink's, latency at 50 % and 90 % of it", nexmark},
	}
}

// Lookup returns the experiment called name (case-insensitive).
func Lookup(name string) (Experiment, bool) {
	for _, e := range Catalogue() {
		if strings.EqualFold(e.Name, name) {
			return e, true
		}
	}
	return Experiment{}, false
}

func (o Options) workers() int {
	if o.Workers > 0 {
		return o.Workers
	}
	return 2
}

// pick returns quick in quick mode, else full.
func pick[T any](o Options, quick, full T) T {
	if o.Quick {
		return quick
	}
	return full
}

// runAll runs sc under each scheduler and collects the rows.
func runAll(ctx context.Context, o Options, exp string, sc Scenario, scheds []string) ([]*RunResult, []Row, error) {
	var runs []*RunResult
	var rows []Row
	for _, s := range scheds {
		sc.Scheduler = s
		if sc.Workers == 0 {
			sc.Workers = o.workers()
		}
		r, err := Run(ctx, sc, o.Progress)
		if err != nil {
			return nil, nil, err
		}
		runs = append(runs, r)
		rows = append(rows, RowsOf(exp, r)...)
	}
	return runs, rows, nil
}

// class merges the latency histograms of one class of queries of a run.
func class(r *RunResult, c string) (h *hdrhistogram.Histogram, met float64, eps float64) {
	h = runtime.NewLatencyHistogram()
	var n, m float64
	for _, q := range r.Queries {
		if q.Spec.Class != c {
			continue
		}
		h.Merge(q.Latency)
		n += float64(q.Stats.Results)
		m += q.Stats.MetRatio * float64(q.Stats.Results)
		eps += float64(q.Stats.EventsIn) / r.Elapsed.Seconds()
	}
	if n > 0 {
		met = m / n
	}
	return h, met, eps
}

func p(h *hdrhistogram.Histogram, q float64) float64 { return float64(h.ValueAtQuantile(q)) / 1e6 }

func write(o Options, rep *Report, name string, rows []Row, extra ...string) error {
	path, err := ensureDir(o.Out, name)
	if err != nil {
		return err
	}
	if err := WriteCSV(path, rows, extra...); err != nil {
		return err
	}
	rep.Files = append(rep.Files, path)
	return nil
}

func plotTo(o Options, rep *Report, name string, spec PlotSpec, s []Series) error {
	path, err := ensureDir(o.Out, name)
	if err != nil {
		return err
	}
	if err := PlotLines(path, spec, s); err != nil {
		return err
	}
	rep.Files = append(rep.Files, path)
	return nil
}

// ---- E1

func e1(_ context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E1", Title: "Motivating example"}
	var rows []Row
	want := map[string]string{"fifo": "2 misses (M2, M4)", "llf": "1 miss (M4)", "cameo": "0 misses"}
	for _, name := range []string{"fifo", "llf", "cameo"} {
		pol, _ := priority.PolicyByName(name)
		out, err := priority.MotivatingExample(pol, nil)
		if err != nil {
			return nil, err
		}
		rows = append(rows, Row{Experiment: "E1", Scheduler: name, Query: "motivating", Extra: map[string]float64{"misses": float64(len(out.Misses))}})
		rep.Findings = append(rep.Findings, Finding{Metric: name + " misses", Paper: want[name], Ours: fmt.Sprintf("%d %v, order %v", len(out.Misses), out.Misses, out.Order)})
	}
	return rep, write(o, rep, "E1.csv", rows, "misses")
}

// ---- E4 mix, shared by E4, E5, E7, E8, E10

// mix is the latency-sensitive + bulk-analytics mix on 2 workers: one LS
// filter query (1,000 events/s, 150 µs each, 50 ms target) and two BA
// window queries (10,000 events/s each, 70 µs each, 2 s windows, 5 s
// target): about 0.15 + 1.4 of 2 cores.
func mix(load float64, bursts bool) []QuerySpec { return mixSpikes(load, bursts, 10*time.Second, 3) }

// mixSpikes is mix with the BA bursts every `every`, 2 s long, at factor
// times the rate.
func mixSpikes(load float64, bursts bool, every time.Duration, factor float64) []QuerySpec {
	qs := []QuerySpec{
		{Name: "ls-alerts", Tenant: "ops", Class: LS, Shape: ShapeFilter, Target: 50 * time.Millisecond, Rate: 1000, Keys: 10,
			CostPerEvent: 150 * time.Microsecond, Parallelism: 1},
	}
	for i := 0; i < 2; i++ {
		ba := QuerySpec{Name: fmt.Sprintf("ba-%d", i+1), Tenant: fmt.Sprintf("bi-%d", i+1), Class: BA, Shape: ShapeWindow,
			Target: 5 * time.Second, Rate: 10000 * load, Keys: 1000, Window: 2 * time.Second,
			CostPerEvent: 70 * time.Microsecond, CostPerResult: 20 * time.Microsecond, Parallelism: 2}
		if bursts {
			for at := 5 * time.Second; at < 10*time.Minute; at += every {
				ba.Bursts = append(ba.Bursts, query.Burst{At: at + time.Duration(i)*time.Second, For: 2 * time.Second, Factor: factor})
			}
		}
		qs = append(qs, ba)
	}
	return qs
}

func e4(ctx context.Context, o Options) (*Report, error) {
	return mixExperiment(ctx, o, "E4", "Multi-tenant LS + BA", false,
		Finding{Metric: "LS p99 fifo/cameo", Paper: "4.6× (multi-tenant, abstract)"},
		Finding{Metric: "LS p99 protoactor/cameo", Paper: "4.6× vs Orleans default (reading of the abstract)"})
}

// E5 runs two variants: transient spikes (each BA tenant ×4 for 2 s every
// 20 s over a base of 0.6: the pool is overloaded during a spike and
// recovers between them), and sustained overload (×3 for 2 s every 10 s
// over the full E4 mix: on average more work arrives than the pool does).
func e5(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E5", Title: "Transient spikes"}
	var rows []Row
	for _, v := range []struct {
		name    string
		queries []QuerySpec
	}{
		{"spikes", mixSpikes(0.6, true, 20*time.Second, 4)},
		{"overload", mixSpikes(1, true, 10*time.Second, 3)},
	} {
		r, rs, err := mixRuns(ctx, o, "E5", v.name, v.queries, pick(o, 3*time.Second, 60*time.Second),
			Finding{Metric: "LS p99 fifo/cameo, " + v.name, Paper: "21–30× (talk, spikes)"},
			Finding{Metric: "LS p99 protoactor/cameo, " + v.name, Paper: "21–30× (talk, spikes)"}, pick(o, []string{}, []string{"edf", "llf"})...)
		if err != nil {
			return nil, err
		}
		rep.Findings = append(rep.Findings, r.Findings...)
		rep.Files = append(rep.Files, r.Files...)
		rows = append(rows, rs...)
	}
	return rep, write(o, rep, "E5.csv", rows)
}

func mixExperiment(ctx context.Context, o Options, name, title string, bursts bool, fifo, proto Finding) (*Report, error) {
	rep, rows, err := mixRuns(ctx, o, name, "mix", mix(1, bursts), pick(o, 3*time.Second, 90*time.Second), fifo, proto)
	if err != nil {
		return nil, err
	}
	rep.Title = title
	return rep, write(o, rep, name+".csv", rows)
}

// mixRuns runs an LS + BA mix under cameo, fifo, protoactor, slots and
// the more schedulers named, and plots the LS latency CDF and p99
// timeline.
func mixRuns(ctx context.Context, o Options, name, variant string, queries []QuerySpec, d time.Duration, fifo, proto Finding, more ...string) (*Report, []Row, error) {
	rep := &Report{Name: name}
	sc := Scenario{Name: name, Variant: variant, Duration: d, Queries: queries, Seed: 1}
	scheds := append([]string{"cameo", "fifo", "protoactor", "slots"}, more...)
	runs, rows, err := runAll(ctx, o, name, sc, scheds)
	if err != nil {
		return nil, nil, err
	}
	var cdf, tl []Series
	p99 := map[string]float64{}
	for _, r := range runs {
		h, met, _ := class(r, LS)
		s := r.Scenario.Scheduler
		p99[s] = p(h, 99)
		cdf = append(cdf, CDF(s, h))
		rep.Findings = append(rep.Findings, Finding{Metric: fmt.Sprintf("LS p50 / p99 / met, %s, %s", variant, s), Ours: fmt.Sprintf("%.2f / %.2f ms / %.1f %%", p(h, 50), p(h, 99), 100*met)})
		if r.PeakRSS > 0 {
			rep.Findings = append(rep.Findings, Finding{Metric: fmt.Sprintf("peak RSS / Go heap, %s, %s", variant, s), Ours: fmt.Sprintf("%d / %d MiB", r.PeakRSS>>20, r.PeakHeap>>20)})
		}
		for _, q := range r.Queries {
			if q.Spec.Class == LS {
				ser := Series{Name: s}
				for _, pt := range q.Timeline {
					ser.X, ser.Y = append(ser.X, pt.T), append(ser.Y, pt.P99Ms)
				}
				tl = append(tl, ser)
			}
		}
	}
	fifo.Ours = ratioText(p99["fifo"], p99["cameo"])
	proto.Ours = ratioText(p99["protoactor"], p99["cameo"])
	rep.Findings = append(rep.Findings, fifo, proto)
	base := name
	if variant != "mix" {
		base = name + "-" + variant
	}
	target := lsTarget(queries)
	if err := plotTo(o, rep, base+"-ls-cdf.png", PlotSpec{Title: base + ": latency-sensitive results, CDF", X: "latency (ms, log scale)", Y: "share of results", LogX: true, VLines: target}, cdf); err != nil {
		return nil, nil, err
	}
	return rep, rows, plotTo(o, rep, base+"-ls-timeline.png", PlotSpec{Title: base + ": latency-sensitive p99 per second", X: "time (s)", Y: "p99 (ms, log scale)", LogY: true, HLines: target}, tl)
}

// ---- E2, E3: one multi-stage windowed query

func stages(load float64) QuerySpec {
	// Two stages of 20 µs per event and 200 µs per window result: at load
	// 1 the events alone fill 2 cores (50,000 events/s × 40 µs).
	return QuerySpec{Name: "agg", Tenant: "solo", Class: BA, Shape: ShapeStages, Target: 1500 * time.Millisecond,
		Rate: 50000 * load, Keys: 200, Window: time.Second, CostPerEvent: 20 * time.Microsecond, CostPerResult: 200 * time.Microsecond, Parallelism: 4}
}

func e2(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E2", Title: "One windowed multi-stage query"}
	sc := Scenario{Name: "E2", Variant: "load 0.85", Duration: pick(o, 3*time.Second, 60*time.Second), Queries: []QuerySpec{stages(0.85)}, Seed: 2}
	runs, rows, err := runAll(ctx, o, "E2", sc, pick(o, []string{"cameo", "fifo"}, []string{"cameo", "edf", "llf", "fifo", "protoactor"}))
	if err != nil {
		return nil, err
	}
	var tl []Series
	p50 := map[string]float64{}
	for _, r := range runs {
		q := r.Queries[0]
		p50[r.Scenario.Scheduler] = p(q.Latency, 50)
		ser := Series{Name: r.Scenario.Scheduler}
		for _, pt := range q.Timeline {
			ser.X, ser.Y = append(ser.X, pt.T), append(ser.Y, pt.P99Ms)
		}
		tl = append(tl, ser)
		rep.Findings = append(rep.Findings, Finding{Metric: "window result p50 / p99, " + r.Scenario.Scheduler, Ours: fmt.Sprintf("%.1f / %.1f ms", p(q.Latency, 50), p(q.Latency, 99))})
	}
	rep.Findings = append(rep.Findings, Finding{Metric: "result latency fifo/cameo (p50)", Paper: "2.7–3.2×", Ours: ratioText(p50["fifo"], p50["cameo"])})
	if err := write(o, rep, "E2.csv", rows); err != nil {
		return nil, err
	}
	return rep, plotTo(o, rep, "E2-timeline.png", PlotSpec{Title: "E2: window results' p99 per second", X: "time (s)", Y: "p99 (ms, log scale)", LogY: true, HLines: lsTarget(sc.Queries)}, tl)
}

// e3Capacity measures how many events a second of the E3 query the
// machine carries: the process's CPU per event on protoactor (Go's own
// scheduler: no idle worker spins, so the process's CPU is the work's),
// at 80 % of an estimate of the capacity, estimated again from what that
// run measured until it moves less than 5 % (at most four runs): the cost
// per event falls as the load grows (bigger batches). The operators' spin
// alone is 40 µs an event; what the engine, Go's scheduler and the
// generator add on top is what a nominal load (the spin's share of the
// cores) leaves out, and it is not small: see experiments/README.md.
func e3Capacity(ctx context.Context, o Options) (rate, perEventUs float64, err error) {
	cores := float64(min(o.workers(), goruntime.GOMAXPROCS(0)))
	rate = 0.6 * 50000 * cores / 2 // a guess: the spin alone, at 60 %
	for range 4 {
		q := stages(0)
		q.Rate = 0.8 * rate
		sc := Scenario{Name: "E3", Variant: "calibration", Scheduler: "protoactor", Workers: o.workers(),
			Duration: pick(o, 1500*time.Millisecond, 6*time.Second), Queries: []QuerySpec{q}, Seed: 3}
		r, err := Run(ctx, sc, o.Progress)
		if err != nil {
			return 0, 0, fmt.Errorf("E3 calibration: %w", err)
		}
		evs := float64(r.Queries[0].Stats.EventsIn) / r.Elapsed.Seconds()
		if r.ProcessCores <= 0 || evs <= 0 {
			return 0, 0, nil // not measurable here: nominal loads
		}
		perEvent := r.ProcessCores / evs // core-seconds per event
		prev := rate
		rate, perEventUs = cores/perEvent, perEvent*1e6
		if math.Abs(rate-prev) < 0.05*prev {
			break
		}
	}
	return rate, perEventUs, nil
}

func e3(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E3", Title: "Single tenant: latency against load"}
	loads := pick(o, []float64{0.85}, []float64{0.4, 0.6, 0.8, 0.9, 0.95})
	scheds := pick(o, []string{"cameo", "cameo+paper", "fifo", "protoactor"}, []string{"cameo", "cameo+paper", "edf", "llf", "fifo", "protoactor", "slots"})
	// A load is a share of the capacity measured on this machine; where
	// the process's CPU cannot be read, of the operators' nominal cost.
	capacity, perEventUs, err := e3Capacity(ctx, o)
	if err != nil {
		return nil, err
	}
	axis := "offered load (share of the measured capacity)"
	if capacity > 0 {
		rep.Findings = append(rep.Findings, Finding{Metric: "capacity (protoactor, process CPU per event at 80 % of it)",
			Ours: fmt.Sprintf("%.0f events/s, %.1f µs of CPU per event (the operators' spin: 40 µs); load 1 is nominal load %.2f", capacity, perEventUs, capacity/50000)})
	} else {
		capacity, axis = 50000, "offered load (the operators' CPU over 2 cores)"
		rep.Findings = append(rep.Findings, Finding{Metric: "capacity", Ours: "not measured (no process CPU time here): nominal loads"})
	}
	series := map[string]*Series{}
	var rows []Row
	var at85 = map[string]float64{}
	for _, l := range loads {
		q := stages(l)
		q.Rate = l * capacity
		sc := Scenario{Name: "E3", Variant: fmt.Sprintf("load %.2f", l), Duration: pick(o, 2500*time.Millisecond, 20*time.Second), Queries: []QuerySpec{q}, Seed: 3}
		runs, rs, err := runAll(ctx, o, "E3", sc, scheds)
		if err != nil {
			return nil, err
		}
		for i := range rs {
			rs[i].Extra = map[string]float64{"offered_events_per_s": q.Rate, "nominal_load": q.Rate / 50000}
		}
		rows = append(rows, rs...)
		for _, r := range runs {
			s := r.Scenario.Scheduler
			if series[s] == nil {
				series[s] = &Series{Name: s}
			}
			h := r.Queries[0].Latency
			v := p(h, 99)
			series[s].X, series[s].Y = append(series[s].X, l), append(series[s].Y, v)
			util := "not measured (no worker pool)"
			if s != "protoactor" {
				util = fmt.Sprintf("%.0f %%", 100*r.Utilisation)
			}
			if r.ProcessCores >= 0 {
				util += fmt.Sprintf(", process %.2f cores", r.ProcessCores)
			}
			rep.Findings = append(rep.Findings, Finding{Metric: fmt.Sprintf("load %.2f, %s: p50 / p99 / met, utilisation, process CPU", l, s),
				Ours: fmt.Sprintf("%.1f / %.1f ms / %.1f %%, %s", p(h, 50), v, 100*r.Queries[0].Stats.MetRatio, util)})
			if l == loads[len(loads)-1] {
				at85[s] = v
			}
		}
	}
	top := loads[len(loads)-1]
	rep.Findings = append(rep.Findings,
		Finding{Metric: fmt.Sprintf("p99 fifo/cameo at load %.2f", top), Paper: "2.7× (single tenant, abstract)", Ours: ratioText(at85["fifo"], at85["cameo"])},
		Finding{Metric: fmt.Sprintf("p99 protoactor/cameo at load %.2f", top), Paper: "2.7×", Ours: ratioText(at85["protoactor"], at85["cameo"])})
	var ss []Series
	for _, s := range scheds {
		ss = append(ss, *series[s])
	}
	if err := write(o, rep, "E3.csv", rows, "offered_events_per_s", "nominal_load"); err != nil {
		return nil, err
	}
	return rep, plotTo(o, rep, "E3-p99-vs-load.png", PlotSpec{Title: "E3: window results' p99 against offered load", X: axis, Y: "p99 (ms, log scale)", LogY: true, HLines: lsTarget([]QuerySpec{stages(0.5)})}, ss)
}

// ---- E6: fair share

func e6(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E6", Title: "Fair share 20/40/40"}
	gap := pick(o, 1500*time.Millisecond, 30*time.Second)
	weights := []float64{1, 2, 2}
	var qs []QuerySpec
	for i, w := range weights {
		// Each alone would need 4 cores: demand always exceeds the pool.
		qs = append(qs, QuerySpec{Name: fmt.Sprintf("flow-%d", i+1), Tenant: fmt.Sprintf("t%d", i+1), Class: BA, Shape: ShapeFilter,
			Target: time.Second, Rate: 40000, Keys: 10, CostPerEvent: 100 * time.Microsecond, Parallelism: 1,
			Start: time.Duration(i) * gap, Weight: w})
	}
	// Small batches and a small backlog bound, so that what a flow ingests
	// is what the scheduler lets it process, and stopping drains quickly.
	sc := Scenario{Name: "E6", Variant: "weights 1:2:2", Duration: 3*gap + pick(o, 3*time.Second, 90*time.Second), Queries: qs, Seed: 6,
		Engine: []runtime.Option{runtime.WithMaxBatch(32), runtime.WithMaxInFlight(16)}}
	// The plug-in policy alone: "+flat" turns the tenant shares off (each
	// flow is its own tenant of weight 1, and shares would split the pool
	// equally before the policy's weights could).
	runs, rows, err := runAll(ctx, o, "E6", sc, []string{"fair+flat"})
	if err != nil {
		return nil, err
	}
	r := runs[0]
	var ss []Series
	total := map[string]float64{}
	var sum float64
	for _, q := range r.Queries {
		s := Series{Name: fmt.Sprintf("%s (weight %g)", q.Spec.Name, q.Spec.Weight)}
		for _, pt := range q.Timeline {
			t0 := pt.T
			// Processed events: every event passes the filter to the sink.
			s.X, s.Y = append(s.X, t0), append(s.Y, float64(pt.Results))
			if t0 > 2*gap.Seconds()+1 { // all three running, after a second to settle
				total[q.Spec.Name] += float64(pt.Results)
				sum += float64(pt.Results)
			}
		}
		ss = append(ss, s)
	}
	var shares []string
	for _, q := range r.Queries {
		shares = append(shares, fmt.Sprintf("%.1f %%", 100*total[q.Spec.Name]/sum))
	}
	rep.Findings = append(rep.Findings, Finding{Metric: "shares while all three run", Paper: "20 / 40 / 40 % (12 : 24 : 24)", Ours: strings.Join(shares, " / ")})
	if err := write(o, rep, "E6.csv", rows); err != nil {
		return nil, err
	}
	return rep, plotTo(o, rep, "E6-throughput.png", PlotSpec{Title: "E6: events processed per second per dataflow, fair policy, weights 1:2:2", X: "time (s)", Y: "events per second"}, ss)
}

// ---- E7: policies

func e7(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E7", Title: "Policy comparison"}
	var rows []Row
	for _, v := range []struct {
		name    string
		queries []QuerySpec
		scheds  []string
	}{
		{"mix", mix(1, false), []string{"cameo", "llf", "edf", "sjf", "fifo"}},
		{"big windows", bigWindows(), pick(o, []string{"cameo", "fifo"}, []string{"cameo", "llf", "edf", "fifo", "protoactor"})},
	} {
		sc := Scenario{Name: "E7", Variant: v.name, Duration: pick(o, 2*time.Second, 60*time.Second), Queries: v.queries, Seed: 7}
		runs, rs, err := runAll(ctx, o, "E7", sc, v.scheds)
		if err != nil {
			return nil, err
		}
		rows = append(rows, rs...)
		for _, r := range runs {
			h, met, _ := class(r, LS)
			_, _, eps := class(r, BA)
			rep.Findings = append(rep.Findings, Finding{Metric: fmt.Sprintf("%s: LS p99 / met, BA events/s: %s", v.name, r.Scenario.Scheduler),
				Ours: fmt.Sprintf("%.2f ms / %.1f %%, %.0f", p(h, 99), 100*met, eps)})
			if v.name == "big windows" {
				for _, q := range r.Queries {
					if q.Spec.Class == LS {
						rep.Findings = append(rep.Findings, Finding{Metric: fmt.Sprintf("%s: %s p99 / met, %s", v.name, q.Spec.Name, r.Scenario.Scheduler),
							Ours: fmt.Sprintf("%.2f ms / %.1f %%", p(q.Latency, 99), 100*q.Stats.MetRatio)})
					}
				}
			}
		}
	}
	return rep, write(o, rep, "E7.csv", rows)
}

// bigWindows is the mix where window semantics decide: three
// latency-sensitive queries with 20, 50 and 100 ms targets beside two bulk
// queries whose 5 s windows over 5,000 and 20,000 keys fire 100 and
// 400 ms of result work at once; about 0.8 of two cores in all.
func bigWindows() []QuerySpec {
	var qs []QuerySpec
	for _, ms := range []int{20, 50, 100} {
		qs = append(qs, QuerySpec{Name: fmt.Sprintf("ls-%dms", ms), Tenant: "ops", Class: LS, Shape: ShapeFilter, Target: time.Duration(ms) * time.Millisecond,
			Rate: 1000, Keys: 10, CostPerEvent: 100 * time.Microsecond, Parallelism: 1})
	}
	for i, keys := range []int{5000, 20000} {
		qs = append(qs, QuerySpec{Name: fmt.Sprintf("ba-%dk", keys/1000), Tenant: fmt.Sprintf("bi-%d", i+1), Class: BA, Shape: ShapeWindow,
			Target: 5 * time.Second, Rate: 8000, Keys: keys, Window: 5 * time.Second,
			CostPerEvent: 70 * time.Microsecond, CostPerResult: 20 * time.Microsecond, Parallelism: 2})
	}
	return qs
}

// ---- E8: profiling error

// noisy wraps a policy and distorts the costs it is told: every hop's C_oM
// and C_path multiplied by factor, times a random error in [1-spread,
// 1+spread].
type noisy struct {
	priority.Policy
	factor, spread float64
	rng            *rand.Rand
	mu             chan struct{}
}

func (n *noisy) distort(h priority.Hop) priority.Hop {
	n.mu <- struct{}{}
	e := n.factor * (1 + n.spread*(2*n.rng.Float64()-1))
	<-n.mu
	h.Cost = int64(float64(h.Cost) * e)
	h.PathCost = int64(float64(h.PathCost) * e)
	return h
}

func (n *noisy) BuildAtSource(now int64, q priority.Query, arrival int64, hop priority.Hop) priority.PriorityContext {
	return n.Policy.BuildAtSource(now, q, arrival, n.distort(hop))
}

func (n *noisy) BuildAtOperator(now int64, in priority.PriorityContext, hop priority.Hop) priority.PriorityContext {
	return n.Policy.BuildAtOperator(now, in, n.distort(hop))
}

func e8(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E8", Title: "Profiling error"}
	variants := []struct {
		name           string
		factor, spread float64
	}{{"exact", 1, 0}, {"±50 %", 1, 0.5}, {"×2", 2, 0}, {"zero (cold)", 0, 0}}
	var rows []Row
	for _, v := range variants {
		pol := &noisy{Policy: priority.Cameo{}, factor: v.factor, spread: v.spread, rng: rand.New(rand.NewPCG(8, 8)), mu: make(chan struct{}, 1)}
		sc := Scenario{Name: "E8", Variant: v.name, Duration: pick(o, 2*time.Second, 45*time.Second), Queries: mix(1, false), Seed: 8,
			Engine: []runtime.Option{runtime.WithPolicy(pol)}}
		runs, rs, err := runAll(ctx, o, "E8", sc, []string{"cameo"})
		if err != nil {
			return nil, err
		}
		rows = append(rows, rs...)
		h, met, _ := class(runs[0], LS)
		rep.Findings = append(rep.Findings, Finding{Metric: "LS p99 / met, costs " + v.name, Ours: fmt.Sprintf("%.2f ms / %.1f %%", p(h, 99), 100*met)})
	}
	return rep, write(o, rep, "E8.csv", rows)
}

// ---- E9: overhead

func e9(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E9", Title: "Overhead"}
	// (a) Low load: prioritising cannot help, overhead is the only difference.
	sc := Scenario{Name: "E9", Variant: "low load", Duration: pick(o, 2*time.Second, 30*time.Second), Queries: mix(0.3, false), Seed: 9}
	runs, rows, err := runAll(ctx, o, "E9", sc, []string{"cameo", "fifo"})
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		_, _, eps := class(r, BA)
		rep.Findings = append(rep.Findings, Finding{Metric: "low load, " + r.Scenario.Scheduler + ": BA events/s, utilisation, overhead/message",
			Ours: fmt.Sprintf("%.0f, %.1f %%, %.0f ns", eps, 100*r.Utilisation, r.OverheadNs)})
	}
	// (b) Cost per message as actors grow: n queries of 2 actors each,
	// 20,000 messages/s in all, 5 µs of work per message.
	counts := pick(o, []int{5, 50}, []int{5, 50, 500})
	ser := map[string]*Series{}
	for _, n := range counts {
		var qs []QuerySpec
		for i := 0; i < n; i++ {
			qs = append(qs, QuerySpec{Name: fmt.Sprintf("q%d", i), Tenant: fmt.Sprintf("t%d", i%10), Class: LS, Shape: ShapeFilter,
				Target: 100 * time.Millisecond, Rate: 10000 / float64(n), Keys: 1, CostPerEvent: 5 * time.Microsecond, Parallelism: 1})
		}
		sc := Scenario{Name: "E9", Variant: fmt.Sprintf("%d actors", 2*n), Duration: pick(o, 2*time.Second, 20*time.Second), Queries: qs, Seed: 19}
		runs, rs, err := runAll(ctx, o, "E9", sc, []string{"cameo", "fifo"})
		if err != nil {
			return nil, err
		}
		rows = append(rows, rs...)
		for _, r := range runs {
			s := r.Scenario.Scheduler
			if ser[s] == nil {
				ser[s] = &Series{Name: s}
			}
			ser[s].X, ser[s].Y = append(ser[s].X, float64(2*n)), append(ser[s].Y, r.OverheadNs)
			rep.Findings = append(rep.Findings, Finding{Metric: fmt.Sprintf("overhead/message, %d actors, %s", 2*n, s), Ours: fmt.Sprintf("%.0f ns", r.OverheadNs)})
		}
	}
	if err := write(o, rep, "E9.csv", rows); err != nil {
		return nil, err
	}
	return rep, plotTo(o, rep, "E9-overhead.png", PlotSpec{Title: "E9: scheduler cost per message (worker busy time outside operators)", X: "actors (log scale)", Y: "ns per message", LogX: true}, []Series{*ser["cameo"], *ser["fifo"]})
}

// ---- E10: knobs

func e10(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E10", Title: "Scheduler knobs"}
	var rows []Row
	type knob struct {
		name string
		opts []runtime.Option
	}
	knobs := []knob{
		{"quantum 100ms, batch 1024", nil},
		{"quantum 1ms", []runtime.Option{runtime.WithTurn(priority.TurnConfig{Quantum: int64(time.Millisecond), YieldAtBoundary: true})}},
		{"quantum 0 (one message per turn)", []runtime.Option{runtime.WithTurn(priority.TurnConfig{MaxMessages: 1, YieldAtBoundary: true})}},
		{"batch 64", []runtime.Option{runtime.WithMaxBatch(64)}},
	}
	// The E4 mix with Poisson arrivals: knobs matter where work clumps.
	queries := mix(1, false)
	for i := range queries {
		queries[i].Poisson = true
	}
	for _, k := range knobs {
		sc := Scenario{Name: "E10", Variant: k.name, Duration: pick(o, 2*time.Second, 45*time.Second), Queries: queries, Seed: 10, Engine: k.opts}
		runs, rs, err := runAll(ctx, o, "E10", sc, []string{"cameo"})
		if err != nil {
			return nil, err
		}
		rows = append(rows, rs...)
		h, met, _ := class(runs[0], LS)
		rep.Findings = append(rep.Findings, Finding{Metric: k.name + ": LS p99 / met, overhead/message",
			Ours: fmt.Sprintf("%.2f ms / %.1f %%, %.0f ns", p(h, 99), 100*met, runs[0].OverheadNs)})
	}
	return rep, write(o, rep, "E10.csv", rows)
}

// ---- E11: the simulator at scale

func e11(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E11", Title: "The simulator at scale"}
	sizes := pick(o, [][2]int{{10, 100}, {100, 1000}}, [][2]int{{10, 100}, {100, 1000}, {1000, 10000}})
	var rows []Row
	ser := map[string]*Series{}
	cost := map[string]*Series{}
	for _, sz := range sizes {
		for _, pol := range e11Policies {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			res, err := simulate(sz[0], sz[1], pol, pick(o, int64(2e9), int64(5e9)))
			if err != nil {
				return nil, err
			}
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "\r  E11 %-5s %4d workers %5d queries: LS p99 %.1f ms", pol, sz[0], sz[1], res.lsP99)
			}
			rows = append(rows, Row{Experiment: "E11", Variant: fmt.Sprintf("%d workers, %d queries", sz[0], sz[1]), Scheduler: pol, Query: "LS", Class: LS,
				TargetMs: 50, Results: uint64(res.ls), P50Ms: res.lsP50, P99Ms: res.lsP99, MetRatio: res.lsMet,
				Extra: map[string]float64{"workers": float64(sz[0]), "queries": float64(sz[1]), "messages": float64(res.msgs), "sim_ns_per_message": res.nsPerMsg}})
			if ser[pol] == nil {
				ser[pol], cost[pol] = &Series{Name: pol}, &Series{Name: pol}
			}
			ser[pol].X, ser[pol].Y = append(ser[pol].X, float64(sz[0])), append(ser[pol].Y, res.lsP99)
			cost[pol].X, cost[pol].Y = append(cost[pol].X, float64(sz[0])), append(cost[pol].Y, res.nsPerMsg)
			rep.Findings = append(rep.Findings, Finding{Metric: fmt.Sprintf("%d workers / %d queries, %s: LS p99, met; scheduler ns/message", sz[0], sz[1], pol),
				Ours: fmt.Sprintf("%.1f ms, %.1f %%; %.0f ns", res.lsP99, 100*res.lsMet, res.nsPerMsg)})
		}
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "\r%70s\r", "")
	}
	if err := write(o, rep, "E11.csv", rows, "workers", "queries", "messages", "sim_ns_per_message"); err != nil {
		return nil, err
	}
	var a, b []Series
	for _, pol := range e11Policies {
		a, b = append(a, *ser[pol]), append(b, *cost[pol])
	}
	if err := plotTo(o, rep, "E11-ls-p99.png", PlotSpec{Title: "E11: LS p99 as the simulated cluster grows (load 0.9)", X: "workers (queries = 10 × workers; log scale)", Y: "LS p99 (ms, log scale)", LogX: true, LogY: true}, a); err != nil {
		return nil, err
	}
	return rep, plotTo(o, rep, "E11-cost.png", PlotSpec{Title: "E11: simulator's scheduling cost per message", X: "workers (log scale)", Y: "ns per message", LogX: true}, b)
}

// e11Policies are the simulated policies: "+shares" puts every query in a
// leaf of its own under one of 100 tenants (the hierarchical queue);
// without it all actors share one leaf (the flat order).
var e11Policies = []string{"cameo", "cameo+shares", "llf", "fifo"}

type simResult struct {
	ls                  int
	lsP50, lsP99, lsMet float64
	msgs                int
	nsPerMsg            float64
}

// simulate runs workers virtual workers over queries queries for horizon
// ns of virtual time at 90 % load: a tenth of the queries are LS (one
// stateless actor, 1 ms messages, 50 ms target), the rest BA (a window
// actor, 2 ms messages, 1 s tumbling windows, 5 s target); Poisson
// arrivals.
func simulate(workers, queries int, policy string, horizon int64) (simResult, error) {
	nLS := max(1, queries/10)
	// Load 0.9 of workers: LS take 10 % of the work, BA 90 %.
	capacity := 0.9 * float64(workers) * 1e9 // ns of work per s
	mix := simMix{Workers: workers, Queries: queries, LS: nLS, LSCost: 1e6, BACost: 2e6, LSTarget: 50e6, BATarget: 5e9, Seed: uint64(workers)}
	mix.LSRate = 0.1 * capacity / float64(nLS) / float64(mix.LSCost)
	mix.BARate = 0.9 * capacity / float64(queries-nLS) / float64(mix.BACost)
	return simulateMix(mix, policy, horizon)
}

// simMix is a simulated workload: Queries queries on Workers workers, the
// first LS of them stateless (LSRate messages/s of LSCost ns each, Poisson,
// LSTarget), the others 1 s windows (BARate, BACost, BATarget); up to 100
// tenants when the policy has "+shares".
type simMix struct {
	Workers, Queries, LS int
	LSRate, BARate       float64
	LSCost, BACost       int64
	LSTarget, BATarget   int64
	Seed                 uint64
}

// simulateMix runs mix on the simulator for horizon ns of virtual time.
func simulateMix(mix simMix, policy string, horizon int64) (simResult, error) {
	workers, queries, nLS := mix.Workers, mix.Queries, mix.LS
	policy, shares := strings.CutSuffix(policy, "+shares")
	pol, err := priority.PolicyByName(policy)
	if err != nil {
		return simResult{}, err
	}
	sim, err := priority.NewSim(priority.SimConfig{Workers: workers, Turn: priority.DefaultTurnConfig()})
	if err != nil {
		return simResult{}, err
	}
	rng := rand.New(rand.NewPCG(11, mix.Seed))
	lsCost, baCost := mix.LSCost, mix.BACost
	lsRate, baRate := mix.LSRate, mix.BARate
	type arrival struct {
		at   int64
		q    int
		ls   bool
		name string
	}
	var arr []arrival
	for q := 0; q < queries; q++ {
		ls := q < nLS
		rate := baRate
		if ls {
			rate = lsRate
		}
		if rate <= 0 {
			continue
		}
		for t := int64(rng.ExpFloat64() / rate * 1e9); t < horizon; t += int64(rng.ExpFloat64()/rate*1e9) + 1 {
			arr = append(arr, arrival{at: t, q: q, ls: ls})
		}
	}
	sort.Slice(arr, func(i, j int) bool { return arr[i].at < arr[j].at })
	actors := make([]priority.ActorID, queries)
	rules := make([]priority.FrontierRule, queries)
	var tenants []priority.GroupID
	for t := range min(100, queries) {
		if !shares {
			break
		}
		g, err := sim.AddGroup(priority.SimRoot, fmt.Sprint("t", t), 1)
		if err != nil {
			return simResult{}, err
		}
		tenants = append(tenants, g)
	}
	for q := range actors {
		if shares {
			target := mix.BATarget
			if q < nLS {
				target = mix.LSTarget
			}
			leaf, err := sim.AddLeaf(tenants[q%len(tenants)], fmt.Sprint("q", q), 1, target)
			if err != nil {
				return simResult{}, err
			}
			actors[q] = sim.AddActorIn(fmt.Sprint("q", q), leaf)
		} else {
			actors[q] = sim.AddActor(fmt.Sprint("q", q))
		}
		if q < nLS {
			rules[q] = priority.Stateless{}
		} else {
			rules[q] = priority.NewWindowFrontier(priority.Tumbling(1e9))
		}
	}
	lsLat := runtime.NewLatencyHistogram()
	met := 0
	start := time.Now()
	for _, a := range arr {
		q := priority.Query{ID: fmt.Sprint(a.q), Tenant: "t", LatencyTarget: mix.BATarget}
		c := baCost
		if a.ls {
			q.LatencyTarget, c = mix.LSTarget, lsCost
		}
		fr := rules[a.q].Next(priority.Stamp{Arrival: a.at, Time: a.at, Watermark: priority.NoWatermark})
		ctx := pol.BuildAtSource(a.at, q, a.at, priority.Hop{Frontier: fr, Cost: c})
		m := priority.SimMessage{Ctx: ctx, Cost: c}
		if a.ls {
			at := a.at
			m.OnDone = func(_ *priority.Sim, now int64, _ priority.SimResult) {
				l := now - at
				_ = lsLat.RecordValue(max(l, 1_000))
				if l <= mix.LSTarget {
					met++
				}
			}
		}
		sim.RunUntil(a.at - 1)
		sim.Send(a.at, actors[a.q], m)
	}
	sim.Run()
	el := time.Since(start)
	r := simResult{ls: int(lsLat.TotalCount()), lsP50: p(lsLat, 50), lsP99: p(lsLat, 99), msgs: len(arr)}
	if r.ls > 0 {
		r.lsMet = float64(met) / float64(r.ls)
	}
	r.nsPerMsg = float64(el.Nanoseconds()) / float64(len(arr))
	return r, nil
}

// ---- E13: gaming

// gaming is two tenants with equal weights on 2 workers: "gamer" declares
// a 1 ms target for 2 cores' worth of 150 µs events (13,333/s, the pool's
// whole capacity), "honest" a 50 ms target for a tenth of that (0.2 of a
// core). Together they ask 110 % of the pool.
func gaming() []QuerySpec {
	return []QuerySpec{
		{Name: "gamer", Tenant: "gamer", Class: BA, Shape: ShapeFilter, Target: time.Millisecond, Rate: 13333, Keys: 100,
			CostPerEvent: 150 * time.Microsecond, Parallelism: 2},
		{Name: "honest", Tenant: "honest", Class: LS, Shape: ShapeFilter, Target: 50 * time.Millisecond, Rate: 1333, Keys: 10,
			CostPerEvent: 150 * time.Microsecond, Parallelism: 1},
	}
}

func e13(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E13", Title: "Gaming: tiny targets at 10× the load"}
	sc := Scenario{Name: "E13", Variant: "gaming", Duration: pick(o, 3*time.Second, 30*time.Second), Queries: gaming(), Seed: 13}
	scheds := []string{"cameo", "cameo+flat", "edf", "edf+flat", "fifo", "protoactor"}
	runs, rows, err := runAll(ctx, o, "E13", sc, scheds)
	if err != nil {
		return nil, err
	}
	var cdf []Series
	for _, r := range runs {
		s := r.Scenario.Scheduler
		h, met, _ := class(r, LS)
		cdf = append(cdf, CDF(s, h))
		var served, gamer float64
		var gin, goff float64
		for _, q := range r.Queries {
			served += q.Stats.ServedMs
			if q.Spec.Tenant == "gamer" {
				gamer = q.Stats.ServedMs
				gin = float64(q.Stats.EventsIn) / r.Elapsed.Seconds()
				goff = q.Spec.Rate
			}
		}
		share := "n/a (no shares)"
		if served > 0 {
			share = fmt.Sprintf("%.1f %%", 100*gamer/served)
		}
		rep.Findings = append(rep.Findings, Finding{Metric: "honest p50 / p99 / met, gamer's share of worker time, gamer events/s (offered), " + s,
			Ours: fmt.Sprintf("%.2f / %.2f ms / %.1f %%, %s, %.0f (%.0f)", p(h, 50), p(h, 99), 100*met, share, gin, goff)})
	}
	rep.Findings = append(rep.Findings, Finding{Metric: "target", Paper: "—", Ours: "honest meets 50 ms (≥ 99 %); gamer gets its share and what honest leaves, no more"})
	if err := write(o, rep, "E13.csv", rows); err != nil {
		return nil, err
	}
	return rep, plotTo(o, rep, "E13-honest-cdf.png", PlotSpec{Title: "E13: the honest tenant's results, CDF", X: "latency (ms, log scale)", Y: "share of results", LogX: true, VLines: []Ref{{At: 50, Label: "honest's target"}}}, cdf)
}

// lsTarget is the reference line of the latency-sensitive queries'
// target (the first query's when none is LS): where the plots of their
// latency are read against.
func lsTarget(queries []QuerySpec) []Ref {
	for _, q := range queries {
		if q.Class == LS {
			return []Ref{{At: float64(q.Target) / 1e6, Label: fmt.Sprintf("target %v", q.Target)}}
		}
	}
	if len(queries) > 0 {
		return []Ref{{At: float64(queries[0].Target) / 1e6, Label: fmt.Sprintf("target %v", queries[0].Target)}}
	}
	return nil
}
