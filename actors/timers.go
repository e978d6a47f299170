package actors

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cameo-go/cameo/priority"
)

// Timers is a process's shared timer service: every query's sources (and
// anything else that acts at known times) arm one Timer each in one
// priority.TimerQueue, and whoever has a moment runs what is due: a
// Dispatcher's workers between turns (WithTimers), or the service's own
// goroutine, which sleeps until the earliest due time and then wakes an
// idle worker to run it (a timer's function run on a worker may do a
// worker's work: a source runs its first step inline, Timer.OnWorker);
// it runs what is due itself only when no dispatcher serves it, or when
// the workers ran none of it within handGrace (a woken worker that did not
// come, busy workers held in long turns). While every worker is busy and
// they run due timers between turns, the loop leaves the timers to them:
// run beside them it took a P from a worker at each of its yields, and on
// a node that had fallen behind (every source overdue) the sources got a
// third of two cores to feed a backlog. So an idle query costs nothing
// between its due times (no polling goroutine per query), a due source does
// not wait for a Go timer on a P whose thread the OS has descheduled (any
// running worker takes it at its next turn), and the sources' share of a
// busy pool is the workers' to give: up to eight timers between two turns.
//
// A timer's function runs on one goroutine at a time and must not block:
// it does its work and returns when it wants to run next.
type Timers struct {
	clock Clock
	mu    struct {
		sync.Mutex
		q       priority.TimerQueue[*Timer]
		stopped bool
		looping bool // the goroutine was started
	}
	// next is the earliest due time armed (math.MaxInt64: none), read
	// without the lock by workers deciding whether to look.
	next atomic.Int64
	kick chan struct{} // one slot: the loop's sleep may be too long now
	// sleepUntil is when the sleeping loop means to look next (0 while it
	// looks). Whoever arms a timer earlier than it kicks the loop; the loop
	// stores it before it reads next for the last time, so that one of the
	// two sees the other (loop).
	sleepUntil atomic.Int64
	maxSleep   time.Duration // defaultMaxSleep; tests make it long
	stop       chan struct{}
	done       chan struct{}

	runs, byWorkers atomic.Uint64
	lateNs, maxLate atomic.Int64
	// helpers wake an idle worker of a dispatcher serving ts to run what
	// is due (Dispatcher.handTimers): true when one was woken. The loop
	// asks them first, so that due work runs on a worker, where a source
	// may run its first step inline, rather than on the loop.
	helpers atomic.Pointer[[]func() bool]
	handed  atomic.Uint64
	// grace is how long the loop leaves what is due to the workers, woken
	// or busy, before it runs it itself (handGrace; tests change it).
	grace int64
}

// handGrace is how long the loop leaves what is due to a worker it woke,
// or to busy workers that run none of it, before it runs it itself.
const handGrace = int64(500 * time.Microsecond)

// addHelper adds a way to hand due timers to an idle worker.
func (ts *Timers) addHelper(h func() bool) {
	for {
		old := ts.helpers.Load()
		var hs []func() bool
		if old != nil {
			hs = append(hs, *old...)
		}
		hs = append(hs, h)
		if ts.helpers.CompareAndSwap(old, &hs) {
			return
		}
	}
}

// hand asks the helpers to run what is due; true when a worker was woken.
func (ts *Timers) hand() bool {
	hs := ts.helpers.Load()
	if hs == nil {
		return false
	}
	for _, h := range *hs {
		if h() {
			ts.handed.Add(1)
			return true
		}
	}
	return false
}

// Timer is one function armed in a Timers. Its methods are safe for
// concurrent use.
type Timer struct {
	ts *Timers
	fn func(now int64) (next int64)
	e  *priority.Timer[*Timer]
	// onWorker: its function is running now on a dispatcher's worker
	// (runByWorker), not on the service's goroutine or a caller's. Written
	// before the function runs, by the goroutine that runs it.
	onWorker bool
	// Under ts.mu:
	running bool  // its function is running now
	again   int64 // while running: the earliest time it was armed for since (math.MaxInt64: none)
	stopped bool
}

// Never is the time a timer function returns when it wants to run only
// when woken.
const Never int64 = math.MaxInt64

// NewTimers returns a timer service reading clock (nil: SystemClock). Its
// goroutine runs only after Start; without it, RunDue is driven by the
// caller (tests) or by workers.
func NewTimers(clock Clock) *Timers {
	if clock == nil {
		clock = SystemClock{}
	}
	ts := &Timers{clock: clock, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), maxSleep: defaultMaxSleep, grace: handGrace}
	ts.next.Store(Never)
	return ts
}

