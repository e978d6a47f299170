package experiments

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// Scenario is one run: queries on one engine under one scheduler.
type Scenario struct {
	Name      string
	Variant   string // what differs between runs of one experiment (a load, a knob)
	Scheduler string
	Workers   int
	Duration  time.Duration
	Queries   []QuerySpec
	Engine    []runtime.Option // more engine options (turn, batch, policy)
	Sample    time.Duration    // timeline interval; default 1 s
	Seed      uint64
}

// Point is one interval of a query's timeline.
type Point struct {
	T          float64 // seconds since the start, at the end of the interval
	EventsIn   uint64  // in this interval
	Results    uint64  // in this interval
	P99Ms      float64 // of this interval's results
	MetRatio   float64
	BatchesRun int64 // messages its operators ran in this interval
}

// QueryResult is one query's outcome of a run.
type QueryResult struct {
	Spec     QuerySpec
	Stats    runtime.QueryStats
	Latency  *hdrhistogram.Histogram // every result's latency, ns
	Timeline []Point
}

// RunResult is one run's outcome.
type RunResult struct {
	Scenario Scenario
	Queries  []QueryResult
	Elapsed  time.Duration
	// Utilisation is the workers' busy time over their capacity. It is
	// wall time inside turns, so it also counts time a worker's thread was
	// descheduled; ProcessCores is what the OS says the whole process
	// (workers, sources, sinks, collector) used: its user and system CPU
	// time over the run, in cores (-1 where the system does not say).
	// Beside each other they tell an overloaded machine from a busy pool.
	Utilisation  float64
	ProcessCores float64
	Messages     uint64
	// OverheadNs is the workers' busy time not spent in operators, per
	// message: the dispatcher's and mailbox's cost.
	OverheadNs float64
	// PeakRSS is the process's peak resident set during the run and
	// PeakHeap the most heap objects seen at a sample, in bytes; -1 where
	// the system does not say.
	PeakRSS, PeakHeap int64
}

type recorder struct {
	mu       sync.Mutex
	all      *hdrhistogram.Histogram
	interval *hdrhistogram.Histogram
	target   int64
	met, n   int64
}

func newRecorder(target time.Duration) *recorder {
	return &recorder{all: runtime.NewLatencyHistogram(), interval: runtime.NewLatencyHistogram(), target: int64(target)}
}

func (r *recorder) sink(results []query.Event) error {
	now := time.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range results {
		l := min(max(now-results[i].Arrival, 1_000), 3_600_000_000_000)
		_ = r.all.RecordValue(l)
		_ = r.interval.RecordValue(l)
		r.n++
		if l <= r.target {
			r.met++
		}
	}
	return nil
}

// take returns and resets the interval's p99 and met ratio.
func (r *recorder) take() (p99ms, met float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n > 0 {
		p99ms = float64(r.interval.ValueAtQuantile(99)) / 1e6
		met = float64(r.met) / float64(r.n)
	}
	r.interval.Reset()
	r.met, r.n = 0, 0
	return p99ms, met
}

