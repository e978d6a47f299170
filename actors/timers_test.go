package actors

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// TestTimersRunInDueOrder drives the service by hand: timers run in the
// order they are due, each returns when it is next due, and At and Wake
// only ever make a timer earlier.
func TestTimersRunInDueOrder(t *testing.T) {
	clk := NewManualClock(1000)
	ts := NewTimers(clk)
	var trace []string
	mk := func(name string, every int64, times int) *Timer {
		n := 0
		return ts.New(func(now int64) int64 {
			trace = append(trace, name+"@"+strconv.FormatInt(now, 10))
			n++
			if n >= times {
				return Never
			}
			return now + every
		})
	}
	a, b, c := mk("a", 10, 3), mk("b", 25, 2), mk("c", 0, 1)
	a.At(1005)
	b.At(1003)
	c.At(2000)
	c.At(1500) // earlier: moved
	c.At(1900) // later than armed: kept at 1500
	if got := ts.RunDue(1002, 0); got != 0 {
		t.Fatalf("ran %d before anything was due", got)
	}
	for _, now := range []int64{1010, 1020, 1030, 1040, 1600} {
		clk.Set(now)
		ts.RunDue(now, 0)
	}
	// Each call runs what is due at the clock's reading, earliest first.
	want := []string{"b@1010", "a@1010", "a@1020", "a@1030", "b@1040", "c@1600"}
	if !slices.Equal(trace, want) {
		t.Fatalf("trace %v\nwant  %v", trace, want)
	}
	if ts.Stats().Armed != 0 {
		t.Fatalf("%d timers still armed", ts.Stats().Armed)
	}
	// Woken: runs at the next call.
	a.Wake()
	clk.Set(1601)
	if ts.RunDue(1601, 0) != 1 || trace[len(trace)-1] != "a@1601" {
		t.Fatalf("wake: trace %v", trace)
	}
	if st := ts.Stats(); st.Runs != 7 || st.MaxLateNs != 100 { // c was due at 1500, ran at 1600
		t.Fatalf("stats %+v", st)
	}
}

// TestTimerArmedWhileRunning: a timer woken while its function runs runs
// again, at the earlier of what it returned and the wake, never twice at
// once.
func TestTimerArmedWhileRunning(t *testing.T) {
	clk := NewManualClock(0)
	ts := NewTimers(clk)
	var tm *Timer
	runs := 0
	tm = ts.New(func(now int64) int64 {
		runs++
		if runs == 1 {
			tm.At(5)  // while running: kept
			tm.At(50) // later: the earlier stays
			return 100
		}
		return Never
	})
	tm.Wake()
	if n := ts.RunDue(0, 0); n != 1 {
		t.Fatalf("ran %d", n)
	}
	if next := ts.next.Load(); next != 5 {
		t.Fatalf("re-armed for %d, want 5", next)
	}
	ts.RunDue(5, 0)
	if runs != 2 || ts.Stats().Armed != 0 {
		t.Fatalf("runs %d, armed %d", runs, ts.Stats().Armed)
	}
	tm.Stop()
	tm.Wake()
	if ts.RunDue(1000, 0) != 0 {
		t.Fatal("a stopped timer ran")
	}
}

// TestTimersOneRunAtATime: many goroutines call RunDue while the timers'
// functions wake each other; a function never runs concurrently with
// itself and every wake is honoured.
func TestTimersOneRunAtATime(t *testing.T) {
	clk := NewManualClock(0)
	ts := NewTimers(clk)
	const n = 16
	timers := make([]*Timer, n)
	var inside [n]atomic.Int32
	var left atomic.Int64
	left.Store(4000)
	for i := range timers {
		timers[i] = ts.New(func(now int64) int64 {
			if inside[i].Add(1) != 1 {
				t.Errorf("timer %d runs twice at once", i)
			}
			defer inside[i].Add(-1)
			if left.Add(-1) <= 0 {
				return Never
			}
			timers[(i+1)%n].Wake()
			return now
		})
		timers[i].Wake()
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for left.Load() > 0 {
				ts.RunDue(clk.Now(), 3)
			}
		})
	}
	wg.Wait()
}

