package runtime

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cameo-go/cameo/query"
)

func TestLoadMeterWindow(t *testing.T) {
	m := loadMeter{window: int64(10 * time.Second)}
	if l := m.load(); l.Span != 0 {
		t.Fatalf("no samples: %+v", l)
	}
	s := int64(time.Second)
	// 2 workers: 1.5 s busy per second, 0.5 s of it deferred, for 20 s.
	for i := int64(0); i <= 20; i++ {
		m.add(loadSample{at: i * s, busy: i * 3 * s / 2, deferred: i * s / 2, workers: 2})
	}
	m.add(loadSample{at: 20 * s, busy: 999 * s, workers: 2}) // the clock did not move: ignored
	l := m.load()
	if l.Span != 10*time.Second || math.Abs(l.Utilisation-0.75) > 1e-9 || math.Abs(l.Feasible-0.5) > 1e-9 || l.Workers != 2 {
		t.Errorf("load %+v, want 10 s, 0.75, 0.5", l)
	}
	// Idle since: the window slides past the busy part.
	for i := int64(21); i <= 40; i++ {
		m.add(loadSample{at: i * s, busy: 30 * s, deferred: 10 * s, workers: 2})
	}
	if l := m.load(); l.Utilisation != 0 || l.Feasible != 0 {
		t.Errorf("idle window: %+v", l)
	}
}

func TestSchedQuantile(t *testing.T) {
	buckets := []float64{0, 1e-3, 1e-2, 1e-1, math.Inf(1)}
	a := []uint64{5, 5, 5, 5}
	b := []uint64{5 + 90, 5 + 8, 5 + 2, 5} // 100 new: 90 under 1 ms, 8 under 10 ms, 2 under 100 ms
	if got := schedQuantile(buckets, a, b, 0.99); got != 100*time.Millisecond {
		t.Errorf("p99 %v, want 100ms", got)
	}
	if got := schedQuantile(buckets, a, b, 0.5); got != time.Millisecond {
		t.Errorf("p50 %v, want 1ms", got)
	}
	if got := schedQuantile(buckets, a, a, 0.99); got != 0 {
		t.Errorf("no samples: %v", got)
	}
}

// A full node refuses a strict tenant's submit with the figures and
// admits a best-effort tenant's query as best effort.
func TestAdmissionRefusesWhenFull(t *testing.T) {
	ts, err := query.ParseTenants("t.yaml", []byte("tenants:\n  be: {admission: best_effort}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, WithWorkers(2), WithTenants(ts), WithAdmission(Admission{Below: 0.8, Window: 10 * time.Second}))
	ctx := context.Background()
	// Not measured yet: admitted.
	q, err := e.Submit(ctx, tenantSpec(t, "strict", "first", 100))
	if err != nil {
		t.Fatal(err)
	}
	if q.Stats().BestEffort {
		t.Error("admitted with room, yet best effort")
	}
	// 2 workers busy 1.8 s of every second with feasible work.
	s := int64(time.Second)
	for i := int64(1); i <= 10; i++ {
		e.load.add(loadSample{at: i * s, busy: i * 18 * s / 10, workers: 2})
	}
	_, err = e.Submit(ctx, tenantSpec(t, "strict", "second", 100))
	if !errors.Is(err, ErrOverloaded) || !strings.Contains(err.Error(), "the node's workers were 90 % busy with feasible work over the last 9s (admission threshold 80 %; 2 workers") {
		t.Fatalf("full node, strict tenant: %v", err)
	}
	if info := e.LoadInfo(); info.Full == "" || info.AdmitBelow != 0.8 || info.Feasible < 0.89 {
		t.Errorf("load info %+v", info)
	}
	q, err = e.Submit(ctx, tenantSpec(t, "be", "lax", 100))
	if err != nil {
		t.Fatalf("best-effort tenant: %v", err)
	}
	if !q.Stats().BestEffort {
		t.Error("admitted while full, yet not best effort")
	}
	// Deferred work does not count: the same busy time, all deferred.
	e.load.samples = nil
	for i := int64(1); i <= 10; i++ {
		e.load.add(loadSample{at: i * s, busy: i * 18 * s / 10, deferred: i * 18 * s / 10, workers: 2})
	}
	if _, err := e.Submit(ctx, tenantSpec(t, "strict", "third", 100)); err != nil {
		t.Fatalf("busy only with deferred work: %v", err)
	}
}
