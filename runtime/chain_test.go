package runtime

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/query"
)

// TestSourceChainsItsFirstStepOnAWorker drives the shared timers by hand
// on a manual clock. A source's step run as a worker runs it (between
// turns) hands a small batch to an idle filter inline, and the filter its
// results to the sink inline: the results are out when the step returns,
// no message went through the pool, and the work is charged to the
// query's share. The same step on the timers' own goroutine (RunDue) never
// chains: it posts the batch as a message. With chaining off, every batch
// is a message.
func TestSourceChainsItsFirstStepOnAWorker(t *testing.T) {
	for _, tc := range []struct {
		name    string
		noChain bool
	}{{"chained", false}, {"off", true}} {
		t.Run(tc.name, func(t *testing.T) {
			clk := actors.NewManualClock(1e18)
			e, err := New(WithClock(clk), WithWorkers(1), WithScheduler("cameo"), func(c *Config) { c.manualTimers, c.noChain = true, tc.noChain })
			if err != nil {
				t.Fatal(err)
			}
			defer stopRunningTimers(t, e, clk)
			feed := make(chan query.Event, 1)
			var results atomic.Int64
			plan, err := query.NewBuilder("chain").
				SourceFunc("s", feedSource(feed), nil).
				Filter("x > 0").
				SinkFunc(func(rs []query.Event) error {
					clk.Advance(int64(10 * time.Microsecond)) // the work this takes (under chainWork)
					results.Add(int64(len(rs)))
					return nil
				}).Build()
			if err != nil {
				t.Fatal(err)
			}
			q, err := e.Submit(context.Background(), plan)
			if err != nil {
				t.Fatal(err)
			}
			filter := q.stages[0].insts[0]
			// step feeds one event and runs the due steps as a worker (or as
			// the timers' goroutine), until the source has read it.
			step := func(onWorker bool) {
				t.Helper()
				in := q.Stats().EventsIn
				feed <- query.Event{Key: "k", Fields: query.MakeFields(map[string]any{"x": 1})}
				for deadline := time.Now().Add(10 * time.Second); q.Stats().EventsIn == in; {
					if onWorker {
						e.timers.RunDueOnWorker(clk.Advance(int64(time.Millisecond)), 0)
					} else {
						e.timers.RunDue(clk.Advance(int64(time.Millisecond)), 0)
					}
					if time.Now().After(deadline) {
						t.Fatal("the source did not read the event")
					}
					time.Sleep(100 * time.Microsecond) // the source's reader goroutine hands it over
				}
			}
			waitResults := func(n int64) {
				t.Helper()
				for deadline := time.Now().Add(10 * time.Second); results.Load() < n; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("%d results, want %d", results.Load(), n)
					}
				}
			}
			// The first batch goes through the filter's mailbox: nothing
			// measured its cost yet.
			step(true)
			waitResults(1)
			for filter.queued.Load() != 0 {
				time.Sleep(time.Millisecond)
			}
			msgs := msgCount(e)
			served := func() int64 { s, _ := e.sched.ShareOf(q.group()); return s.ServedNs }
			before := served()
			step(true)
			if tc.noChain {
				waitResults(2)
				if got := msgCount(e); got == msgs {
					t.Fatalf("chaining off: the pool ran no message for the second event (%d)", got)
				}
				return
			}
			// Inline: the result is out as the step returns.
			if got := results.Load(); got != 2 {
				t.Fatalf("%d results as the worker's step returned, want 2 (chained)", got)
			}
			if got := msgCount(e); got != msgs {
				t.Fatalf("the pool ran %d messages for a chained event, want none", got-msgs)
			}
			if s := served(); s < before+int64(10*time.Microsecond) {
				t.Fatalf("the chained work was not charged to the query's share (served %d → %d ns)", before, s)
			}
			// On the timers' own goroutine the step posts a message.
			step(false)
			waitResults(3)
			if got := msgCount(e); got == msgs {
				t.Fatal("a step on the timers' goroutine chained its filter")
			}
		})
	}
}

// msgCount is the user messages the engine's pool ran.
func msgCount(e *Engine) uint64 {
	var n uint64
	for _, d := range e.sched.Dispatchers() {
		n += d.Stats().Messages
	}
	return n
}

// TestChainedStepBoundedByMessageWork: a chained step runs in its
// sender's message only while that message stays within MessageWork with
// the step's measured work added. The sink here takes 100 µs an event on
// a manual clock. Its first event runs inline (nothing measured yet); past
// that, with MessageWork 50 µs every batch goes to the sink's mailbox,
// with 1 ms it stays inline. Results arrive complete and in order either
// way.
func TestChainedStepBoundedByMessageWork(t *testing.T) {
	for _, tc := range []struct {
		name   string
		work   time.Duration
		inline bool
	}{{"over", 50 * time.Microsecond, false}, {"within", time.Millisecond, true}} {
		t.Run(tc.name, func(t *testing.T) {
			clk := actors.NewManualClock(1e18)
			e, err := New(WithClock(clk), WithWorkers(1), WithScheduler("cameo"), WithMessageWork(tc.work), func(c *Config) { c.manualTimers = true })
			if err != nil {
				t.Fatal(err)
			}
			defer stopRunningTimers(t, e, clk)
			feed := make(chan query.Event, 1)
			var mu sync.Mutex
			var got []string // each result's x, and whether it ran inline
			var sink *instance
			plan, err := query.NewBuilder("bounded").
				SourceFunc("s", feedSource(feed), nil).
				Filter("x > 0").
				SinkFunc(func(rs []query.Event) error {
					clk.Advance(int64(100*time.Microsecond) * int64(len(rs)))
					mu.Lock()
					defer mu.Unlock()
					for _, r := range rs {
						// chained is set while the sink runs in its sender's
						// message (this goroutine's).
						got = append(got, fmt.Sprintf("%v:%v", r.Fields.Get("x"), sink.chained))
					}
					return nil
				}).Build()
			if err != nil {
				t.Fatal(err)
			}
			q, err := e.Submit(context.Background(), plan)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			sink = q.stages[1].insts[0]
			mu.Unlock()
			results := func() int {
				mu.Lock()
				defer mu.Unlock()
				return len(got)
			}
			for x := 1; x <= 4; x++ {
				feed <- query.Event{Key: "k", Fields: query.MakeFields(map[string]any{"x": x})}
				for deadline := time.Now().Add(10 * time.Second); results() < x; time.Sleep(100 * time.Microsecond) {
					// The clock moves only until the source has read the
					// event: moved while the worker runs the filter's
					// message, it would count as that message's work.
					if q.Stats().EventsRead < uint64(x) {
						e.timers.RunDue(clk.Advance(int64(time.Millisecond)), 0)
					}
					if time.Now().After(deadline) {
						t.Fatalf("%d results, want %d", results(), x)
					}
				}
			}
			want := []string{"1:true"}
			for x := 2; x <= 4; x++ {
				want = append(want, fmt.Sprintf("%d:%v", x, tc.inline))
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(got, want) {
				t.Fatalf("results (x:inline) %v, want %v with MessageWork %v", got, want, tc.work)
			}
		})
	}
}