// TestTimersLoopRunsWhatIsDue: the goroutine sleeps until the earliest due
// time, and a timer armed earlier than its sleep wakes it.
func TestTimersLoopRunsWhatIsDue(t *testing.T) {
	ts := NewTimers(nil)
	ts.Start()
	defer ts.Stop()
	ran := make(chan int64, 4)
	late := ts.New(func(now int64) int64 { ran <- now; return Never })
	soon := ts.New(func(now int64) int64 { ran <- now; return Never })
	start := time.Now().UnixNano()
	late.At(start + int64(time.Hour))
	soon.At(start + int64(2*time.Millisecond)) // earlier than the loop's sleep
	select {
	case at := <-ran:
		if at < start+int64(2*time.Millisecond) {
			t.Fatalf("ran %v before it was due", time.Duration(at-start))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the due timer did not run")
	}
	if st := ts.Stats(); st.Armed != 1 {
		t.Fatalf("stats %+v", st)
	}
	ts.Stop()
	ts.Stop() // twice
	// A run counts once its function has returned: after Stop, which
	// waits for the loop, not as the function sends.
	if st := ts.Stats(); st.Runs != 1 {
		t.Fatalf("stats after Stop %+v", st)
	}
	if ts.Stats().Armed != 0 {
		t.Fatal("Stop left timers armed")
	}
	late.Wake() // after Stop: nothing
	if ts.Stats().Armed != 0 {
		t.Fatal("armed after Stop")
	}
}

// TestWorkersRunDueTimers: a dispatcher serving a Timers runs a due timer
// between turns, without the service's goroutine.
func TestWorkersRunDueTimers(t *testing.T) {
	clk := NewManualClock(1_000_000)
	ts := NewTimers(clk) // not started: only the workers run it
	d, err := NewDispatcher(WithWorkers(1), WithClock(clk), WithTimers(ts))
	if err != nil {
		t.Fatal(err)
	}
	sys := NewActorSystem(nil)
	stop := sync.OnceFunc(func() {
		sys.Shutdown()
		_ = d.Stop(context.Background())
	})
	defer stop()
	ran := make(chan int64, 1)
	tm := ts.New(func(now int64) int64 { ran <- now; return Never })
	tm.At(1_000_500)
	got := make(chan struct{}, 1)
	pid := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(string); ok {
			got <- struct{}{}
		}
	}, d.PropsOptions()...))
	clk.Set(1_001_000)
	sys.Root.Send(pid, "work")
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the actor did not run")
	}
	select {
	case at := <-ran:
		if at != 1_001_000 {
			t.Fatalf("ran at %d", at)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not run the due timer")
	}
	// The run is counted once the timer's function has returned: read the
	// counters after the workers have stopped, not as the function sends.
	stop()
	if st := ts.Stats(); st.Runs != 1 || st.ByWorkers != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestLoopHandsDueTimersToAnIdleWorker: with a dispatcher serving the
// timers and its worker idle, the timers' goroutine wakes the worker to
// run what is due instead of running it itself.
func TestLoopHandsDueTimersToAnIdleWorker(t *testing.T) {
	ts := NewTimers(nil)
	d, err := NewDispatcher(WithWorkers(1), WithTimers(ts))
	if err != nil {
		t.Fatal(err)
	}
	ts.Start()
	stop := sync.OnceFunc(func() {
		ts.Stop()
		_ = d.Stop(context.Background())
	})
	defer stop()
	ran := make(chan struct{}, 1)
	tm := ts.New(func(int64) int64 { ran <- struct{}{}; return Never })
	// Due well after the worker parked with nothing to do.
	tm.At(time.Now().UnixNano() + int64(50*time.Millisecond))
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the due timer did not run")
	}
	stop()
	if st := ts.Stats(); st.Runs != 1 || st.ByWorkers != 1 || st.Handed == 0 {
		t.Fatalf("stats %+v: want the run on the worker, handed by the loop", st)
	}
}

