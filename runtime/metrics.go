package runtime

import (
	"cmp"
	"github.com/cameo-go/cameo/query"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cameo-go/cameo/actors"
)

// Latency bounds: results are recorded from 1 µs (a smaller latency counts
// as 1 µs) to 1 h (a larger one is clipped, and counted so).
const (
	minLatency = 1_000
	maxLatency = 3_600_000_000_000
)

// NewLatencyHistogram returns an empty HDR histogram of output latencies
// (ns), 1 µs to 1 h at three significant digits (196 KB), for a run that
// records every result and plots it (the experiments). A query keeps a
// compact latencyHist instead.
func NewLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(minLatency, maxLatency, 3)
}

// QueryMetrics records one query's results (output latency, as runtime/doc.go
// defines it: emit time − arrival of the frontier input) and counts what it
// ingested, emitted, dropped and received late. Safe for concurrent use.
type QueryMetrics struct {
	ID, Name, Tenant string
	Target           int64 // latency target, ns

	mu struct {
		sync.Mutex
		hist   latencyHist
		met    uint64
		recent [recentSlots]recentBucket
	}
	now func() int64 // the query's clock (Unix ns) for the recent figures
	// Accounting (accounting.go): read = in + late + dropped.
	read, admitted, late, eventDrops atomic.Uint64
	drops                            [numDropReasons]atomic.Uint64
	latePartial, lateResults         atomic.Uint64
	droppedResults, panics           atomic.Uint64
	bad                              badInputs

	out, clipped atomic.Uint64
	unproduced   atomic.Uint64
	lag          func() int64 // ns behind schedule now; nil: none
	ops          []*OpMetrics
	dropReason   atomic.Pointer[lastDrop]
	backlog      func() int64
	share        func() (actors.ShareStats, bool)  // nil: no share
	shareLast    atomic.Pointer[actors.ShareStats] // kept once the query ended
	connectors   sync.Map                          // counter name → *atomic.Int64 (connector.Env.Count)
}

// maxConnectorCounters bounds the distinct counter names of one query, so
// that a connector cannot grow a query's statistics without end.
const maxConnectorCounters = 64

// CountConnector adds n to a connector's counter name.
func (m *QueryMetrics) CountConnector(name string, n int64) { m.connector(name).Add(n) }

// SetConnector sets a connector's gauge name (a partition's lag) to v.
func (m *QueryMetrics) SetConnector(name string, v int64) { m.connector(name).Store(v) }

