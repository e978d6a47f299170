package actors

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/cameo-go/cameo/actors/actorspb"
	"github.com/cameo-go/cameo/priority"
)

// bound is how long a test waits for work that should take microseconds
// before it fails; it never sleeps for it.
const bound = 10 * time.Second

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(bound):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func msg(name string, global, local int64) *actorspb.Envelope {
	e := NewEnvelope(priority.PriorityContext{QueryID: name, Global: global, Local: local})
	e.Sender = name
	return e
}

// recorder is an actor that appends the names of the envelopes it runs.
type recorder struct {
	name string
	log  *tlog
}

type tlog struct {
	mu   sync.Mutex
	rows []string
	n    int
	done chan struct{}
}

func newLog(n int) *tlog { return &tlog{n: n, done: make(chan struct{})} }

func (l *tlog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rows = append(l.rows, s)
	if len(l.rows) == l.n {
		close(l.done)
	}
}

func (l *tlog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.rows, " ")
}

func (r *recorder) Receive(c actor.Context) {
	if e, ok := c.Message().(*actorspb.Envelope); ok {
		r.log.add(fmt.Sprintf("%s%d", r.name, e.GetContext().GetGlobalPriority()))
	}
}

// gate is an actor whose first message holds the worker until released.
type gate struct{ entered, release chan struct{} }

func (g *gate) Receive(c actor.Context) {
	if _, ok := c.Message().(*actorspb.Envelope); ok {
		close(g.entered)
		<-g.release
	}
}

type fixture struct {
	t    *testing.T
	sys  *actor.ActorSystem
	d    *Dispatcher
	g    *gate
	gp   *actor.PID
	base Stats // taken while the gate holds the worker
}

// since returns the counters accumulated after the gate took the worker
// (the gate's own turn, already counted as begun, ends in it).
func (f *fixture) since() Stats {
	now := f.d.Stats()
	d := Stats{Messages: now.Messages - f.base.Messages, Turns: now.Turns - f.base.Turns, Yields: map[string]uint64{}}
	for k, v := range now.Yields {
		if v -= f.base.Yields[k]; v > 0 {
			d.Yields[k] = v
		}
	}
	return d
}

