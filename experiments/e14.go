package experiments

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// E14: admission. Latency-sensitive queries (each 1,000 events/s of
// 150 µs, 0.15 of a core, 50 ms target, Poisson arrivals), one more every
// interval, on one engine with admission at 80 % feasible utilisation
// over a 2 s window, sampled every 250 ms (a node samples every second
// over 10 s; the experiment is shorter). Submitting goes on after the
// first refusal, to count them.

const (
	e14Below  = 0.8
	e14Window = 2 * time.Second
)

func e14Query(i int) QuerySpec {
	return QuerySpec{Name: fmt.Sprintf("ls-%02d", i), Tenant: fmt.Sprintf("t%d", i%4), Class: LS, Shape: ShapeFilter,
		Target: 50 * time.Millisecond, Rate: 1000, Poisson: true, Keys: 10, CostPerEvent: 150 * time.Microsecond, Parallelism: 1}
}

func e14(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Name: "E14", Title: "Admission: queries submitted until the node is full"}
	dur, every := pick(o, 8*time.Second, 60*time.Second), pick(o, 500*time.Millisecond, 3*time.Second)
	workers := o.workers()
	eng, err := runtime.New(runtime.WithWorkers(workers), runtime.WithScheduler("cameo"),
		runtime.WithAdmission(runtime.Admission{Below: e14Below, Window: e14Window}))
	if err != nil {
		return nil, err
	}
	defer func() { _ = eng.Stop(context.Background()) }()

	// The sampler: owned here, stopped before the engine.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			eng.SampleLoad()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	type admitted struct {
		spec QuerySpec
		q    *runtime.Query
		at   time.Duration
	}
	var in []admitted
	refused, firstRefusal := 0, ""
	var refusedAt time.Duration
	start := time.Now()
	next := time.Duration(0)
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Until(start.Add(next))):
		}
		if next >= dur {
			break
		}
		qs := e14Query(i)
		spec, err := qs.Build(uint64(i)+14, func([]query.Event) error { return nil })
		if err != nil {
			return nil, err
		}
		q, err := eng.Submit(ctx, spec)
		switch {
		case errors.Is(err, runtime.ErrOverloaded):
			if refused == 0 {
				firstRefusal, refusedAt = err.Error(), next
			}
			refused++
		case err != nil:
			return nil, err
		default:
			in = append(in, admitted{spec: qs, q: q, at: next})
		}
		if o.Progress != nil {
			l := eng.Load()
			fmt.Fprintf(o.Progress, "\r  E14 %5.1fs: %d admitted, %d refused, feasible %.0f %%   ", next.Seconds(), len(in), refused, 100*l.Feasible)
		}
		next += every
	}
	load := eng.Load()
	if err := eng.Stop(ctx); err != nil {
		return nil, err
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "\r%70s\r", "")
	}
	var rows []Row
	var mets, p99s []float64
	for _, a := range in {
		st := a.q.Stats()
		rows = append(rows, Row{Experiment: "E14", Variant: fmt.Sprintf("admit below %.0f %%", 100*e14Below), Scheduler: "cameo",
			Query: a.spec.Name, Tenant: a.spec.Tenant, Class: LS, TargetMs: 50, EventsIn: st.EventsIn, Results: st.Results,
			P50Ms: st.P50Ms, P99Ms: st.P99Ms, MaxMs: st.MaxMs, MetRatio: st.MetRatio,
			Extra: map[string]float64{"submitted_at_s": a.at.Seconds()}})
		mets, p99s = append(mets, st.MetRatio), append(p99s, st.P99Ms)
	}
	rep.Findings = append(rep.Findings,
		Finding{Metric: "admitted, refused", Paper: "—", Ours: fmt.Sprintf("%d admitted (%.2f cores of demand on %d workers), %d refused from %.1f s on", len(in), 0.15*float64(len(in)), workers, refused, refusedAt.Seconds())},
		Finding{Metric: "first refusal", Paper: "—", Ours: firstRefusal},
		Finding{Metric: "feasible / all utilisation at the end", Paper: "—", Ours: fmt.Sprintf("%.0f %% / %.0f %% (Go scheduling latency p99 %v)", 100*load.Feasible, 100*load.Utilisation, load.SchedP99)},
	)
	if len(in) > 0 {
		slices.Sort(mets)
		slices.Sort(p99s)
		rep.Findings = append(rep.Findings, Finding{Metric: "admitted queries: met ratio min / median, p99 median / max", Paper: "≥ 99 % met",
			Ours: fmt.Sprintf("%.2f %% / %.2f %%, %.1f / %.1f ms", 100*mets[0], 100*mets[len(mets)/2], p99s[len(p99s)/2], p99s[len(p99s)-1])})
	}
	return rep, write(o, rep, "E14.csv", rows, "submitted_at_s")
}