// connector returns the figure called name; past maxConnectorCounters
// names, they share "other".
func (m *QueryMetrics) connector(name string) *atomic.Int64 {
	if c, ok := m.connectors.Load(name); ok {
		return c.(*atomic.Int64)
	}
	count := 0
	m.connectors.Range(func(any, any) bool { count++; return count < maxConnectorCounters })
	if count >= maxConnectorCounters {
		name = "other"
	}
	c, _ := m.connectors.LoadOrStore(name, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// NewQueryMetrics returns the metrics of one query.
func NewQueryMetrics(id, name, tenant string, target int64) *QueryMetrics {
	return &QueryMetrics{ID: id, Name: name, Tenant: tenant, Target: target, now: func() int64 { return time.Now().UnixNano() }}
}

// The recent figures (QueryStats.Recent): the last RecentWindow of
// results, in recentSlots slots of their own latencyHist (which holds
// only the octaves its results reached: a query with no results holds
// none).
const (
	RecentWindow = 10 * time.Second
	recentSlots  = 5
	recentSlot   = int64(RecentWindow) / recentSlots
)

// recentBucket is one slot of the recent figures: the results of the
// recentSlot (ns) from start.
type recentBucket struct {
	start int64
	hist  latencyHist
	met   uint64
}

// slot returns the slot of time now, emptied when it last held an older
// interval; m.mu is held.
func (m *QueryMetrics) slot(now int64) *recentBucket {
	start := now - now%recentSlot
	s := &m.mu.recent[(now/recentSlot)%recentSlots]
	if s.start != start {
		s.start, s.met = start, 0
		s.hist.reset()
	}
	return s
}

// recentStats merges the slots of the last RecentWindow at now; m.mu is
// held.
func (m *QueryMetrics) recentStats(now int64) *RecentStats {
	from := now - now%recentSlot - (recentSlots-1)*recentSlot
	var met, n uint64
	var hs [recentSlots]*latencyHist
	in := hs[:0]
	for i := range m.mu.recent {
		s := &m.mu.recent[i]
		if s.start < from || s.hist.total() == 0 {
			continue
		}
		in = append(in, &s.hist)
		met += s.met
		n += s.hist.total()
	}
	r := &RecentStats{WindowS: RecentWindow.Seconds()}
	if n == 0 {
		return r
	}
	// Read across the slots in place: no merged histogram per call.
	r.Results = n
	r.P50Ms = float64(quantileOf(in, 50)) * msPerNs
	r.P99Ms = float64(quantileOf(in, 99)) * msPerNs
	r.MaxMs = float64(quantileOf(in, 100)) * msPerNs
	r.MetRatio = float64(met) / float64(r.Results)
	return r
}

// Result records one result emitted with the given latency (ns).
func (m *QueryMetrics) Result(latency int64) {
	now := m.now()
	m.Results(now, []query.Event{{Arrival: now - latency}})
}

// Results records the results of a batch written at now: each one's
// latency is now − its Arrival. One lock and one look at the recent slot
// per batch.
func (m *QueryMetrics) Results(now int64, results []query.Event) {
	if len(results) == 0 {
		return
	}
	var clipped uint64
	m.mu.Lock()
	s := m.slot(now)
	for i := range results {
		latency := now - results[i].Arrival
		v := max(latency, minLatency)
		if v > maxLatency {
			v = maxLatency
			clipped++
		}
		m.mu.hist.record(v, 1)
		s.hist.record(v, 1)
		if latency <= m.Target {
			m.mu.met++
			s.met++
		}
	}
	m.mu.Unlock()
	if clipped > 0 {
		m.clipped.Add(clipped)
	}
	m.out.Add(uint64(len(results)))
}

// Emitted counts n results whose latency is not measured (sources that
// replay as fast as they can, where arrival stamps are not wall time).
func (m *QueryMetrics) Emitted(n int) { m.out.Add(uint64(n)) }

// Read counts n events a source read, generated or was handed, before
// anything is decided about them.
func (m *QueryMetrics) Read(n int) { m.read.Add(uint64(n)) }

// Admitted counts n events a source sent into the pipeline.
func (m *QueryMetrics) Admitted(n int) { m.admitted.Add(uint64(n)) }

// Drop counts one event dropped for reason r at where (a source or step;
// line > 0: its line in a JSON-lines input). downstream is true when the
// event had been admitted (an operator dropped it), false at its source.
func (m *QueryMetrics) Drop(r DropReason, where string, line int, downstream bool, err error) {
	m.drops[r].Add(1)
	if downstream {
		m.eventDrops.Add(1)
	}
	m.dropReason.Store(&lastDrop{where, err})
	if !m.bad.full() { // formatting is for the first few only: a flood of bad input costs counts
		m.bad.add(BadInput{Reason: r.String(), Where: where, Line: line, Error: safeReason(err.Error())})
	}
}

// lastDrop is the last drop's place and error, formatted when read.
type lastDrop struct {
	where string
	err   error
}

// Shed counts n events shed at where (overload.shed_after): dropped, with
// reason shed, after the source counted them in.
func (m *QueryMetrics) Shed(n int, where string, err error) {
	m.drops[DropShed].Add(uint64(n))
	m.eventDrops.Add(uint64(n))
	m.dropReason.Store(&lastDrop{where, err})
}

// DropResults counts n results (not events: the output of a window or
// join) dropped by a step downstream of a window.
func (m *QueryMetrics) DropResults(n int, where string, err error) {
	m.droppedResults.Add(uint64(n))
	m.dropReason.Store(&lastDrop{where, err})
}

// LateResults counts n results late at a second window or join.
func (m *QueryMetrics) LateResults(n int) { m.lateResults.Add(uint64(n)) }

// LatePartial counts n events that missed some of their sliding windows
// (those had fired) but not all.
func (m *QueryMetrics) LatePartial(n int) { m.latePartial.Add(uint64(n)) }

// Panicked counts a panic recovered on the query's path.
func (m *QueryMetrics) Panicked() { m.panics.Add(1) }

// Unproduced counts n events a generator never produced (see
// QueryStats.EventsUnproduced).
func (m *QueryMetrics) Unproduced(n uint64) { m.unproduced.Add(n) }

// SetLag attaches what reports how far the query's sources are behind.
func (m *QueryMetrics) SetLag(f func() int64) { m.lag = f }

// SetBacklog attaches what reports the query's messages queued or running.
func (m *QueryMetrics) SetBacklog(f func() int64) { m.backlog = f }

// SetOperators attaches the per-operator metrics Stats reports.
func (m *QueryMetrics) SetOperators(ops []*OpMetrics) { m.ops = ops }

// Late counts n events that came after their window fired.
func (m *QueryMetrics) Late(n int) { m.late.Add(uint64(n)) }

// OpMetrics records one operator (all its instances): messages and events
// it handled, its execution cost and the queueing delay of its messages.
// Safe for concurrent use.
type OpMetrics struct {
	Step      string // "pipeline[1] key_by", "sink"
	Instances int
	Nodes     []string // in a cluster: the node of each instance, in order

	messages, events, emitted, costNs, queueNs, maxQueueNs atomic.Int64
}

// Observe records one message of events events that waited queueing ns and
// ran for cost ns, emitting emitted events.
func (o *OpMetrics) Observe(events, emitted int, queueing, cost int64) {
	o.messages.Add(1)
	o.events.Add(int64(events))
	o.emitted.Add(int64(emitted))
	o.costNs.Add(cost)
	o.queueNs.Add(queueing)
	for {
		m := o.maxQueueNs.Load()
		if queueing <= m || o.maxQueueNs.CompareAndSwap(m, queueing) {
			return
		}
	}
}

// Stats returns a snapshot.
func (o *OpMetrics) Stats() OperatorStats {
	s := OperatorStats{Step: o.Step, Instances: o.Instances, Nodes: o.Nodes, Messages: o.messages.Load(), EventsIn: o.events.Load(),
		EventsOut: o.emitted.Load(), QueueingMaxUs: float64(o.maxQueueNs.Load()) / 1e3}
	if s.Messages > 0 {
		s.CostMeanUs = float64(o.costNs.Load()) / float64(s.Messages) / 1e3
		s.QueueingMeanUs = float64(o.queueNs.Load()) / float64(s.Messages) / 1e3
	}
	return s
}

const msPerNs = 1e-6

// statsOf fills the latency figures of s from h; the met ratio counts the
// results whose latency was measured.
func statsOf(h *latencyHist, met uint64, s *QueryStats) {
	n := h.total()
	if n == 0 {
		return
	}
	s.P50Ms = float64(h.quantile(50)) * msPerNs
	s.P90Ms = float64(h.quantile(90)) * msPerNs
	s.P99Ms = float64(h.quantile(99)) * msPerNs
	s.P999Ms = float64(h.quantile(99.9)) * msPerNs
	s.MaxMs = float64(h.quantile(100)) * msPerNs
	s.MetRatio = float64(met) / float64(n)
}

// Stats returns a snapshot.
func (m *QueryMetrics) Stats() QueryStats {
	s := QueryStats{ID: m.ID, Name: m.Name, Tenant: m.Tenant, LatencyTargetMs: float64(m.Target) * msPerNs,
		Clipped: m.clipped.Load(), LatePartial: m.latePartial.Load(), ResultsDropped: m.droppedResults.Load(),
		ResultsLate: m.lateResults.Load(), Panics: m.panics.Load(), BadInputs: m.bad.snapshot()}
	m.accounts(&s)
	s.Results = m.out.Load()
	if m.backlog != nil {
		s.Backlog = m.backlog()
	}
	if m.lag != nil {
		s.SourceLagMs = float64(m.lag()) * msPerNs
	}
	s.EventsUnproduced = m.unproduced.Load()
	if sh := m.shareStats(); sh != nil {
		s.ServedMs, s.Deferred, s.Deferrals, s.BestEffort = float64(sh.ServedNs)*msPerNs, sh.Deferred, sh.Deferrals, sh.BestEffort
	}
	if r := m.dropReason.Load(); r != nil {
		s.LastDropReason = safeReason(r.where + ": " + r.err.Error())
	}
	m.connectors.Range(func(k, v any) bool {
		if s.Connectors == nil {
			s.Connectors = map[string]int64{}
		}
		s.Connectors[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	now := m.now()
	m.mu.Lock()
	statsOf(&m.mu.hist, m.mu.met, &s)
	s.Recent = m.recentStats(now)
	m.mu.Unlock()
	for _, o := range m.ops {
		s.Operators = append(s.Operators, o.Stats())
	}
	return s
}

// shareStats reads the query's share now, or the last figures read.
func (m *QueryMetrics) shareStats() *actors.ShareStats {
	if m.share != nil {
		if st, ok := m.share(); ok {
			m.shareLast.Store(&st)
		}
	}
	return m.shareLast.Load()
}

// accounts fills the accounting identity's figures. Counters are read
// downstream first, so that a snapshot taken while events move never shows
// more out than read: in is what remains, clamped at 0.
func (m *QueryMetrics) accounts(s *QueryStats) {
	s.Late = m.late.Load()
	eventDrops := m.eventDrops.Load()
	admitted := m.admitted.Load()
	for r := range m.drops {
		if n := m.drops[r].Load(); n > 0 {
			if s.DroppedBy == nil {
				s.DroppedBy = map[string]uint64{}
			}
			s.DroppedBy[DropReason(r).String()] = n
			s.Dropped += n
		}
	}
	s.EventsRead = m.read.Load()
	if admitted > s.Late+eventDrops {
		s.EventsIn = admitted - s.Late - eventDrops
	}
}

// Metrics is the registry of every query's metrics on a node, with tenant
// totals, and a prometheus.Collector. Safe for concurrent use.
type Metrics struct {
	mu      sync.Mutex
	queries map[string]*QueryMetrics
	weight  func(tenant string) float64 // nil: no shares
	// retired holds, per tenant, the counters of its queries that were
	// removed, so that the tenant's counters never go down.
	retired map[string]*tenantCounters
	// perQuery adds the per-query series (cameo_output_latency_seconds,
	// …) to the per-tenant ones; set once, before the registry is
	// registered (SetPerQuery).
	perQuery bool
}

// NewMetrics returns an empty registry.
func NewMetrics() *Metrics {
	return &Metrics{queries: map[string]*QueryMetrics{}, retired: map[string]*tenantCounters{}}
}

// SetPerQuery makes Collect add a series per query (and per operator) to
// the per-tenant ones: thousands of queries make hundreds of thousands of
// series, so it is a choice (serve --metrics-per-query). Call it before
// registering r.
func (r *Metrics) SetPerQuery(on bool) {
	r.mu.Lock()
	r.perQuery = on
	r.mu.Unlock()
}

// Add registers a query's metrics (replacing one with the same ID).
func (r *Metrics) Add(m *QueryMetrics) {
	r.mu.Lock()
	r.queries[m.ID] = m
	r.mu.Unlock()
}

// Remove forgets a query.
func (r *Metrics) Remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.queries[id]
	if !ok {
		return
	}
	delete(r.queries, id)
	t := r.retired[m.Tenant]
	if t == nil {
		t = &tenantCounters{}
		r.retired[m.Tenant] = t
	}
	t.add(m)
}

// tenantCounters sums the counters of a tenant's queries.
type tenantCounters struct {
	read, in, late, results, unproduced uint64
	dropped                             [numDropReasons]uint64
	servedNs                            int64
}

func (t *tenantCounters) add(m *QueryMetrics) {
	var acc QueryStats
	m.accounts(&acc)
	t.read += acc.EventsRead
	t.in += acc.EventsIn
	t.late += acc.Late
	t.results += m.out.Load()
	t.unproduced += m.unproduced.Load()
	for r := range m.drops {
		t.dropped[r] += m.drops[r].Load()
	}
	if sh := m.shareStats(); sh != nil {
		t.servedNs += sh.ServedNs
	}
}

func (r *Metrics) list() []*QueryMetrics {
	r.mu.Lock()
	out := make([]*QueryMetrics, 0, len(r.queries))
	for _, m := range r.queries {
		out = append(out, m)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b *QueryMetrics) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Queries returns every query's stats, by ID.
func (r *Metrics) Queries() []QueryStats {
	qs := r.list()
	out := make([]QueryStats, len(qs))
	for i, m := range qs {
		out[i] = m.Stats()
	}
	return out
}

// Tenants returns the totals per tenant, by tenant.
func (r *Metrics) Tenants() []TenantStats {
	type acc struct {
		h   latencyHist
		met uint64
		t   TenantStats
	}
	byTenant := map[string]*acc{}
	for _, m := range r.list() {
		a := byTenant[m.Tenant]
		if a == nil {
			a = &acc{t: TenantStats{Tenant: m.Tenant}}
			byTenant[m.Tenant] = a
		}
		a.t.Queries++
		if sh := m.shareStats(); sh != nil {
			a.t.ServedMs += float64(sh.ServedNs) * msPerNs
		}
		var qs QueryStats
		m.accounts(&qs)
		a.t.EventsIn += qs.EventsIn
		a.t.Results += m.out.Load()
		a.t.Late += qs.Late
		a.t.Dropped += qs.Dropped
		m.mu.Lock()
		a.h.merge(&m.mu.hist)
		a.met += m.mu.met
		m.mu.Unlock()
	}
	r.mu.Lock()
	weight := r.weight
	r.mu.Unlock()
	var served float64
	for _, a := range byTenant {
		served += a.t.ServedMs
	}
	out := make([]TenantStats, 0, len(byTenant))
	for _, a := range byTenant {
		if weight != nil {
			a.t.Weight = weight(a.t.Tenant)
		}
		if served > 0 {
			a.t.ShareUsed = a.t.ServedMs / served
		}
		var s QueryStats
		statsOf(&a.h, a.met, &s)
		a.t.P50Ms, a.t.P99Ms, a.t.MaxMs, a.t.MetRatio = s.P50Ms, s.P99Ms, s.MaxMs, s.MetRatio
		out = append(out, a.t)
	}
	slices.SortFunc(out, func(a, b TenantStats) int { return cmp.Compare(a.Tenant, b.Tenant) })
	return out
}

var (
	labels       = []string{"query", "name", "tenant"}
	descLatency  = prometheus.NewDesc("cameo_output_latency_seconds", "Output latency of a query's results: emit time minus arrival of the frontier input.", labels, nil)
	descTarget   = prometheus.NewDesc("cameo_latency_target_seconds", "A query's latency target.", labels, nil)
	descMet      = prometheus.NewDesc("cameo_deadline_met_ratio", "Share of a query's results that met the latency target.", labels, nil)
	descRead     = prometheus.NewDesc("cameo_events_read_total", "Events a query's sources read, generated or were handed: in + late + dropped.", labels, nil)
	descIn       = prometheus.NewDesc("cameo_events_in_total", "Events a query computed with: read, neither late nor dropped.", labels, nil)
	descLate     = prometheus.NewDesc("cameo_late_events_total", "Events that came after their window fired.", labels, nil)
	descDropped  = prometheus.NewDesc("cameo_dropped_events_total", "Events dropped, by reason.", append(labels[:3:3], "reason"), nil)
	descConn     = prometheus.NewDesc("cameo_connector_count", "A connector's counter (a webhook's requests, retries, failures...), by name.", append(labels[:3:3], "counter"), nil)
	descResults  = prometheus.NewDesc("cameo_results_total", "Results a query emitted at its sink.", labels, nil)
	descBacklog  = prometheus.NewDesc("cameo_query_backlog_messages", "A query's in-flight count: its messages queued or running, each weighted by what it can still become through the shuffles ahead.", labels, nil)
	descLag      = prometheus.NewDesc("cameo_source_lag_seconds", "How far a query's generators are behind their schedule.", labels, nil)
	descUnprod   = prometheus.NewDesc("cameo_events_unproduced_total", "Events a generator's schedule held before it stopped that it never produced.", labels, nil)
	descServed   = prometheus.NewDesc("cameo_query_served_seconds_total", "Worker time charged to the query's share of the pool.", labels, nil)
	descDeferred = prometheus.NewDesc("cameo_query_deferred", "1 while the query's work is deferred (served more than its target late for a while), else 0.", labels, nil)

	opLabels   = []string{"query", "name", "tenant", "step"}
	descOpMsgs = prometheus.NewDesc("cameo_operator_messages_total", "Messages an operator (all its instances) ran.", opLabels, nil)
	descOpCost = prometheus.NewDesc("cameo_operator_cost_seconds_total", "Time an operator spent running messages.", opLabels, nil)
	descOpWait = prometheus.NewDesc("cameo_operator_queueing_seconds_total", "Time an operator's messages waited between send and start.", opLabels, nil)
	descOpMax  = prometheus.NewDesc("cameo_operator_queueing_max_seconds", "Longest an operator's message waited.", opLabels, nil)
)

// The per-tenant series: what a node's /metrics has by default, bounded by
// the tenants, not the queries.
var (
	tenantLabel       = []string{"tenant"}
	descTLatency      = prometheus.NewDesc("cameo_tenant_output_latency_seconds", "Output latency of the results of a tenant's running queries.", tenantLabel, nil)
	descTMet          = prometheus.NewDesc("cameo_tenant_deadline_met_ratio", "Share of the results of a tenant's running queries that met their query's target.", tenantLabel, nil)
	descTQueries      = prometheus.NewDesc("cameo_tenant_queries", "A tenant's queries the node holds (running, draining, or ended and not yet forgotten).", tenantLabel, nil)
	descTRead         = prometheus.NewDesc("cameo_tenant_events_read_total", "Events the sources of a tenant's queries read.", tenantLabel, nil)
	descTIn           = prometheus.NewDesc("cameo_tenant_events_in_total", "Events a tenant's queries computed with.", tenantLabel, nil)
	descTLate         = prometheus.NewDesc("cameo_tenant_late_events_total", "Events of a tenant's queries that came after their window fired.", tenantLabel, nil)
	descTDropped      = prometheus.NewDesc("cameo_tenant_dropped_events_total", "Events of a tenant's queries dropped, by reason.", []string{"tenant", "reason"}, nil)
	descTResults      = prometheus.NewDesc("cameo_tenant_results_total", "Results a tenant's queries emitted.", tenantLabel, nil)
	descTBacklog      = prometheus.NewDesc("cameo_tenant_backlog_messages", "The in-flight count of a tenant's queries, summed.", tenantLabel, nil)
	descTLag          = prometheus.NewDesc("cameo_tenant_source_lag_seconds", "The most any of a tenant's generators is behind its schedule.", tenantLabel, nil)
	descTUnprod       = prometheus.NewDesc("cameo_tenant_events_unproduced_total", "Events the generators of a tenant's queries never produced.", tenantLabel, nil)
	descTServed       = prometheus.NewDesc("cameo_tenant_served_seconds_total", "Worker time charged to a tenant's queries.", tenantLabel, nil)
	descTDeferred     = prometheus.NewDesc("cameo_tenant_deferred_queries", "A tenant's queries whose work is deferred now.", tenantLabel, nil)
	tenantDescriptors = []*prometheus.Desc{descTLatency, descTMet, descTQueries, descTRead, descTIn, descTLate, descTDropped, descTResults, descTBacklog, descTLag, descTUnprod, descTServed, descTDeferred}
	queryDescriptors  = []*prometheus.Desc{descLatency, descTarget, descMet, descRead, descIn, descLate, descDropped, descConn, descResults, descBacklog, descLag, descUnprod, descOpMsgs, descOpCost, descOpWait, descOpMax, descServed, descDeferred}
)

var _ prometheus.Collector = (*Metrics)(nil)

// Describe implements prometheus.Collector.
func (r *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range tenantDescriptors {
		ch <- d
	}
	r.mu.Lock()
	perQuery := r.perQuery
	r.mu.Unlock()
	if perQuery {
		for _, d := range queryDescriptors {
			ch <- d
		}
	}
}

// Collect implements prometheus.Collector: per tenant, its queries'
// latency as a summary with the 0.5, 0.9, 0.99 and 0.999 quantiles, met
// ratio and counters (those of the queries it forgot included, so that
// they never go down); per query and operator too when SetPerQuery.
func (r *Metrics) Collect(ch chan<- prometheus.Metric) {
	qs := r.list()
	r.collectTenants(ch, qs)
	r.mu.Lock()
	perQuery := r.perQuery
	r.mu.Unlock()
	if !perQuery {
		return
	}
	r.collectQueries(ch, qs)
}

// collectTenants sends the per-tenant series.
func (r *Metrics) collectTenants(ch chan<- prometheus.Metric, qs []*QueryMetrics) {
	type acc struct {
		h        latencyHist
		met      uint64
		c        tenantCounters
		queries  int
		backlog  int64
		lag      int64
		deferred int
	}
	by := map[string]*acc{}
	get := func(t string) *acc {
		a := by[t]
		if a == nil {
			a = &acc{}
			by[t] = a
		}
		return a
	}
	r.mu.Lock()
	for t, c := range r.retired {
		get(t).c = *c
	}
	r.mu.Unlock()
	for _, m := range qs {
		a := get(m.Tenant)
		a.queries++
		a.c.add(m)
		m.mu.Lock()
		a.h.merge(&m.mu.hist)
		a.met += m.mu.met
		m.mu.Unlock()
		if m.backlog != nil {
			a.backlog += m.backlog()
		}
		if m.lag != nil {
			a.lag = max(a.lag, m.lag())
		}
		if sh := m.shareStats(); sh != nil && sh.Deferred {
			a.deferred++
		}
	}
	for t, a := range by {
		n := a.h.total()
		q := map[float64]float64{}
		for _, p := range []float64{0.5, 0.9, 0.99, 0.999} {
			q[p] = float64(a.h.quantile(p*100)) / 1e9
		}
		ch <- prometheus.MustNewConstSummary(descTLatency, n, a.h.mean()*float64(n)/1e9, q, t)
		ratio := 0.0
		if n > 0 {
			ratio = float64(a.met) / float64(n)
		}
		ch <- prometheus.MustNewConstMetric(descTMet, prometheus.GaugeValue, ratio, t)
		ch <- prometheus.MustNewConstMetric(descTQueries, prometheus.GaugeValue, float64(a.queries), t)
		ch <- prometheus.MustNewConstMetric(descTRead, prometheus.CounterValue, float64(a.c.read), t)
		ch <- prometheus.MustNewConstMetric(descTIn, prometheus.CounterValue, float64(a.c.in), t)
		ch <- prometheus.MustNewConstMetric(descTLate, prometheus.CounterValue, float64(a.c.late), t)
		for reason := range a.c.dropped {
			ch <- prometheus.MustNewConstMetric(descTDropped, prometheus.CounterValue, float64(a.c.dropped[reason]), t, DropReason(reason).String())
		}
		ch <- prometheus.MustNewConstMetric(descTResults, prometheus.CounterValue, float64(a.c.results), t)
		ch <- prometheus.MustNewConstMetric(descTBacklog, prometheus.GaugeValue, float64(a.backlog), t)
		ch <- prometheus.MustNewConstMetric(descTLag, prometheus.GaugeValue, float64(a.lag)/1e9, t)
		ch <- prometheus.MustNewConstMetric(descTUnprod, prometheus.CounterValue, float64(a.c.unproduced), t)
		ch <- prometheus.MustNewConstMetric(descTServed, prometheus.CounterValue, float64(a.c.servedNs)/1e9, t)
		ch <- prometheus.MustNewConstMetric(descTDeferred, prometheus.GaugeValue, float64(a.deferred), t)
	}
}

// collectQueries sends the per-query and per-operator series.
func (r *Metrics) collectQueries(ch chan<- prometheus.Metric, qs []*QueryMetrics) {
	for _, m := range qs {
		lv := []string{m.ID, m.Name, m.Tenant}
		m.mu.Lock()
		h := &m.mu.hist
		n := h.total()
		sum := h.mean() * float64(n) / 1e9
		q := map[float64]float64{}
		for _, p := range []float64{0.5, 0.9, 0.99, 0.999} {
			q[p] = float64(h.quantile(p*100)) / 1e9
		}
		met := m.mu.met
		m.mu.Unlock()
		ch <- prometheus.MustNewConstSummary(descLatency, n, sum, q, lv...)
		ch <- prometheus.MustNewConstMetric(descTarget, prometheus.GaugeValue, float64(m.Target)/1e9, lv...)
		ratio := 0.0
		if n > 0 {
			ratio = float64(met) / float64(n)
		}
		ch <- prometheus.MustNewConstMetric(descMet, prometheus.GaugeValue, ratio, lv...)
		var acc QueryStats
		m.accounts(&acc)
		ch <- prometheus.MustNewConstMetric(descRead, prometheus.CounterValue, float64(acc.EventsRead), lv...)
		ch <- prometheus.MustNewConstMetric(descIn, prometheus.CounterValue, float64(acc.EventsIn), lv...)
		ch <- prometheus.MustNewConstMetric(descLate, prometheus.CounterValue, float64(acc.Late), lv...)
		for r := range m.drops {
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(m.drops[r].Load()), append(lv[:3:3], DropReason(r).String())...)
		}
		m.connectors.Range(func(k, v any) bool {
			ch <- prometheus.MustNewConstMetric(descConn, prometheus.GaugeValue, float64(v.(*atomic.Int64).Load()), append(lv[:3:3], k.(string))...)
			return true
		})
		ch <- prometheus.MustNewConstMetric(descResults, prometheus.CounterValue, float64(m.out.Load()), lv...)
		if m.backlog != nil {
			ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(m.backlog()), lv...)
		}
		if m.lag != nil {
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(m.lag())/1e9, lv...)
		}
		ch <- prometheus.MustNewConstMetric(descUnprod, prometheus.CounterValue, float64(m.unproduced.Load()), lv...)
		if sh := m.shareStats(); sh != nil {
			deferred := 0.0
			if sh.Deferred {
				deferred = 1
			}
			ch <- prometheus.MustNewConstMetric(descServed, prometheus.CounterValue, float64(sh.ServedNs)/1e9, lv...)
			ch <- prometheus.MustNewConstMetric(descDeferred, prometheus.GaugeValue, deferred, lv...)
		}
		for _, o := range m.ops {
			ov := append(lv[:3:3], o.Step)
			ch <- prometheus.MustNewConstMetric(descOpMsgs, prometheus.CounterValue, float64(o.messages.Load()), ov...)
			ch <- prometheus.MustNewConstMetric(descOpCost, prometheus.CounterValue, float64(o.costNs.Load())/1e9, ov...)
			ch <- prometheus.MustNewConstMetric(descOpWait, prometheus.CounterValue, float64(o.queueNs.Load())/1e9, ov...)
			ch <- prometheus.MustNewConstMetric(descOpMax, prometheus.GaugeValue, float64(o.maxQueueNs.Load())/1e9, ov...)
		}
	}
}

// SchedulerCollector exposes a scheduler's worker pools: workers, their
// busy time (its rate over workers is utilisation), actors queued, and the
// messages and turns run.
type SchedulerCollector struct{ S *actors.Scheduler }

var (
	descWorkers = prometheus.NewDesc("cameo_workers", "Worker goroutines of the scheduler's pools.", []string{"scheduler"}, nil)
	descBusy    = prometheus.NewDesc("cameo_worker_busy_seconds_total", "Time workers spent running actors; rate()/cameo_workers is utilisation.", []string{"scheduler"}, nil)
	descQueued  = prometheus.NewDesc("cameo_scheduler_queued", "Actors (and functions) waiting for a worker.", []string{"scheduler"}, nil)
	descMsgs    = prometheus.NewDesc("cameo_scheduler_messages_total", "Messages the workers ran.", []string{"scheduler"}, nil)
	descTurns   = prometheus.NewDesc("cameo_scheduler_turns_total", "Turns the workers ran.", []string{"scheduler"}, nil)
	descParks   = prometheus.NewDesc("cameo_scheduler_parks_total", "Times a worker found no work and parked (woken by the next post or due timer).", []string{"scheduler"}, nil)
	descSpin    = prometheus.NewDesc("cameo_scheduler_spin_seconds_total", "Wall time idle workers spent looking for work before parking (not busy time).", []string{"scheduler"}, nil)
	descYield   = prometheus.NewDesc("cameo_scheduler_yield_seconds_total", "Wall time busy workers gave back to Go's scheduler inside long turns, until they ran again (not busy time).", []string{"scheduler"}, nil)
)

var _ prometheus.Collector = SchedulerCollector{}

// Describe implements prometheus.Collector.
func (c SchedulerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWorkers, descBusy, descQueued, descMsgs, descTurns, descParks, descSpin, descYield} {
		ch <- d
	}
}

// Collect implements prometheus.Collector; the protoactor scheduler has no
// pool of its own and reports nothing.
func (c SchedulerCollector) Collect(ch chan<- prometheus.Metric) {
	ds := c.S.Dispatchers()
	if len(ds) == 0 {
		return
	}
	var t actors.Stats
	for _, d := range ds {
		s := d.Stats()
		t.Workers += s.Workers
		t.BusyNs += s.BusyNs
		t.Queued += s.Queued
		t.Messages += s.Messages
		t.Turns += s.Turns
		t.Parks += s.Parks
		t.SpinNs += s.SpinNs
		t.YieldNs += s.YieldNs
	}
	name := c.S.Name()
	ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(t.Workers), name)
	ch <- prometheus.MustNewConstMetric(descBusy, prometheus.CounterValue, float64(t.BusyNs)/1e9, name)
	ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(t.Queued), name)
	ch <- prometheus.MustNewConstMetric(descMsgs, prometheus.CounterValue, float64(t.Messages), name)
	ch <- prometheus.MustNewConstMetric(descTurns, prometheus.CounterValue, float64(t.Turns), name)
	ch <- prometheus.MustNewConstMetric(descParks, prometheus.CounterValue, float64(t.Parks), name)
	ch <- prometheus.MustNewConstMetric(descSpin, prometheus.CounterValue, float64(t.SpinNs)/1e9, name)
	ch <- prometheus.MustNewConstMetric(descYield, prometheus.CounterValue, float64(t.YieldNs)/1e9, name)
}