// TestLoopSeesATimerRearmedByAWorker: a timer that a worker ran and
// re-armed for soon is run by the loop at that time even when the loop
// had gone to sleep for long (what it saw armed then was later, or
// nothing: the timer was running). A worker that then parks leaves the
// timer to the loop; before the fix, a source's next read waited for the
// loop's longest sleep (100 ms): NEXMark q0 at 10 % load had p99 99 ms.
func TestLoopSeesATimerRearmedByAWorker(t *testing.T) {
	ts := NewTimers(nil)
	ts.maxSleep = 2 * time.Hour // without the kick, the test would wait this
	ts.Start()
	defer ts.Stop()
	ran := make(chan struct{}, 1)
	runs := 0
	tm := ts.New(func(int64) int64 {
		runs++
		if runs == 1 {
			return time.Now().UnixNano() + int64(time.Millisecond)
		}
		ran <- struct{}{}
		return Never
	})
	start := time.Now().UnixNano()
	tm.At(start + int64(time.Hour)) // the loop sleeps for an hour
	for deadline := time.Now().Add(10 * time.Second); ts.sleepUntil.Load() < start+int64(30*time.Minute); {
		if time.Now().After(deadline) {
			t.Fatal("the loop did not go to sleep until the timer")
		}
		time.Sleep(100 * time.Microsecond)
	}
	// A worker runs it now (its clock may be ahead of the timer: a worker
	// passes the time it read) and it asks to run again in 1 ms.
	if n := ts.RunDueOnWorker(start+int64(2*time.Hour), 1); n != 1 {
		t.Fatalf("ran %d timers", n)
	}
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not run the re-armed timer: it slept through it")
	}
}

// TestLoopLeavesTimersToBusyWorkers: while no worker is idle and the busy
// workers run due timers between their turns, the loop runs none itself
// (it would take a P from them); when they run none, it does, after the
// grace.
func TestLoopLeavesTimersToBusyWorkers(t *testing.T) {
	const n = 40
	// start returns a started service whose only dispatcher has no idle
	// worker, with n overdue timers counting where they ran.
	start := func(grace time.Duration) (ts *Timers, onLoop, onWorker *atomic.Int64, ran chan struct{}) {
		ts = NewTimers(nil)
		ts.grace = int64(grace)
		ts.addHelper(func() bool { return false })
		ts.Start()
		onLoop, onWorker, ran = new(atomic.Int64), new(atomic.Int64), make(chan struct{}, n)
		now := time.Now().UnixNano()
		for range n {
			var tm *Timer
			tm = ts.New(func(int64) int64 {
				if tm.OnWorker() {
					onWorker.Add(1)
				} else {
					onLoop.Add(1)
				}
				ran <- struct{}{}
				return Never
			})
			tm.At(now - int64(time.Millisecond))
		}
		return ts, onLoop, onWorker, ran
	}

	// A busy worker runs a few at each turn's end; the grace is long
	// enough that the workers never look stuck.
	armed := time.Now().UnixNano()
	ts, onLoop, onWorker, ran := start(time.Hour)
	// The loop, kicked by the arming, has looked and gone back to sleep
	// (for the grace: it leaves them to the workers), or ran them itself.
	for deadline := time.Now().Add(10 * time.Second); ts.sleepUntil.Load() < armed+int64(30*time.Minute) && onLoop.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the loop neither ran the due timers nor went to sleep")
		}
		time.Sleep(100 * time.Microsecond)
	}
	for done := 0; done < n && onLoop.Load() == 0; {
		ts.runByWorker(time.Now().UnixNano())
		for len(ran) > 0 {
			<-ran
			done++
		}
	}
	ts.Stop()
	if l, w := onLoop.Load(), onWorker.Load(); l != 0 || w != n {
		t.Fatalf("busy workers: %d ran on the loop and %d on the worker, want 0 and %d", l, w, n)
	}

	// Workers that run none (stuck in long turns, or stopped): after the
	// grace the loop runs what is due.
	ts, onLoop, _, ran = start(time.Millisecond)
	defer ts.Stop()
	deadline := time.After(10 * time.Second)
	for done := 0; done < n; done++ {
		select {
		case <-ran:
		case <-deadline:
			t.Fatalf("the loop ran %d of the %d due timers the workers left", onLoop.Load(), n)
		}
	}
	if l := onLoop.Load(); l != n {
		t.Fatalf("idle-less workers that run none: %d ran on the loop, want %d", l, n)
	}
}
