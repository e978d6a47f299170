package runtime

import (
	"fmt"
	"math"
	goruntime "runtime"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/cameo-go/cameo/client"
)

// Admission configures how a node refuses queries when it is full.
type Admission struct {
	// Below is the feasible utilisation of the worker pool at or above
	// which a submit is refused (or admitted as best effort, per tenant):
	// the worker time not charged to deferred or best-effort queries, over
	// workers × the window. 0: no admission control. A scheduler without
	// the shared pool (protoactor, slots) measures nothing and admits.
	Below float64
	// Window is how far back the utilisation is measured. Default 10 s.
	Window time.Duration
	// SchedLatency, when > 0, also refuses while the 99th percentile of
	// Go's scheduling latency (runtime/metrics /sched/latencies:seconds:
	// how long runnable goroutines waited for a CPU) over the window is at
	// or above it: the process itself is short of CPU, whatever its
	// workers report. 0: not used (it is always reported).
	SchedLatency time.Duration
}

// WithAdmission sets Config.Admission.
func WithAdmission(a Admission) Option { return func(c *Config) { c.Admission = a } }

// Load is what the engine measured of its capacity over the last window.
type Load struct {
	// Span is how long the figures cover; 0: not measured yet.
	Span time.Duration
	// Utilisation is the workers' busy time over their capacity;
	// Feasible the part of it not charged to deferred or best-effort work.
	Utilisation, Feasible float64
	// SchedP99 is the 99th percentile of Go's scheduling latency.
	SchedP99 time.Duration
	Workers  int
}

// loadMeter keeps samples of the pool's cumulative busy times and of Go's
// scheduling-latency histogram over a window. Safe for concurrent use.
type loadMeter struct {
	mu      sync.Mutex
	window  int64
	samples []loadSample // oldest first, at most maxLoadSamples
	sched   *metrics.Float64Histogram
}

type loadSample struct {
	at, busy, deferred int64
	workers            int
	sched              []uint64 // cumulative bucket counts of /sched/latencies
}

const maxLoadSamples = 256

// observe records a sample at at (ns) of the pool's cumulative busy and
// deferred time and reads Go's scheduling latencies.
func (m *loadMeter) observe(at, busy, deferred int64, workers int) {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	var counts []uint64
	if s[0].Value.Kind() == metrics.KindFloat64Histogram {
		h := s[0].Value.Float64Histogram()
		counts = append([]uint64(nil), h.Counts...)
		m.mu.Lock()
		if m.sched == nil {
			m.sched = &metrics.Float64Histogram{Buckets: append([]float64(nil), h.Buckets...)}
		}
		m.mu.Unlock()
	}
	m.add(loadSample{at: at, busy: busy, deferred: deferred, workers: workers, sched: counts})
}

func (m *loadMeter) add(s loadSample) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.samples); n > 0 && s.at <= m.samples[n-1].at {
		return // the clock did not move: nothing to learn
	}
	m.samples = append(m.samples, s)
	// Keep one sample at or before the window's start, so that the
	// figures span the whole window once it has passed.
	for len(m.samples) > 2 && (m.samples[1].at <= s.at-m.window || len(m.samples) > maxLoadSamples) {
		m.samples = m.samples[1:]
	}
}

// load returns the figures between the oldest and the newest sample.
func (m *loadMeter) load() Load {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.samples)
	if n < 2 {
		return Load{}
	}
	a, b := m.samples[0], m.samples[n-1]
	span := b.at - a.at
	l := Load{Span: time.Duration(span), Workers: b.workers}
	if capacity := float64(span) * float64(b.workers); capacity > 0 {
		l.Utilisation = float64(b.busy-a.busy) / capacity
		l.Feasible = float64((b.busy-b.deferred)-(a.busy-a.deferred)) / capacity
	}
	if m.sched != nil && len(a.sched) == len(b.sched) && len(b.sched) > 0 {
		l.SchedP99 = schedQuantile(m.sched.Buckets, a.sched, b.sched, 0.99)
	}
	return l
}

// schedQuantile is the q quantile of the difference of two cumulative
// histograms (the upper bound of the bucket it falls in).
func schedQuantile(buckets []float64, a, b []uint64, q float64) time.Duration {
	var total uint64
	for i := range b {
		total += b[i] - a[i]
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i := range b {
		seen += b[i] - a[i]
		if seen >= want {
			hi := buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = buckets[i]
			}
			return time.Duration(hi * 1e9)
		}
	}
	return 0
}

// SampleLoad records a sample of the worker pool's busy time for the
// admission decision. A node calls it every second; an embedder that
// wants admission control calls it on its own tick.
func (e *Engine) SampleLoad() {
	ds := e.sched.Dispatchers()
	var busy, deferred int64
	workers := 0
	for _, d := range ds {
		st := d.Stats()
		busy += st.BusyNs
		deferred += st.DeferredNs
		workers += st.Workers
	}
	if workers == 0 {
		workers = goruntime.GOMAXPROCS(0) // protoactor: Go's own pool
	}
	e.load.observe(e.cfg.Clock.Now(), busy, deferred, workers)
}

// Load returns what the engine measured of its capacity over the last
// admission window.
func (e *Engine) Load() Load { return e.load.load() }

// LoadInfo is Load in the API's terms, with the admission threshold and
// whether a submit would be refused now.
func (e *Engine) LoadInfo() client.Load {
	l := e.Load()
	held, budget := e.NodeMemory()
	full := e.memoryFull()
	if full == "" {
		full = e.full()
	}
	return client.Load{SpanSeconds: l.Span.Seconds(), Workers: l.Workers, Utilisation: l.Utilisation, Feasible: l.Feasible,
		AdmitBelow: e.cfg.Admission.Below, SchedP99Ms: float64(l.SchedP99) / 1e6,
		MemoryMiB: float64(held) / (1 << 20), MemoryBudgetMiB: float64(budget) / (1 << 20), Full: full}
}

// full reports why a new query would push feasible work past the node's
// capacity; "" when there is room.
func (e *Engine) full() string {
	a := e.cfg.Admission
	if a.Below <= 0 || len(e.sched.Dispatchers()) == 0 {
		return ""
	}
	l := e.load.load()
	if l.Span == 0 {
		return ""
	}
	switch {
	case l.Feasible >= a.Below:
		return fmt.Sprintf("the node's workers were %.0f %% busy with feasible work over the last %v (admission threshold %.0f %%; %d workers, %.0f %% busy in all, Go scheduling latency p99 %v)",
			100*l.Feasible, l.Span.Round(time.Second), 100*a.Below, l.Workers, 100*l.Utilisation, l.SchedP99)
	case a.SchedLatency > 0 && l.SchedP99 >= a.SchedLatency:
		return fmt.Sprintf("Go's scheduling latency p99 was %v over the last %v (admission threshold %v): the process is short of CPU", l.SchedP99, l.Span.Round(time.Second), a.SchedLatency)
	}
	return ""
}
