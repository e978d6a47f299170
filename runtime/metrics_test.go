package runtime

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const ms = int64(1e6)

func TestQueryMetrics(t *testing.T) {
	m := NewQueryMetrics("q1", "alerts", "ops", 50*ms)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 1 + w*250; i <= (w+1)*250; i++ { // latencies 1..1000 ms
				m.Result(int64(i) * ms)
			}
		})
	}
	wg.Wait()
	m.Read(5004)
	m.Admitted(5003)
	m.Drop(DropUndecodable, "source a", 7, false, errors.New("bad"))
	m.Drop(DropExpression, "pipeline[0] map", 0, true, errors.New("x/0"))
	m.Late(3)
	s := m.Stats()
	// The query's histogram reads a quantile within 1/128 of the value.
	near := func(got, want float64) bool { return math.Abs(got-want) <= want/128 }
	if s.Results != 1000 || !near(s.P50Ms, 500) || !near(s.P99Ms, 990) || !near(s.MaxMs, 1000) || s.MetRatio != 0.05 {
		t.Errorf("stats %+v", s)
	}
	if s.EventsIn != 4999 || s.Late != 3 || s.Dropped != 2 || s.LatencyTargetMs != 50 || s.EventsRead != s.EventsIn+s.Late+s.Dropped ||
		s.DroppedBy["undecodable"] != 1 || s.DroppedBy["expression_error"] != 1 || len(s.BadInputs) != 2 || s.BadInputs[0].Line != 7 {
		t.Errorf("counts %+v", s)
	}
	m.Result(2 * 3_600_000 * ms) // two hours: above the histogram
	if s := m.Stats(); s.Clipped != 1 || !near(s.MaxMs, 3_600_000) {
		t.Errorf("clipping: %+v", s)
	}
}

func TestTenantTotals(t *testing.T) {
	r := NewMetrics()
	a := NewQueryMetrics("a", "a", "t1", 10*ms)
	b := NewQueryMetrics("b", "b", "t1", 100*ms)
	c := NewQueryMetrics("c", "c", "t2", 10*ms)
	for _, m := range []*QueryMetrics{a, b, c} {
		r.Add(m)
	}
	a.Result(20 * ms) // misses 10 ms
	b.Result(20 * ms) // meets 100 ms
	c.Result(5 * ms)
	ts := r.Tenants()
	if len(ts) != 2 || ts[0].Tenant != "t1" || ts[0].Queries != 2 || ts[0].Results != 2 || ts[0].MetRatio != 0.5 || ts[1].MetRatio != 1 {
		t.Errorf("tenants %+v", ts)
	}
	r.Remove("c")
	if qs := r.Queries(); len(qs) != 2 || qs[0].ID != "a" {
		t.Errorf("queries %+v", qs)
	}
}