// Run runs a scenario: it starts an engine, submits each query at its
// start time, samples every query's progress each interval, cancels
// queries at their stop time, and after the duration drains the engine.
func Run(ctx context.Context, sc Scenario, progress io.Writer) (*RunResult, error) {
	if sc.Sample == 0 {
		sc.Sample = time.Second
	}
	// "NAME+paper" is scheduler NAME with runtime.WithPaperFrontiers (the
	// paper's frontier for stateless steps: their own arrival);
	// "NAME+flat" is NAME with every tenant and query always eligible:
	// the flat deadline order, without shares or deferral.
	sched, paper := strings.CutSuffix(sc.Scheduler, "+paper")
	sched, flat := strings.CutSuffix(sched, "+flat")
	opts := append([]runtime.Option{runtime.WithWorkers(sc.Workers), runtime.WithScheduler(sched)}, sc.Engine...)
	if paper {
		opts = append(opts, runtime.WithPaperFrontiers())
	}
	if flat {
		opts = append(opts, runtime.WithShares(priority.ShareConfig{Slack: math.MaxInt64 / 4, DeferAfter: -1}))
	}
	eng, err := runtime.New(opts...)
	if err != nil {
		return nil, err
	}
	stopped := false
	var cancels sync.WaitGroup // queries stopped mid-run, draining
	defer cancels.Wait()
	defer func() {
		if !stopped {
			_ = eng.Stop(context.Background())
		}
	}()
	type running struct {
		spec     QuerySpec
		rec      *recorder
		q        *runtime.Query
		tl       []Point
		last     runtime.QueryStats
		stopping bool // cancelled at its Stop time
	}
	rs := make([]*running, len(sc.Queries))
	for i, qs := range sc.Queries {
		rs[i] = &running{spec: qs, rec: newRecorder(qs.Target)}
	}
	submit := func(r *running, i int) error {
		spec, err := r.spec.Build(sc.Seed+uint64(i)*7919, r.rec.sink)
		if err != nil {
			return err
		}
		r.q, err = eng.Submit(ctx, spec)
		return err
	}
	resetPeakRSS()
	peakHeap := heapBytes()
	start, cpu0 := time.Now(), processCPU()
	busy0, msgs0, ops0 := schedBusy(eng)
	tick := time.NewTicker(sc.Sample)
	defer tick.Stop()
	deadline := time.NewTimer(sc.Duration)
	defer deadline.Stop()
	for i, r := range rs {
		if r.spec.Start == 0 {
			if err := submit(r, i); err != nil {
				return nil, err
			}
		}
	}
loop:
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			break loop
		case now := <-tick.C:
			peakHeap = max(peakHeap, heapBytes())
			el := now.Sub(start)
			for i, r := range rs {
				if r.q == nil && r.spec.Start > 0 && el >= r.spec.Start {
					if err := submit(r, i); err != nil {
						return nil, err
					}
				}
				if r.q == nil {
					continue
				}
				if r.spec.Stop > 0 && el >= r.spec.Stop && !r.stopping {
					r.stopping = true // it drains while the run goes on; Run waits for it
					cancels.Go(func() { _ = r.q.Cancel(context.Background()) })
				}
				st := r.q.Stats()
				p99, met := r.rec.take()
				var batches, lastBatches int64
				for _, o := range st.Operators {
					batches += o.Messages
				}
				for _, o := range r.last.Operators {
					lastBatches += o.Messages
				}
				r.tl = append(r.tl, Point{T: el.Seconds(), EventsIn: st.EventsRead - min(st.EventsRead, r.last.EventsRead), Results: st.Results - r.last.Results,
					P99Ms: p99, MetRatio: met, BatchesRun: batches - lastBatches})
				r.last = st
			}
			if progress != nil {
				fmt.Fprintf(progress, "\r  %-4s %-10s %-12s %5.0fs / %.0fs", sc.Name, sc.Scheduler, sc.Variant, el.Seconds(), sc.Duration.Seconds())
			}
		}
	}
	elapsed, cpu1 := time.Since(start), processCPU()
	busy1, msgs1, ops1 := schedBusy(eng)
	rss := peakRSS()
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	stopped = true
	if err := eng.Stop(dctx); err != nil {
		return nil, fmt.Errorf("%s/%s/%s: stop: %w", sc.Name, sc.Scheduler, sc.Variant, err)
	}
	if progress != nil {
		fmt.Fprintf(progress, "\r%60s\r", "")
	}
	out := &RunResult{Scenario: sc, Elapsed: elapsed, Messages: msgs1 - msgs0, PeakRSS: rss, PeakHeap: peakHeap, ProcessCores: -1}
	if cpu0 >= 0 && cpu1 >= 0 {
		out.ProcessCores = float64(cpu1-cpu0) / float64(elapsed.Nanoseconds())
	}
	if w := eng.Config().Workers; w > 0 {
		out.Utilisation = float64(busy1-busy0) / (float64(elapsed.Nanoseconds()) * float64(w))
	}
	if out.Messages > 0 {
		out.OverheadNs = float64((busy1-busy0)-(ops1-ops0)) / float64(out.Messages)
	}
	for _, r := range rs {
		if r.q == nil {
			continue
		}
		if err := r.q.Err(); err != nil {
			return nil, fmt.Errorf("%s: query %s: %w", sc.Name, r.spec.Name, err)
		}
		out.Queries = append(out.Queries, QueryResult{Spec: r.spec, Stats: r.q.Stats(), Latency: r.rec.all, Timeline: r.tl})
	}
	return out, nil
}

// schedBusy returns the scheduler's busy ns, messages run, and the ns its
// operators spent (from every query's operator metrics).
func schedBusy(eng *runtime.Engine) (busy int64, msgs uint64, ops int64) {
	for _, d := range eng.Scheduler().Dispatchers() {
		s := d.Stats()
		busy += s.BusyNs
		msgs += s.Messages
	}
	for _, q := range eng.Queries() {
		for _, o := range q.Stats().Operators {
			ops += int64(o.CostMeanUs * 1e3 * float64(o.Messages))
		}
	}
	return busy, msgs, ops
}