// New returns a timer running fn, not armed. fn gets the time it runs at
// and returns when it is next due: Never to wait for At or Wake, a time at
// or before now to run again as soon as possible (after what else is due).
func (ts *Timers) New(fn func(now int64) int64) *Timer {
	t := &Timer{ts: ts, fn: fn, again: Never}
	t.e = priority.NewTimer(t)
	return t
}

// At arms t for time at, or earlier if it was already armed for earlier.
// While its function runs, at is kept and honoured when the function
// returns.
func (t *Timer) At(at int64) {
	ts := t.ts
	ts.mu.Lock()
	switch {
	case t.stopped || ts.mu.stopped:
	case t.running:
		t.again = min(t.again, at)
	case !t.e.Armed() || at < t.e.At():
		ts.mu.q.Arm(t.e, at)
		ts.publishLocked()
	}
	ts.mu.Unlock()
	ts.poke(at)
}

// Wake arms t to run as soon as possible.
func (t *Timer) Wake() { t.At(t.ts.clock.Now()) }

// Stop disarms t for good; a run in progress finishes.
func (t *Timer) Stop() {
	ts := t.ts
	ts.mu.Lock()
	t.stopped = true
	ts.mu.q.Disarm(t.e)
	ts.publishLocked()
	ts.mu.Unlock()
}

// publishLocked stores the earliest due time for the lock-free readers.
func (ts *Timers) publishLocked() {
	n, ok := ts.mu.q.Next()
	if !ok {
		n = Never
	}
	if ts.next.Load() != n {
		ts.next.Store(n)
	}
}

// poke tells the loop that a timer is now due at at, in case it sleeps
// longer. Called without the lock, after at was published in next.
func (ts *Timers) poke(at int64) {
	if at < ts.sleepUntil.Load() {
		select {
		case ts.kick <- struct{}{}:
		default:
		}
	}
}

// Due reports whether a timer is due at now: one atomic load, for the
// workers' hot path.
func (ts *Timers) Due(now int64) bool { return now >= ts.next.Load() }

// RunDue runs up to max timers due at now (max <= 0: all of them), each
// with a fresh reading of the clock after the first, and returns how many
// ran. Timers armed again for a time already past run at the next call,
// after the others due.
func (ts *Timers) RunDue(now int64, max int) int { return ts.runDue(now, max, false) }

// RunDueOnWorker is RunDue as a dispatcher's worker runs it between turns:
// the functions see OnWorker true. For tests and for embedders that serve
// a Timers from workers of their own.
func (ts *Timers) RunDueOnWorker(now int64, max int) int { return ts.runDue(now, max, true) }

// OnWorker reports, from within t's function, whether it runs on one of a
// dispatcher's workers between turns (where work may be done that a
// worker would do anyway) rather than on the service's goroutine, which
// must never block nor take long.
func (t *Timer) OnWorker() bool { return t.onWorker }

func (ts *Timers) runDue(now int64, max int, worker bool) int {
	n := 0
	for max <= 0 || n < max {
		ts.mu.Lock()
		e, ok := ts.mu.q.PopDue(now)
		if !ok || ts.mu.stopped {
			ts.mu.Unlock()
			break
		}
		t := e.Value
		t.running = true
		ts.publishLocked()
		ts.mu.Unlock()
		t.onWorker = worker
		if late := now - e.At(); late > 0 {
			ts.lateNs.Add(late)
			if late > ts.maxLate.Load() {
				ts.maxLate.Store(late)
			}
		}
		next := t.fn(now)
		t.onWorker = false
		ts.mu.Lock()
		t.running = false
		next = min(next, t.again)
		t.again = Never
		armed := next != Never && !t.stopped && !ts.mu.stopped
		if armed {
			ts.mu.q.Arm(t.e, next)
			ts.publishLocked()
		}
		ts.mu.Unlock()
		if armed {
			// The loop may have gone to sleep while this ran (with nothing
			// armed, for maxSleep): a worker that runs a source's step and
			// then parks would otherwise leave its next read to that sleep.
			ts.poke(next)
		}
		n++
		now = ts.clock.Now()
	}
	ts.runs.Add(uint64(n))
	return n
}

// workersServe reports whether the workers ran a due timer within the
// grace before now: what they had run (byWorkers) moved since the loop
// last looked, or moved less than the grace ago. Only the loop calls it,
// with its own record of the two.
func (ts *Timers) workersServe(runs *uint64, seen *int64, now int64) bool {
	if n := ts.byWorkers.Load(); n != *runs {
		*runs, *seen = n, now
		return true
	}
	return now-*seen < ts.grace
}