// MemoryCollector exposes the node's memory budget (Config.NodeMemory)
// and what its running queries held at the last check.
type MemoryCollector struct{ E *Engine }

var (
	descNodeMem    = prometheus.NewDesc("cameo_node_memory_bytes", "Estimated memory the node's running queries hold (window and join state, queued events), at the last check.", nil, nil)
	descNodeBudget = prometheus.NewDesc("cameo_node_memory_budget_bytes", "The node's memory budget for its queries (0: none).", nil, nil)
)

var _ prometheus.Collector = MemoryCollector{}

// Describe implements prometheus.Collector.
func (c MemoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descNodeMem
	ch <- descNodeBudget
}

// Collect implements prometheus.Collector.
func (c MemoryCollector) Collect(ch chan<- prometheus.Metric) {
	held, budget := c.E.NodeMemory()
	ch <- prometheus.MustNewConstMetric(descNodeMem, prometheus.GaugeValue, float64(held))
	ch <- prometheus.MustNewConstMetric(descNodeBudget, prometheus.GaugeValue, float64(budget))
}

// ClusterCollector exposes a node's view of its cluster (GET /v1/cluster):
// per peer whether it is up, how long since it last answered, the clock
// offset and round trips measured from heartbeats and envelopes, and how
// often it went down; per node the messages it could not use. An engine
// that is not in a cluster reports nothing.
type ClusterCollector struct{ E *Engine }

