package runtime

import (
	"context"
	"sync/atomic"
	"testing"
)

// The in-flight bound holds between stages: with parallelism 8 and two
// shuffles, one source batch can become 8³ = 512 messages (its watermark
// goes to every instance, and on through each shuffle), and the messages
// queued or running stay under the bound instead of growing to the bound
// times that (5,900–9,600 at this bound before it held between stages).
// Counted independently of the engine's own count, by a hook on every
// local send and every message handled.
func TestInFlightBoundHoldsBetweenStages(t *testing.T) {
	var now, peak atomic.Int64
	testHookMessages = func(d int64) {
		n := now.Add(d)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
	}
	t.Cleanup(func() { testHookMessages = nil })
	const bound = 1024
	e := newEngine(t, WithUnpacedSources(), WithWorkers(2), WithMaxInFlight(bound), WithMaxBatch(64), WithMessageWork(-1))
	q, err := e.Submit(context.Background(), mustParse(t, `
name: shuffles
latency_target: 1s
parallelism: 8
sources: [{name: s, generator: {rate: 1000000, duration: 100ms, seed: 1, keys: {count: 1000}}}]
pipeline:
  - key_by: key
  - filter: 'true'
  - key_by: key
  - filter: 'true'
  - window: {tumbling: 1h}
    aggregate: {n: count()}
sink: {discard: {}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	st := q.Stats()
	if st.EventsIn != 100_000 {
		t.Fatalf("%d events in, want 100,000", st.EventsIn)
	}
	// A message a worker runs has passed its weight on to the messages it
	// sent: each worker may hold one more.
	if p := peak.Load(); p > bound+2 {
		t.Errorf("peak %d messages in flight, over the bound %d and the two workers' running messages", p, bound)
	} else {
		t.Logf("peak %d messages in flight (bound %d)", p, bound)
	}
	if n := q.inflight.Load(); n != 0 {
		t.Errorf("in-flight count %d after the query ended, want 0", n)
	}
	if n := q.backlogEvents.Load(); n != 0 {
		t.Errorf("queued events %d after the query ended, want 0", n)
	}
}