func TestPrometheusExposition(t *testing.T) {
	r := NewMetrics()
	r.SetPerQuery(true)
	m := NewQueryMetrics("q1", "alerts", "ops", 50*ms)
	r.Add(m)
	m.Result(10 * ms)
	m.Result(30 * ms)
	m.Result(90 * ms)
	m.Read(7)
	m.Admitted(7)
	op := &OpMetrics{Step: "pipeline[0] filter", Instances: 2}
	op.Observe(10, 4, 2_000_000, 500_000)
	op.Observe(10, 6, 6_000_000, 500_000)
	m.SetOperators([]*OpMetrics{op})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r)
	want := `
# HELP cameo_deadline_met_ratio Share of a query's results that met the latency target.
# TYPE cameo_deadline_met_ratio gauge
cameo_deadline_met_ratio{name="alerts",query="q1",tenant="ops"} 0.6666666666666666
# HELP cameo_events_in_total Events a query computed with: read, neither late nor dropped.
# TYPE cameo_events_in_total counter
cameo_events_in_total{name="alerts",query="q1",tenant="ops"} 7
# HELP cameo_operator_cost_seconds_total Time an operator spent running messages.
# TYPE cameo_operator_cost_seconds_total counter
cameo_operator_cost_seconds_total{name="alerts",query="q1",step="pipeline[0] filter",tenant="ops"} 0.001
# HELP cameo_operator_queueing_max_seconds Longest an operator's message waited.
# TYPE cameo_operator_queueing_max_seconds gauge
cameo_operator_queueing_max_seconds{name="alerts",query="q1",step="pipeline[0] filter",tenant="ops"} 0.006
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cameo_deadline_met_ratio", "cameo_events_in_total", "cameo_operator_cost_seconds_total", "cameo_operator_queueing_max_seconds"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "cameo_output_latency_seconds"); err != nil || n != 1 {
		t.Errorf("latency summary: %d series, %v", n, err)
	}
	if st := m.Stats().Operators; len(st) != 1 || st[0].Messages != 2 || st[0].EventsOut != 10 || st[0].QueueingMeanUs != 4000 || st[0].CostMeanUs != 500 {
		t.Errorf("operator stats %+v", st)
	}
}

// The recent figures hold the last 10 s of results: older ones leave them,
// the since-start figures keep them; a query with no result for 10 s has
// an empty window.
func TestRecentFigures(t *testing.T) {
	m := NewQueryMetrics("q", "q", "t", int64(50*time.Millisecond))
	now := int64(1_000_000_000_000)
	m.now = func() int64 { return now }
	for range 100 {
		m.Result(int64(200 * time.Millisecond)) // missed
	}
	now += int64(6 * time.Second)
	for range 100 {
		m.Result(int64(10 * time.Millisecond)) // met
	}
	r := m.Stats().Recent
	if r == nil || r.Results != 200 || r.MetRatio != 0.5 || r.WindowS != 10 {
		t.Fatalf("after 6 s: %+v", r)
	}
	now += int64(6 * time.Second) // the first 100 are 12 s old
	st := m.Stats()
	if r := st.Recent; r.Results != 100 || r.MetRatio != 1 || r.P99Ms < 9.9 || r.P99Ms > 10.1 {
		t.Fatalf("after 12 s: %+v", r)
	}
	if st.Results != 200 || st.MetRatio != 0.5 || st.P99Ms < 199 {
		t.Fatalf("since the start: %d results, met %v, p99 %v", st.Results, st.MetRatio, st.P99Ms)
	}
	now += int64(20 * time.Second)
	if r := m.Stats().Recent; r.Results != 0 || r.P99Ms != 0 {
		t.Fatalf("after 20 s without results: %+v", r)
	}
}

// By default /metrics has series per tenant only: their latency merged,
// their counters summed, and a tenant's counters keep what its forgotten
// queries counted, so that they never go down.
func TestTenantSeries(t *testing.T) {
	r := NewMetrics()
	a := NewQueryMetrics("q1", "a", "ops", 50*ms)
	b := NewQueryMetrics("q2", "b", "ops", 50*ms)
	c := NewQueryMetrics("q3", "c", "bi", 50*ms)
	for _, m := range []*QueryMetrics{a, b, c} {
		r.Add(m)
		m.Read(10)
		m.Admitted(10)
	}
	a.Result(10 * ms)
	b.Result(90 * ms)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r)
	want := `
# HELP cameo_tenant_deadline_met_ratio Share of the results of a tenant's running queries that met their query's target.
# TYPE cameo_tenant_deadline_met_ratio gauge
cameo_tenant_deadline_met_ratio{tenant="bi"} 0
cameo_tenant_deadline_met_ratio{tenant="ops"} 0.5
# HELP cameo_tenant_events_in_total Events a tenant's queries computed with.
# TYPE cameo_tenant_events_in_total counter
cameo_tenant_events_in_total{tenant="bi"} 10
cameo_tenant_events_in_total{tenant="ops"} 20
# HELP cameo_tenant_queries A tenant's queries the node holds (running, draining, or ended and not yet forgotten).
# TYPE cameo_tenant_queries gauge
cameo_tenant_queries{tenant="bi"} 1
cameo_tenant_queries{tenant="ops"} 2
`
	names := []string{"cameo_tenant_deadline_met_ratio", "cameo_tenant_events_in_total", "cameo_tenant_queries"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "cameo_output_latency_seconds", "cameo_events_in_total"); err != nil || n != 0 {
		t.Errorf("per-query series without SetPerQuery: %d, %v", n, err)
	}
	r.Remove("q2")
	want = strings.NewReplacer(`cameo_tenant_queries{tenant="ops"} 2`, `cameo_tenant_queries{tenant="ops"} 1`,
		`cameo_tenant_deadline_met_ratio{tenant="ops"} 0.5`, `cameo_tenant_deadline_met_ratio{tenant="ops"} 1`).Replace(want)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Errorf("after q2 was forgotten (its 10 events still counted): %v", err)
	}
}