var (
	peerLabels     = []string{"node", "peer"}
	descPeerUp     = prometheus.NewDesc("cameo_peer_up", "1 if the peer answered heartbeats within the peer timeout, else 0.", peerLabels, nil)
	descPeerSeen   = prometheus.NewDesc("cameo_peer_last_seen_seconds", "Time since the peer last answered a heartbeat (absent: never).", peerLabels, nil)
	descPeerOffset = prometheus.NewDesc("cameo_peer_clock_offset_seconds", "The peer's clock minus this node's, from the heartbeat with the least round trip of the last 16.", peerLabels, nil)
	descPeerRTT    = prometheus.NewDesc("cameo_peer_rtt_seconds", "Round trip of that heartbeat.", peerLabels, nil)
	descPeerHop    = prometheus.NewDesc("cameo_peer_hop_rtt_seconds", "Moving average round trip of envelopes to the peer, its processing excluded (0: none sent).", peerLabels, nil)
	descPeerDowns  = prometheus.NewDesc("cameo_peer_downs_total", "Times the peer was declared down.", peerLabels, nil)
	descUnknown    = prometheus.NewDesc("cameo_cluster_unknown_messages_total", "Messages of a type this node does not handle, dropped.", []string{"node"}, nil)
	descBadStreams = prometheus.NewDesc("cameo_cluster_bad_streams_total", "Inbound connections closed on a message this node could not decode.", []string{"node"}, nil)
	descStray      = prometheus.NewDesc("cameo_cluster_stray_envelopes_total", "Envelopes for a query or instance this node does not run, dropped.", []string{"node"}, nil)
)

