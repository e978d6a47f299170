package actors

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/actors/actorspb"
	"github.com/cameo-go/cameo/priority"
)

// benchSchedulers are compared in the same run: unmodified protoactor-go,
// the worker pool in global FIFO order, and the deadline dispatcher.
var benchSchedulers = []string{SchedulerProtoactor, SchedulerFIFO, SchedulerCameo}

func newBenchScheduler(b *testing.B, name string) (*Scheduler, *actor.ActorSystem) {
	b.Helper()
	s, err := NewScheduler(name)
	if err != nil {
		b.Fatal(err)
	}
	sys := NewActorSystem(nil)
	b.Cleanup(func() {
		sys.Shutdown()
		if err := s.Stop(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return s, sys
}

func spawnOn(b *testing.B, s *Scheduler, sys *actor.ActorSystem, f actor.ReceiveFunc) *actor.PID {
	b.Helper()
	opts, err := s.PropsOptions(Group{Query: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return sys.Root.Spawn(actor.PropsFromFunc(f, opts...))
}

func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

func envAt(global int64) *actorspb.Envelope {
	return &actorspb.Envelope{Context: &actorspb.SchedulingContext{GlobalPriority: global}}
}

// BenchmarkProbeBehindBusyActors: a probe actor with a tight deadline
// competes with busy actors that each always have one 20 µs message pending
// with a lax deadline. The probe's wait (send to start of its handler) is
// reported as p50/p99/max in µs from the moment it was posted (the
// dispatcher's queueing), and as due-p99/due-max from the time it was due
// (adding the time the sending goroutine needed to get a P); each b.N
// iteration is one probe.
func BenchmarkProbeBehindBusyActors(b *testing.B) {
	const service = 20 * time.Microsecond
	for _, busy := range []int{8, 32} {
		for _, name := range benchSchedulers {
			b.Run(fmt.Sprintf("busy=%d/sched=%s", busy, name), func(b *testing.B) {
				s, sys := newBenchScheduler(b, name)
				var stop atomic.Bool
				var running sync.WaitGroup
				lax := time.Hour.Nanoseconds()
				busyPIDs := make([]*actor.PID, busy)
				for i := range busyPIDs {
					running.Add(1)
					busyPIDs[i] = spawnOn(b, s, sys, func(c actor.Context) {
						if _, ok := c.Message().(*actorspb.Envelope); !ok {
							return
						}
						spin(service)
						if stop.Load() {
							running.Done()
							return
						}
						c.Send(c.Self(), envAt(time.Now().UnixNano()+lax))
					})
				}
				hist := hdrhistogram.New(1, time.Second.Nanoseconds(), 3)    // from post
				histDue := hdrhistogram.New(1, time.Second.Nanoseconds(), 3) // from due
				done := make(chan struct{}, 1)
				probe := spawnOn(b, s, sys, func(c actor.Context) {
					if e, ok := c.Message().(*actorspb.Envelope); ok {
						now, ev := time.Now().UnixNano(), e.GetEvents()[0]
						_ = hist.RecordValue(now - ev.GetEventTimeNs())
						_ = histDue.RecordValue(now - ev.GetArrivalNs())
						done <- struct{}{}
					}
				})
				for _, pid := range busyPIDs {
					sys.Root.Send(pid, envAt(time.Now().UnixNano()+lax))
				}
				// Probes are due at random gaps of 50–250 µs; each is stamped
				// with the time it was due, so the wait includes the time the
				// sending goroutine needed to get a P at all.
				rng := rand.New(rand.NewPCG(1, 2))
				b.ResetTimer()
				due := time.Now().UnixNano()
				for range b.N {
					due += 50_000 + rng.Int64N(200_000)
					if d := due - time.Now().UnixNano(); d > 0 {
						time.Sleep(time.Duration(d))
					}
					e := envAt(due + time.Millisecond.Nanoseconds())
					e.Events = []*actorspb.Event{{ArrivalNs: due, EventTimeNs: time.Now().UnixNano()}}
					sys.Root.Send(probe, e)
					<-done
					due = max(due, time.Now().UnixNano())
				}
				b.StopTimer()
				stop.Store(true)
				running.Wait()
				b.ReportMetric(float64(hist.ValueAtQuantile(50))/1e3, "p50-µs")
				b.ReportMetric(float64(hist.ValueAtQuantile(99))/1e3, "p99-µs")
				b.ReportMetric(float64(hist.Max())/1e3, "max-µs")
				b.ReportMetric(float64(histDue.ValueAtQuantile(99))/1e3, "due-p99-µs")
				b.ReportMetric(float64(histDue.Max())/1e3, "due-max-µs")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// BenchmarkIdleHop: two actors play ping-pong on an otherwise idle system;
// ns/op is one hop (a send and the start of its handler).
func BenchmarkIdleHop(b *testing.B) {
	for _, name := range benchSchedulers {
		b.Run("sched="+name, func(b *testing.B) {
			s, sys := newBenchScheduler(b, name)
			done := make(chan struct{})
			var left atomic.Int64
			var ping, pong *actor.PID
			bounce := func(to **actor.PID) actor.ReceiveFunc {
				return func(c actor.Context) {
					e, ok := c.Message().(*actorspb.Envelope)
					if !ok {
						return
					}
					if left.Add(-1) <= 0 {
						close(done)
						return
					}
					c.Send(*to, e)
				}
			}
			ping = spawnOn(b, s, sys, bounce(&pong))
			pong = spawnOn(b, s, sys, bounce(&ping))
			left.Store(int64(b.N))
			b.ResetTimer()
			sys.Root.Send(ping, envAt(0))
			<-done
		})
	}
}

// BenchmarkFanIn: four sender goroutines post to one actor; ns/op is per
// message delivered and run. The backlog grows to b.N messages, so ns/op
// is mostly the growth and collection of that backlog.
func BenchmarkFanIn(b *testing.B) { benchFanIn(b, 0) }

// BenchmarkFanInBounded is BenchmarkFanIn with at most 1,024 messages
// posted and not yet run, as the engine bounds a query's messages
// (Config.MaxInFlight): senders wait for the actor. It is the mailbox's and
// dispatcher's cost per message with four senders contending.
func BenchmarkFanInBounded(b *testing.B) { benchFanIn(b, 1024) }

// benchFanIn runs four senders into one actor under every scheduler, with
// at most inFlight messages posted and not yet run (0: no bound).
func benchFanIn(b *testing.B, inFlight int) {
	const senders = 4
	for _, name := range benchSchedulers {
		b.Run("senders=4/sched="+name, func(b *testing.B) {
			s, sys := newBenchScheduler(b, name)
			done := make(chan struct{})
			var slots chan struct{}
			if inFlight > 0 {
				slots = make(chan struct{}, inFlight)
			}
			var got atomic.Int64
			n := int64(b.N/senders) * senders
			if n == 0 {
				n = senders
			}
			sink := spawnOn(b, s, sys, func(c actor.Context) {
				if _, ok := c.Message().(*actorspb.Envelope); ok {
					if slots != nil {
						<-slots
					}
					if got.Add(1) == n {
						close(done)
					}
				}
			})
			msgs := make([]*actorspb.Envelope, senders)
			for i := range msgs {
				msgs[i] = envAt(int64(i))
			}
			b.ResetTimer()
			var wg sync.WaitGroup
			for i := range senders {
				wg.Go(func() {
					for range n / senders {
						if slots != nil {
							slots <- struct{}{}
						}
						sys.Root.Send(sink, msgs[i])
					}
				})
			}
			wg.Wait()
			<-done
		})
	}
}

// BenchmarkOverhead: one sender posts no-op messages round-robin to many
// actors; ns/op is the scheduling cost of one message end to end.
func BenchmarkOverhead(b *testing.B) {
	for _, actors := range []int{1, 64, 1000, 10000} {
		for _, name := range benchSchedulers {
			b.Run(fmt.Sprintf("actors=%d/sched=%s", actors, name), func(b *testing.B) {
				s, sys := newBenchScheduler(b, name)
				done := make(chan struct{})
				var got atomic.Int64
				n := int64(b.N)
				pids := make([]*actor.PID, actors)
				for i := range pids {
					pids[i] = spawnOn(b, s, sys, func(c actor.Context) {
						if _, ok := c.Message().(*actorspb.Envelope); ok && got.Add(1) == n {
							close(done)
						}
					})
				}
				m := envAt(1)
				b.ResetTimer()
				for i := range b.N {
					sys.Root.Send(pids[i%actors], m)
				}
				<-done
			})
		}
	}
}

// BenchmarkRunQueue measures the pure data structures alone.
func BenchmarkRunQueue(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("actors=%d", n), func(b *testing.B) {
			var q priority.RunQueue[int]
			es := make([]*priority.Entry[int], n)
			for i := range es {
				es[i] = priority.NewEntry(i)
				q.Push(es[i], int64(i*7919%n))
			}
			b.ResetTimer()
			for i := range b.N {
				e, _, _ := q.Pop()
				q.Push(e, int64(i))
			}
		})
	}
}