// newFixture starts a one-worker dispatcher and occupies its worker with a
// gate, so that everything posted before release is ordered by the run
// queue alone.
func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	d, err := NewDispatcher(append([]Option{WithWorkers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, sys: NewActorSystem(nil), d: d, g: &gate{entered: make(chan struct{}), release: make(chan struct{})}}
	f.gp = f.spawn(func() actor.Actor { return f.g })
	f.sys.Root.Send(f.gp, msg("gate", -1<<60, 0))
	wait(t, f.g.entered, "the gate to hold the worker")
	f.base = d.Stats()
	t.Cleanup(func() {
		f.sys.Shutdown()
		if err := d.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return f
}

func (f *fixture) spawn(p actor.Producer) *actor.PID {
	return f.sys.Root.Spawn(actor.PropsFromProducer(p, f.d.PropsOptions()...))
}

func (f *fixture) recorder(name string, l *tlog) *actor.PID {
	return f.spawn(func() actor.Actor { return &recorder{name: name, log: l} })
}

func TestDispatcherOrdersActorsByMostUrgentMessage(t *testing.T) {
	f := newFixture(t)
	l := newLog(6)
	a, b, c := f.recorder("a", l), f.recorder("b", l), f.recorder("c", l)
	f.sys.Root.Send(a, msg("a", 50, 0))
	f.sys.Root.Send(b, msg("b", 30, 0))
	f.sys.Root.Send(c, msg("c", 40, 0))
	f.sys.Root.Send(a, msg("a", 10, 0)) // re-keys a ahead of everyone: a50 runs with it (actor order is local, then arrival)
	f.sys.Root.Send(b, msg("b", 60, 0))
	f.sys.Root.Send(c, msg("c", 35, 0))
	close(f.g.release)
	wait(t, l.done, "six messages")
	// a (key 10) runs a50 then a10; then b (30) runs b30 and continues while
	// b60 ≤ head? c's key is 35: b yields; c runs 40, 35; b60.
	if got, want := l.String(), "a50 a10 b30 c40 c35 b60"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	// After the gate's turn (which ends empty, with its one message):
	// a, b and c each taken from the system lane for Started, each yielding
	// to the next system entry or to a's key (preempted ×3); a (empty); b
	// (preempted by c); c (empty); b (empty).
	st := f.since()
	if st.Messages != 7 || st.Turns != 7 || st.Yields["preempted"] != 4 || st.Yields["empty"] != 4 {
		t.Errorf("stats since the gate %+v", st)
	}
}

func TestDispatcherWindowBoundaryAndLocalOrder(t *testing.T) {
	f := newFixture(t)
	l := newLog(4)
	a, b := f.recorder("a", l), f.recorder("b", l)
	f.sys.Root.Send(a, msg("a", 20, 1)) // window 1
	f.sys.Root.Send(a, msg("a", 10, 0)) // window 0 runs first inside a
	f.sys.Root.Send(a, msg("a", 21, 1))
	f.sys.Root.Send(b, msg("b", 90, 0))
	close(f.g.release)
	wait(t, l.done, "four messages")
	// a yields at the boundary between windows 0 and 1 even though it is
	// still more urgent than b; it then gets the worker back.
	if got, want := l.String(), "a10 a20 a21 b90"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	if y := f.since().Yields["boundary"]; y != 1 {
		t.Errorf("boundary yields %d, want 1", y)
	}
}

func TestDispatcherFIFOOrderIgnoresContexts(t *testing.T) {
	f := newFixture(t, WithOrder(OrderFIFO))
	l := newLog(5)
	a, b := f.recorder("a", l), f.recorder("b", l)
	f.sys.Root.Send(a, msg("a", 50, 0))
	f.sys.Root.Send(b, msg("b", 10, 0))
	f.sys.Root.Send(a, msg("a", 5, 0))
	f.sys.Root.Send(b, msg("b", 1, 0))
	f.sys.Root.Send(a, &actor.MessageEnvelope{Message: msg("a", 0, 0)}) // wrapped: still FIFO
	close(f.g.release)
	wait(t, l.done, "five messages")
	if got, want := l.String(), "a50 b10 a5 b1 a0"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
}

func TestMailboxReadsContextThroughMessageEnvelope(t *testing.T) {
	f := newFixture(t)
	l := newLog(2)
	a, b := f.recorder("a", l), f.recorder("b", l)
	f.sys.Root.Send(a, msg("a", 50, 0))
	f.sys.Root.Send(b, &actor.MessageEnvelope{Message: msg("b", 10, 0), Header: map[string]string{"k": "v"}})
	close(f.g.release)
	wait(t, l.done, "two messages")
	if got, want := l.String(), "b10 a50"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
}

func TestQuantumAndMaxMessagesEndTurns(t *testing.T) {
	clk := NewManualClock(0)
	turn := priority.TurnConfig{Quantum: 100, MaxMessages: 3}
	f := newFixture(t, WithTurn(turn), WithClock(clk))
	l := newLog(7)
	a := f.spawn(func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			if e, ok := c.Message().(*actorspb.Envelope); ok {
				l.add(fmt.Sprintf("a%d", e.GetContext().GetGlobalPriority()))
				clk.Advance(60) // each of a's messages "takes" 60 ns of clock
			}
		})
	})
	b := f.recorder("b", l)
	for _, k := range []int64{1, 2, 3} {
		f.sys.Root.Send(a, msg("a", k, 0))
	}
	for _, k := range []int64{100, 101, 102, 103} {
		f.sys.Root.Send(b, msg("b", k, 0))
	}
	close(f.g.release)
	wait(t, l.done, "seven messages")
	// a runs 1 and 2; at 120 ≥ quantum 100 its turn ends; still the most
	// urgent, it runs 3. b takes no clock and runs 100, 101, 102 until
	// MaxMessages ends its turn, then 103.
	if got, want := l.String(), "a1 a2 a3 b100 b101 b102 b103"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	if y := f.since().Yields; y["quantum"] != 1 || y["max-messages"] != 1 {
		t.Errorf("yields %v, want one quantum and one max-messages", y)
	}
}

func TestSystemMessagesBypassUserOrder(t *testing.T) {
	f := newFixture(t)
	l := newLog(1)
	var userRuns atomic.Int32
	stopped := make(chan struct{})
	b := f.spawn(func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			switch c.Message().(type) {
			case *actorspb.Envelope:
				userRuns.Add(1)
			case *actor.Stopped:
				close(stopped)
			}
		})
	})
	a := f.recorder("a", l)
	for i := range 5 {
		f.sys.Root.Send(b, msg("b", int64(i), 0)) // more urgent than a
	}
	f.sys.Root.Send(a, msg("a", 1000, 0))
	f.sys.Root.Stop(b) // a system message
	close(f.g.release)
	wait(t, stopped, "b to stop")
	wait(t, l.done, "a's message")
	if n := userRuns.Load(); n != 0 {
		t.Errorf("b ran %d user messages before its stop", n)
	}
}