var _ prometheus.Collector = ClusterCollector{}

// Describe implements prometheus.Collector.
func (c ClusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeerUp, descPeerSeen, descPeerOffset, descPeerRTT, descPeerHop, descPeerDowns, descUnknown, descBadStreams, descStray} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c ClusterCollector) Collect(ch chan<- prometheus.Metric) {
	ci, ok := c.E.Cluster()
	if !ok {
		return
	}
	for _, p := range ci.Peers {
		up := 0.0
		if p.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descPeerUp, prometheus.GaugeValue, up, ci.Name, p.Name)
		if p.LastSeenMs >= 0 {
			ch <- prometheus.MustNewConstMetric(descPeerSeen, prometheus.GaugeValue, p.LastSeenMs/1e3, ci.Name, p.Name)
		}
		ch <- prometheus.MustNewConstMetric(descPeerOffset, prometheus.GaugeValue, p.ClockOffsetMs/1e3, ci.Name, p.Name)
		ch <- prometheus.MustNewConstMetric(descPeerRTT, prometheus.GaugeValue, p.RTTMs/1e3, ci.Name, p.Name)
		ch <- prometheus.MustNewConstMetric(descPeerHop, prometheus.GaugeValue, p.HopRTTMs/1e3, ci.Name, p.Name)
		ch <- prometheus.MustNewConstMetric(descPeerDowns, prometheus.CounterValue, float64(p.Downs), ci.Name, p.Name)
	}
	ch <- prometheus.MustNewConstMetric(descUnknown, prometheus.CounterValue, float64(ci.UnknownMessages), ci.Name)
	ch <- prometheus.MustNewConstMetric(descBadStreams, prometheus.CounterValue, float64(ci.BadStreams), ci.Name)
	ch <- prometheus.MustNewConstMetric(descStray, prometheus.CounterValue, float64(ci.StrayEnvelopes), ci.Name)
}