// runByWorker is RunDue for a dispatcher's worker: a few at a time, so
// that a burst of due timers does not hold one worker from its actors.
func (ts *Timers) runByWorker(now int64) {
	if n := ts.runDue(now, timersPerTurn, true); n > 0 {
		ts.byWorkers.Add(uint64(n))
	}
}

// timersPerTurn is how many due timers a worker runs between two turns.
// A source's step reads and sends one batch (tens of µs); eight of them
// stay within a turn's quantum, and the others are left to the next
// worker free or to the loop.
const timersPerTurn = 8

// defaultMaxSleep bounds the loop's sleep, so that a clock the service
// does not drive itself (a manual clock in tests) is looked at now and
// then. Nothing due waits for it: arming a timer earlier than the loop's
// planned wake kicks the loop.
const defaultMaxSleep = 100 * time.Millisecond

// Start starts the service's goroutine; Stop ends it. A Start after Stop
// does nothing.
func (ts *Timers) Start() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.mu.stopped || ts.mu.looping {
		return
	}
	ts.mu.looping = true
	go ts.loop()
}

func (ts *Timers) loop() {
	defer close(ts.done)
	t := time.NewTimer(ts.maxSleep)
	defer t.Stop()
	handedAt := Never // the due time last left to the workers
	// What the workers had run of the timers when the loop last saw them
	// run any, and when that was.
	workerRuns, workersSeen := ^uint64(0), int64(0)
	for {
		now := ts.clock.Now()
		wait := ts.maxSleep
		next := ts.next.Load()
		switch {
		case next > now:
			// Nothing due.
		case next != handedAt && ts.hand():
			// A worker was woken to run it; look again after the grace.
			handedAt = next
			wait = time.Duration(ts.grace)
		case ts.helpers.Load() != nil && ts.workersServe(&workerRuns, &workersSeen, now):
			// No worker is idle, and the busy ones run due timers between
			// their turns, a few at a time. Running them here as well
			// would take a P from them whenever one yields: a source's
			// steps, all overdue once the node is behind, would get a
			// third of two cores and feed a backlog the workers then have
			// less time to drain (10,000 small queries on 2 workers).
			handedAt = next
			wait = time.Duration(ts.grace)
		default:
			// No dispatcher serves the timers, or its workers ran none of
			// them for the grace (stopped, or held in long turns).
			ts.RunDue(now, 0)
			handedAt = Never
		}
		if next = ts.next.Load(); next != Never && next != handedAt {
			wait = min(wait, time.Duration(next-ts.clock.Now()))
		}
		if wait > 0 {
			// Announce the sleep, then look at next once more: a timer
			// armed earlier meanwhile is either seen here or kicks.
			ts.sleepUntil.Store(priority.AddSat(ts.clock.Now(), int64(wait)))
			if next = ts.next.Load(); next != handedAt && next < ts.sleepUntil.Load() {
				wait = min(wait, time.Duration(next-ts.clock.Now()))
			}
		}
		if wait <= 0 {
			ts.sleepUntil.Store(0)
			select {
			case <-ts.stop:
				return
			default:
				continue
			}
		}
		t.Reset(wait)
		select {
		case <-ts.stop:
			return
		case <-ts.kick:
		case <-t.C:
		}
		ts.sleepUntil.Store(0)
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
	}
}

// Stop disarms every timer for good and ends the goroutine, waiting for
// it; it may be called twice.
func (ts *Timers) Stop() {
	ts.mu.Lock()
	first := !ts.mu.stopped
	ts.mu.stopped = true
	for {
		e, ok := ts.mu.q.PopDue(math.MaxInt64)
		if !ok {
			break
		}
		e.Value.stopped = true
	}
	ts.publishLocked()
	looping := ts.mu.looping
	ts.mu.Unlock()
	if first {
		close(ts.stop)
	}
	if looping {
		<-ts.done
	}
}

// TimerStats is a snapshot of a Timers' counters.
type TimerStats struct {
	Armed     int
	Runs      uint64 // timer functions run
	ByWorkers uint64 // of Runs, run by a dispatcher's workers between turns
	Handed    uint64 // times the loop woke an idle worker to run what was due
	// LateNs is the summed lateness of the runs (ns after their due time);
	// MaxLateNs the largest.
	LateNs, MaxLateNs int64
}

// Stats returns a snapshot of the counters.
func (ts *Timers) Stats() TimerStats {
	ts.mu.Lock()
	armed := ts.mu.q.Len()
	ts.mu.Unlock()
	return TimerStats{Armed: armed, Runs: ts.runs.Load(), ByWorkers: ts.byWorkers.Load(), Handed: ts.handed.Load(), LateNs: ts.lateNs.Load(), MaxLateNs: ts.maxLate.Load()}
}