// A panic in one message is escalated to supervision (the default strategy
// restarts the actor); the actor's other messages are kept and run.
func TestPanicEscalatesWithoutLosingMessages(t *testing.T) {
	f := newFixture(t)
	l := newLog(4)
	var starts atomic.Int32
	a := f.spawn(func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			switch m := c.Message().(type) {
			case *actor.Started:
				starts.Add(1)
			case *actorspb.Envelope:
				if m.GetContext().GetGlobalPriority() == 2 {
					panic("boom")
				}
				l.add(fmt.Sprintf("a%d", m.GetContext().GetGlobalPriority()))
			}
		})
	})
	for _, k := range []int64{1, 2, 3, 4, 5} {
		f.sys.Root.Send(a, msg("a", k, 0))
	}
	close(f.g.release)
	wait(t, l.done, "the messages after the panic")
	if got, want := l.String(), "a1 a3 a4 a5"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	if n := starts.Load(); n != 2 {
		t.Errorf("actor started %d times, want 2 (one restart)", n)
	}
}

// protoactor's default mailbox on our dispatcher runs through Schedule.
func TestDefaultMailboxOnDispatcher(t *testing.T) {
	d, err := NewDispatcher(WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop(context.Background())
	sys := NewActorSystem(nil)
	defer sys.Shutdown()
	l := newLog(3)
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{name: "x", log: l} }, actor.WithDispatcher(d)))
	for i := range 3 {
		sys.Root.Send(pid, msg("x", int64(i), 0))
	}
	wait(t, l.done, "three messages")
	if got := l.String(); got != "x0 x1 x2" {
		t.Errorf("order %q", got)
	}
	if d.Stats().Funcs == 0 {
		t.Error("no function ran through Schedule")
	}
}

// On protoactor's synchronized dispatcher the deadline mailbox runs the
// actor inline, which makes operator tests deterministic.
func TestMailboxOnSynchronizedDispatcher(t *testing.T) {
	sys := NewActorSystem(nil)
	defer sys.Shutdown()
	l := newLog(3)
	props := actor.PropsFromProducer(func() actor.Actor { return &recorder{name: "s", log: l} },
		actor.WithMailbox(NewMailbox()), actor.WithDispatcher(actor.NewSynchronizedDispatcher(10)))
	pid := sys.Root.Spawn(props)
	for i := range 3 {
		sys.Root.Send(pid, msg("s", int64(i), 0))
		if got := len(strings.Fields(l.String())); got != i+1 {
			t.Fatalf("after send %d the actor ran %d messages, want it inline", i, got)
		}
	}
}

// Many senders and actors with random priorities: every message runs once,
// and no actor ever runs two messages at the same time.
func TestDispatcherStress(t *testing.T) {
	d, err := NewDispatcher(WithWorkers(4), WithTurn(priority.TurnConfig{MaxMessages: 3, YieldAtBoundary: true}))
	if err != nil {
		t.Fatal(err)
	}
	sys := NewActorSystem(nil)
	const actors, senders, per = 16, 4, 500
	var seen [actors][]int64
	var inside [actors]atomic.Int32
	var total atomic.Int32
	done := make(chan struct{})
	pids := make([]*actor.PID, actors)
	for i := range pids {
		pids[i] = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				e, ok := c.Message().(*actorspb.Envelope)
				if !ok {
					return
				}
				if inside[i].Add(1) != 1 {
					t.Errorf("actor %d runs two messages at once", i)
				}
				seen[i] = append(seen[i], e.GetEvents()[0].GetArrivalNs())
				inside[i].Add(-1)
				if total.Add(1) == senders*per {
					close(done)
				}
			})
		}, d.PropsOptions()...))
	}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(s), 9))
			for i := range per {
				to := r.IntN(actors)
				e := msg("q", r.Int64N(1000), r.Int64N(3))
				e.Events = []*actorspb.Event{{ArrivalNs: int64(s*per + i)}}
				sys.Root.Send(pids[to], e)
			}
		})
	}
	wg.Wait()
	wait(t, done, "all messages")
	sys.Shutdown()
	if err := d.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	var all []int64
	for i := range seen {
		all = append(all, seen[i]...)
	}
	slices.Sort(all)
	for i, v := range all {
		if v != int64(i) {
			t.Fatalf("message %d ran %s", i, map[bool]string{true: "twice", false: "never"}[v < int64(i)])
		}
	}
}

func TestDispatcherStopIsIdempotentAndLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t)
	d, err := NewDispatcher(WithWorkers(3))
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	d.Schedule(func() { close(ran) })
	wait(t, ran, "a scheduled function")
	for range 2 {
		if err := d.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDispatcherStopHonoursContext(t *testing.T) {
	d, err := NewDispatcher(WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	entered := make(chan struct{})
	d.Schedule(func() { close(entered); <-release })
	wait(t, entered, "the blocking function")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Stop(ctx); !errors.Is(err, ErrStopTimeout) {
		t.Errorf("Stop with a done context = %v, want ErrStopTimeout", err)
	}
	close(release)
	if err := d.Stop(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, opts := range [][]Option{
		{WithWorkers(-1)},
		{WithTurn(priority.TurnConfig{Quantum: -5})},
		{WithSpin(time.Second)},
		{WithSpinShare(-0.5)},
		{WithSpinShare(2)},
	} {
		if _, err := NewDispatcher(opts...); !errors.Is(err, ErrBadConfig) && !errors.Is(err, priority.ErrBadConfig) {
			t.Errorf("%v: err = %v", opts, err)
		}
	}
}

// Stop reports user messages it leaves behind.
func TestStopCountsAbandonedMessages(t *testing.T) {
	d, err := NewDispatcher(WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	sys := NewActorSystem(nil)
	defer sys.Shutdown()
	release, entered := make(chan struct{}), make(chan struct{})
	g := &gate{entered: entered, release: release}
	gp := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return g }, d.PropsOptions()...))
	sys.Root.Send(gp, msg("gate", 0, 0))
	wait(t, entered, "the gate")
	l := newLog(100)
	a := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &recorder{name: "a", log: l} }, d.PropsOptions()...))
	for i := range 3 {
		sys.Root.Send(a, msg("a", int64(i), 0))
	}
	// The first Stop marks the dispatcher stopped and gives up waiting for
	// the gate; once the gate is released the worker exits after its turn.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Stop(ctx); !errors.Is(err, ErrStopTimeout) {
		t.Fatalf("first Stop = %v", err)
	}
	close(release)
	err2 := d.Stop(context.Background())
	if !errors.Is(err2, ErrAbandoned) || !strings.Contains(err2.Error(), "3 messages of 1 actors") {
		t.Errorf("Stop = %v, want 3 abandoned messages of 1 actor", err2)
	}
}

// TestSpinningWorkersLoseNoWakeup plays ping-pong: each sender posts one
// message and waits for it to run before the next, three senders on two
// workers, then one alone, so the pool goes idle for microseconds between
// posts and its workers spin (Config.Spin) instead of parking. A post claims a spinner instead of signalling a
// parked worker; were a claimed spinner to park, or a second post to
// count on the same spinner, a sender would wait forever. Every round
// completes, spinning caught work, and with spinning off no worker spins.
// A spin that earned no time from work (SpinShare) never starts: the
// spun time stays within the share of the busy time.
func TestSpinningWorkersLoseNoWakeup(t *testing.T) {
	for _, tc := range []struct {
		name string
		spin time.Duration
	}{{"spin", maxSpin}, {"off", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			// SpinShare 1: a worker may spin as long as it worked, 20 µs a
			// message here.
			d, err := NewDispatcher(WithWorkers(2), WithSpin(tc.spin), WithSpinShare(1))
			if err != nil {
				t.Fatal(err)
			}
			sys := NewActorSystem(nil)
			const senders, rounds, alone = 3, 1000, 2000
			pids := make([]*actor.PID, senders)
			rans := make([]chan struct{}, senders)
			for s := range senders {
				ran := make(chan struct{}, 1)
				rans[s] = ran
				pids[s] = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
					return actor.ReceiveFunc(func(c actor.Context) {
						if _, ok := c.Message().(*actorspb.Envelope); ok {
							for start := time.Now(); time.Since(start) < 20*time.Microsecond; {
							}
							ran <- struct{}{}
						}
					})
				}, d.PropsOptions()...))
			}
			pingPong := func(s, rounds int) {
				for i := range rounds {
					sys.Root.Send(pids[s], msg("q", int64(i), 0))
					select {
					case <-rans[s]:
					case <-time.After(bound):
						t.Errorf("sender %d: round %d's message never ran", s, i)
						return
					}
				}
			}
			// More senders than workers: posts race with workers going
			// idle, claims and wakeups interleave.
			var wg sync.WaitGroup
			for s := range senders {
				wg.Go(func() { pingPong(s, rounds) })
			}
			wg.Wait()
			// One sender: every message leaves both workers idle until the
			// next, a short idle spell each time, which is where spinning
			// must catch work (with three senders the workers may find work
			// waiting every time and never go idle).
			pingPong(0, alone)
			sys.Shutdown()
			if err := d.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			st := d.Stats()
			if st.Messages != senders*rounds+alone {
				t.Fatalf("%d messages ran, want %d", st.Messages, senders*rounds+alone)
			}
			switch {
			case tc.spin > 0 && st.SpinHits == 0:
				t.Fatalf("no spin caught work (%d spins, %d parks)", st.Spins, st.Parks)
			case tc.spin < 0 && (st.Spins != 0 || st.SpinNs != 0):
				t.Fatalf("spinning off, yet %d spins (%d ns)", st.Spins, st.SpinNs)
			case st.SpinNs > st.BusyNs+int64(2*senders*maxSpin):
				// Each worker may overrun its bank by one spin's last round.
				t.Fatalf("spun %v, more than the %v busy time allows at share 1", time.Duration(st.SpinNs), time.Duration(st.BusyNs))
			}
		})
	}
}
