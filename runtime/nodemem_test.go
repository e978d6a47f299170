package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cameo-go/cameo/query"
)

// Over the node's memory budget, queries fail from the tenant holding the
// most for its weight, its largest first, until the node is back under the
// budget; a tenant with more weight keeps a larger query. While the node's
// queries hold its budget, a submit is refused with the reason.
func TestNodeMemoryBudget(t *testing.T) {
	tenants, err := query.ParseTenants("tenants.yaml", []byte("default: {weight: 1}\ntenants:\n  a: {weight: 1}\n  b: {weight: 4}\n"))
	if err != nil {
		t.Fatal(err)
	}
	// The watch never ticks here: the test calls checkMemory itself.
	e := newEngine(t, WithUnpacedSources(), WithTenants(tenants), WithMaxBatch(256), func(c *Config) { c.MemoryCheck = time.Minute })
	// Each query's source emits one event per key, then waits: its
	// window holds a group per key for the hour.
	submit := func(name, tenant string, keys int) *Query {
		t.Helper()
		spec, err := query.NewBuilder(name).Tenant(tenant).LatencyTarget(time.Second).
			SourceFunc("s", func(ctx context.Context, emit func(query.Event) error) error {
				for i := range keys {
					if err := emit(query.Event{Fields: query.MakeFields(map[string]any{"k": fmt.Sprint(i)})}); err != nil {
						return err
					}
				}
				<-ctx.Done()
				return nil
			}, nil).
			KeyBy("k").Tumbling(time.Hour, query.Count("n")).Discard().Build()
		if err != nil {
			t.Fatal(err)
		}
		q, err := e.Submit(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	a1, a2, b1 := submit("a1", "a", 8000), submit("a2", "a", 2000), submit("b1", "b", 12000)
	settled := func(q *Query, keys int64) bool {
		return q.stateBytes.Load() > 0 && q.metrics.Stats().Operators[1].EventsIn == keys && q.inflight.Load() == 0
	}
	deadline := time.Now().Add(20 * time.Second)
	for !settled(a1, 8000) || !settled(a2, 2000) || !settled(b1, 12000) {
		if time.Now().After(deadline) {
			t.Fatal("the sources did not finish")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ma1, ma2, mb1 := a1.memoryBytes(), a2.memoryBytes(), b1.memoryBytes()
	if !(mb1 > ma1 && ma1 > ma2 && ma2 > 0) {
		t.Fatalf("estimates a1 %d, a2 %d, b1 %d: want b1 > a1 > a2 > 0 for this test", ma1, ma2, mb1)
	}
	// Over by less than a1: a1 alone goes, though b1 is the largest query:
	// a holds a1+a2 for weight 1, b holds b1 for weight 4.
	e.cfg.NodeMemory = ma1 + ma2 + mb1 - ma1/2
	e.checkMemory()
	if err := a1.Wait(waitCtx(t)); err == nil || !strings.Contains(err.Error(), `node memory budget`) || !strings.Contains(err.Error(), `tenant "a" held the most for its weight`) {
		t.Fatalf("a1 ended with %v, want the node memory budget naming tenant a", err)
	}
	for _, q := range []*Query{a2, b1} {
		if q.State() != StateRunning {
			t.Fatalf("%s is %s, want running: the node was back under its budget", q.spec.Name, q.State())
		}
	}
	if held, budget := e.NodeMemory(); held != ma2+mb1 || budget != e.cfg.NodeMemory {
		t.Fatalf("NodeMemory %d of %d, want %d of %d", held, budget, ma2+mb1, e.cfg.NodeMemory)
	}
	// The node at its budget refuses a new query, with the figures.
	e.cfg.NodeMemory = ma2 + mb1
	_, err = e.Submit(context.Background(), mustParse(t, endless))
	if !errors.Is(err, ErrOverloaded) || !strings.Contains(err.Error(), "memory budget") {
		t.Fatalf("submit at the budget: %v, want ErrOverloaded naming the memory budget", err)
	}
	// Under it again (b1 cancelled), the node admits.
	if err := b1.Cancel(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	e.checkMemory()
	q, err := e.Submit(context.Background(), mustParse(t, endless))
	if err != nil {
		t.Fatalf("submit under the budget: %v", err)
	}
	_ = q.Cancel(waitCtx(t))
}

// The default node budget is three quarters of what the machine (or the
// cgroup) gives the process.
func TestDefaultNodeMemory(t *testing.T) {
	m := systemMemory()
	if m <= 0 {
		t.Skip("no /proc/meminfo here")
	}
	if got := DefaultNodeMemory(); got != int64(float64(m)*nodeMemoryShare) {
		t.Fatalf("DefaultNodeMemory %d, want 3/4 of %d", got, m)
	}
	if got := newEngine(t).Config().NodeMemory; got != DefaultNodeMemory() {
		t.Fatalf("Config.NodeMemory %d, want the default %d", got, DefaultNodeMemory())
	}
}
