package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/query"
)

func tenantSpec(t *testing.T, tenant, name string, rate int) *query.Plan {
	t.Helper()
	return mustParse(t, fmt.Sprintf(`
name: %s
tenant: %s
latency_target: 50ms
sources: [{name: s, generator: {rate: %d, keys: {count: 10}}}]
pipeline: [{filter: 'key != "k3"'}]
sink: {discard: {}}
`, name, tenant, rate))
}

// A tenant's max_queries refuses its next submit with the figures, leaves
// other tenants alone, and frees a place when one of its queries ends.
func TestTenantQuota(t *testing.T) {
	ts, err := query.ParseTenants("tenants.yaml", []byte("tenants:\n  a: {max_queries: 2, weight: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, WithTenants(ts), WithWorkers(1))
	ctx := context.Background()
	q1, err := e.Submit(ctx, tenantSpec(t, "a", "one", 100))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Submit(ctx, tenantSpec(t, "a", "two", 100)); err != nil {
		t.Fatal(err)
	}
	_, err = e.Submit(ctx, tenantSpec(t, "a", "three", 100))
	if !errors.Is(err, ErrTenantQuota) || !strings.Contains(err.Error(), `tenant "a" is at its max_queries (2 running or draining; tenant file tenants.yaml)`) {
		t.Fatalf("third submit: %v", err)
	}
	if _, err := e.Submit(ctx, tenantSpec(t, "b", "other", 100)); err != nil {
		t.Fatalf("tenant b: %v", err)
	}
	if err := q1.Cancel(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Submit(ctx, tenantSpec(t, "a", "three", 100)); err != nil {
		t.Fatalf("after one ended: %v", err)
	}
	var weights []string
	for _, tn := range e.Metrics().Tenants() {
		weights = append(weights, fmt.Sprintf("%s=%v", tn.Tenant, tn.Weight))
	}
	if got := strings.Join(weights, " "); got != "a=3 b=1" {
		t.Errorf("tenant weights %q, want a=3 b=1", got)
	}
}

// Every query's share is charged the worker time it used; the tenant
// figures add them up.
func TestQueryStatsShowServedTime(t *testing.T) {
	e := newEngine(t, WithWorkers(1), WithUnpacedSources())
	s := tenantSpec(t, "a", "served", 1000).Spec()
	s.Sources[0].Input.(*query.Generator).Duration = 20 * time.Second // 20,000 events, unpaced
	q := runToEnd(t, e, mustCompile(t, s))
	st := q.Stats()
	if st.ServedMs <= 0 {
		t.Errorf("served %v ms for 20,000 events", st.ServedMs)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Metrics())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "cameo_tenant_served_seconds_total" { // the one query's tenant
			found = true
			if v := mf.GetMetric()[0].GetCounter().GetValue(); math.Abs(v*1e3-st.ServedMs) > 1e-6 {
				t.Errorf("served %v s in /metrics, %v ms in stats", v, st.ServedMs)
			}
		}
	}
	if !found {
		t.Error("no cameo_tenant_served_seconds_total in /metrics")
	}
	tn := e.Metrics().Tenants()
	if len(tn) != 1 || tn[0].ServedMs != st.ServedMs || tn[0].ShareUsed != 1 || tn[0].Weight != 1 {
		t.Errorf("tenants %+v, query served %v", tn, st.ServedMs)
	}
}

// A sender cuts its batches so that each message carries about
// MessageWork of the receiver's measured work: 1 ms of 50 µs events is 20
// events a message (the batches sent before the first measurement are whole).
// Without the bound, a message is a source batch of up to 1,024 events.
func TestMessagesCarryBoundedWork(t *testing.T) {
	for _, tc := range []struct {
		work      time.Duration
		maxPerMsg float64
		minPerMsg float64
	}{
		{time.Millisecond, 30, 1},
		{-1, 1024, 500},
	} {
		clk := actors.NewManualClock(1e18)
		// An in-flight bound of 2 lets at most two whole batches go before
		// the first measurement.
		e := newEngine(t, WithClock(clk), WithUnpacedSources(), WithWorkers(1), WithMessageWork(tc.work), WithMaxInFlight(2))
		s, err := query.NewBuilder("costly").Tenant("t").LatencyTarget(time.Second).
			Generator("in", query.Generator{Rate: 10000, Duration: time.Second, Seed: 1, Keys: query.Keys{Count: 10}}).
			Process("work", func(ev query.Event, out []query.Event) ([]query.Event, error) {
				clk.Advance(50_000)
				return append(out, ev), nil
			}).Discard().Build()
		if err != nil {
			t.Fatal(err)
		}
		q := runToEnd(t, e, s)
		st := q.Stats()
		op := st.Operators[0]
		per := float64(op.EventsIn) / float64(op.Messages)
		if op.EventsIn != 10000 || per > tc.maxPerMsg || per < tc.minPerMsg {
			t.Errorf("work %v: %d events in %d messages (%.1f each), want %v–%v each", tc.work, op.EventsIn, op.Messages, per, tc.minPerMsg, tc.maxPerMsg)
		}
	}
}

// Under overload policy shed, an event that waited past shed_after is
// dropped with reason shed and written to the shed sink; everything else
// goes through: read = in + dropped, results + shed = read.
func TestShedAfterWaitingTooLong(t *testing.T) {
	clk := actors.NewManualClock(1e18)
	e := newEngine(t, WithClock(clk), WithUnpacedSources(), WithWorkers(1), WithMessageWork(-1), WithMaxBatch(10), WithMaxInFlight(4))
	dir := t.TempDir()
	shedPath := filepath.Join(dir, "shed.jsonl")
	// 2,000 events due 1 ms apart; each costs 5 ms: the step falls behind
	// by 4 ms an event, so all but the first ~100 ms of waiting is shed.
	s, err := query.NewBuilder("shedding").Tenant("t").LatencyTarget(time.Second).
		Generator("in", query.Generator{Rate: 1000, Duration: 2 * time.Second, Seed: 1, Keys: query.Keys{Count: 10}}).
		Process("work", func(ev query.Event, out []query.Event) ([]query.Event, error) {
			clk.Advance(5_000_000)
			return append(out, ev), nil
		}).Shed(100 * time.Millisecond).Discard().Build()
	if err != nil {
		t.Fatal(err)
	}
	edit := s.Spec()
	edit.Overload.ShedSinkPath = shedPath
	q := runToEnd(t, e, mustCompile(t, edit))
	st := q.Stats()
	shed := st.DroppedBy["shed"]
	if st.EventsRead != 2000 || st.EventsRead != st.EventsIn+st.Late+st.Dropped || shed == 0 || st.Results+shed != 2000 {
		t.Fatalf("read %d in %d late %d dropped %d (shed %d) results %d", st.EventsRead, st.EventsIn, st.Late, st.Dropped, shed, st.Results)
	}
	data, err := os.ReadFile(shedPath)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(data), "\n"); uint64(lines) != shed {
		t.Errorf("shed sink has %d lines, %d shed", lines, shed)
	}
	if !strings.Contains(st.LastDropReason, "waited more than shed_after 100ms") {
		t.Errorf("last drop reason %q", st.LastDropReason)
	}
	t.Logf("%d of 2000 shed, %d results", shed, st.Results)
}

// runToEnd submits s and waits for it to end well.
func runToEnd(t *testing.T, e *Engine, s *query.Plan) *Query {
	t.Helper()
	q, err := e.Submit(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	return q
}

// Active finds a tenant's running query by name without a scan, and the
// indexes forget queries the engine forgot (no growth with ended ones).
func TestActiveByNameAndIndexes(t *testing.T) {
	e := newEngine(t, WithWorkers(1), WithKeepEnded(0, -1))
	q, err := e.Submit(context.Background(), tenantSpec(t, "a", "one", 100))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := e.Active("a", "one"); !ok || got != q {
		t.Fatalf("Active(a, one) = %v, %v", got, ok)
	}
	if _, ok := e.Active("b", "one"); ok {
		t.Fatal("Active found tenant b's query")
	}
	if err := e.Cancel(waitCtx(t), q.ID()); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Active("a", "one"); ok {
		t.Fatal("Active found a cancelled query")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.mu.byName) != 0 || len(e.mu.byTenant) != 0 {
		t.Fatalf("indexes keep %d names, %d tenants after the query was forgotten", len(e.mu.byName), len(e.mu.byTenant))
	}
}
