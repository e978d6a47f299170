package runtime

import (
	"context"
	"testing"
	"time"
	"sync"

	"github.com/cameo-go/cameo/query"
)

func TestSmoke(t *testing.T) {
	spec, err := query.Parse("smoke.yaml", []byte(`
name: smoke
tenant: t
latency_target: 50ms
parallelism: 2
sources:
  - name: logs
    generator: {rate: 20000, duration: 2s, seed: 7, keys: {count: 10}, fields: {level: {choice: [info, error]}, v: {uniform: [1, 10]}}}
pipeline:
  - filter: 'level == "error"'
  - key_by: key
  - window: {tumbling: 500ms}
    aggregate: {n: count(), s: sum(v)}
sink: {discard: {}}
`))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []query.Event
	spec.Sink = query.Sink{Func: func(evs []query.Event) error { mu.Lock(); got = append(got, evs...); mu.Unlock(); return nil }}
	e, err := New(WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d results; stats %+v", len(got), q.Stats())
	if err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
