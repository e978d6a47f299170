package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/query"
)

// TestIdleSourceCostsNothing drives the shared timers by hand on a manual
// clock: a processing-time source whose input is quiet keeps its
// watermark moving only while its window may still close (its state
// span), then runs no step at all until its input has something; an event
// then fires its window as before.
func TestIdleSourceCostsNothing(t *testing.T) {
	clk := actors.NewManualClock(1e18)
	// The test runs the timers itself: no other goroutine runs a step.
	e, err := New(WithClock(clk), WithWorkers(1), WithSourceTick(time.Millisecond), func(c *Config) { c.manualTimers = true })
	if err != nil {
		t.Fatal(err)
	}
	defer stopRunningTimers(t, e, clk)
	feed := make(chan query.Event)
	results := make(chan query.Event, 16)
	plan, err := query.NewBuilder("idle").
		SourceFunc("s", feedSource(feed), nil).
		KeyBy("key").
		Tumbling(100*time.Millisecond, query.Aggregate{Name: "n", Func: "count"}).
		SinkFunc(func(rs []query.Event) error {
			for _, r := range rs {
				results <- r
			}
			return nil
		}).Build()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Submit(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	// runs advances the clock ms by ms for d, running what is due, and
	// returns how many timer runs that took.
	runs := func(d time.Duration) uint64 {
		before := e.timers.Stats().Runs
		for range int(d / time.Millisecond) {
			e.timers.RunDue(clk.Advance(int64(time.Millisecond)), 0)
		}
		return e.timers.Stats().Runs - before
	}
	// Its span is the window (100 ms) and two ticks: about 102 steps.
	if n := runs(200 * time.Millisecond); n < 50 || n > 110 {
		t.Fatalf("%d steps in the first 200 ms, want about 102", n)
	}
	if n := runs(10 * time.Second); n != 0 {
		t.Fatalf("%d steps in 10 s of a quiet input, want none", n)
	}
	feed <- query.Event{Key: "k", Fields: query.MakeFields(map[string]any{"x": 1})}
	deadline := time.Now().Add(10 * time.Second)
	var got query.Event
wait:
	for {
		runs(time.Millisecond)
		select {
		case got = <-results:
			break wait
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the window over the event did not fire")
		}
		time.Sleep(time.Millisecond) // the worker runs the messages the steps sent
	}
	if got.Fields.Get("n") != int64(1) && got.Fields.Get("n") != 1 {
		t.Fatalf("result %v", got.Fields)
	}
	runs(200 * time.Millisecond) // the rest of its span after the event
	if n := runs(10 * time.Second); n != 0 {
		t.Fatalf("%d steps in 10 s after the window fired, want none", n)
	}
}

// feedSource is a source function that emits what feed carries until its
// query stops it.
func feedSource(feed <-chan query.Event) func(context.Context, func(query.Event) error) error {
	return func(ctx context.Context, emit func(query.Event) error) error {
		for {
			select {
			case ev := <-feed:
				if err := emit(ev); err != nil {
					return err
				}
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// stopRunningTimers stops e on a manual clock with manual timers: Stop
// waits for the sources to end, so it runs their due steps meanwhile.
func stopRunningTimers(t *testing.T, e *Engine, clk *actors.ManualClock) {
	t.Helper()
	stopped := make(chan error, 1)
	go func() { stopped <- e.Stop(waitCtx(t)) }()
	for {
		e.timers.RunDue(clk.Now(), 0)
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("stop: %v", err)
			}
			return
		case <-time.After(time.Millisecond):
		}
	}
}
