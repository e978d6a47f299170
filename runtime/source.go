package runtime

import (
	"fmt"
	"io"
	"math"
	"sync/atomic"
	"time"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/connector"
	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
)

// source drives one of a query's sources: it reads its input (a
// connector) in batches, stamps their arrival and their source watermark,
// keys them when they feed a join, and sends them through its router. It
// has no goroutine of its own: each read is a step of a timer in the
// engine's shared actors.Timers, run by a worker (between its turns, or an
// idle one the timers' goroutine wakes; the goroutine itself when every
// worker stays busy) when the next event is due, when the
// input says it has something, when the query gives credit back, or when
// the query stops it. Between those times a source costs nothing. When it
// ends (its input is exhausted, or the query stops it) it sends its final
// mark, closed, so that the query drains.
type source struct {
	q    *Query
	spec *query.Source
	et   *query.EventTime
	out  *router
	join *query.JoinOp // keys the events of a joined source

	in    connector.Input
	sched connector.Scheduled // the input, when its events are due at known times
	ready <-chan struct{}     // the input's Ready, when it has one

	timer   *actors.Timer // runs step; nil for a source another node reads
	started atomic.Bool   // start ran: step may read, and end owes q.wg its Done
	ended   chan struct{} // closed once it ended: its Ready watcher stops
	// horizon is how long after its last event a processing-time source
	// keeps its watermark moving with the clock (Plan.StateSpan and a
	// tick for the delivery frontier); after that only its input wakes it.
	horizon int64

	// Only step touches these (one run at a time).
	wm        int64 // the source's watermark
	maxSeen   int64 // event time
	lastEvent int64 // clock time of the last event read, for idleness
	idle      bool
	done      bool
	buf       []query.Event
	lag       atomic.Int64 // ns a scheduled input is behind its schedule
}

// newSource opens a source's input; joinStep is the index of the join
// step it feeds, or -1.
func (q *Query) newSource(s *query.Source, joinStep int) (*source, error) {
	src := &source{q: q, spec: s, et: s.EventTime, wm: query.NoWatermark, maxSeen: math.MinInt64}
	if joinStep >= 0 {
		var err error
		if src.join, err = q.plan.JoinKeyer(joinStep); err != nil {
			return nil, err
		}
	}
	in, err := connector.OpenInput(s.Input, q.connectorEnv(s))
	if err != nil {
		return nil, fmt.Errorf("query %s: source %s: %w", q.spec.Name, s.Name, err)
	}
	src.in = in
	src.sched, _ = in.(connector.Scheduled)
	if n, ok := in.(connector.Notifier); ok {
		src.ready = n.Ready()
	}
	src.timer = q.eng.timers.New(src.step)
	src.ended = make(chan struct{})
	src.horizon = priority.AddSat(int64(q.plan.StateSpan()), 2*int64(q.eng.cfg.SourceTick))
	return src, nil
}

// connectorEnv is what a connector of the query sees of the engine; s is
// the source (nil for the sink).
func (q *Query) connectorEnv(s *query.Source) *connector.Env {
	cfg := q.eng.cfg
	env := &connector.Env{
		Query: q.id, Start: q.clock.Now(), Unpaced: cfg.Unpaced, MaxBatch: cfg.MaxBatch,
		Context: q.stopCtx,
		Go:      q.goOwned,
		Open: func(path string) (io.ReadCloser, string, error) {
			name := q.resolve(path)
			f, err := q.eng.files.open(path, name)
			if err != nil {
				return nil, "", err
			}
			return f, name, nil
		},
		Create: func(path string) (io.WriteCloser, error) { return q.eng.files.create(path, q.resolve(path)) },
		Stdin:  cfg.Stdin, Stdout: cfg.Stdout,
		Recovered: q.recovered,
		Count:     q.metrics.CountConnector,
		Gauge:     q.metrics.SetConnector,
		Hold: func(n int64) {
			if n > 0 {
				q.inflight.Add(n)
			} else {
				q.release(-n, 0)
			}
		},
		Bytes: q.holdBytes,
		Fail:  func(err error) { q.fail("%v", err) },
		Delivered: func() int64 {
			if d := q.delivery.Load(); d != nil {
				return d.frontier()
			}
			return math.MinInt64
		},
	}
	if s != nil {
		env.Source, env.EventTime = s.Name, s.EventTime
		env.Drop = func(line int, err error) {
			q.metrics.Read(1)
			q.metrics.Drop(dropReasonOf(err), "source "+s.Name, line, false, err)
		}
	} else {
		env.Context = q.endCtx
		env.Drop = func(_ int, err error) { q.metrics.Drop(dropReasonOf(err), "sink", 0, false, err) }
	}
	return env
}

// minSourceWait is the least a paced generator sleeps between batches
// when its next event is due sooner. Waking for every event of a dense
// stream (25 µs apart at 40,000 events/s) sent messages of 1–2 events, and
// per-message costs then took a fifth of the pool (experiment E3 at load
// 0.8: 95 % busy for 80 % of nominal work). Events are stamped with their
// due time, so the wait counts in their latency: at most this much.
const minSourceWait = 250 * time.Microsecond

// start arms the source's first step; the query waits (q.wg) until the
// source ended and its input is closed.
func (s *source) start() {
	q := s.q
	q.wg.Add(1)
	s.lastEvent = q.clock.Now()
	s.started.Store(true)
	if s.ready != nil {
		q.goOwned(func() {
			for {
				select {
				case <-s.ready:
					s.timer.Wake()
				case <-s.ended:
					return
				}
			}
		})
	}
	s.timer.Wake()
}

// step is one run of the source's timer: it reads what is due, sends it
// on, and returns when it should run next. It never blocks: over the
// query's in-flight bound it returns and is woken when credit comes back.
func (s *source) step(now int64) (next int64) {
	q := s.q
	if s.done || !s.started.Load() {
		return actors.Never // woken by a stop before it started: start wakes it
	}
	defer func() {
		if r := recover(); r != nil {
			q.recovered("source "+s.spec.Name, r)
			s.end(now)
			next = actors.Never
		}
	}()
	select {
	case <-q.stop:
		s.end(now)
		return actors.Never
	default:
	}
	if !q.hasCredit(s.out.weight()) {
		// Woken by release; the poll is for what peers report of their
		// parts' backlog (each heartbeat).
		return now + int64(q.eng.cfg.SourceTick)
	}
	events, done, err := s.in.Read(now, q.eng.cfg.MaxBatch, s.buf[:0])
	if s.sched != nil {
		s.lag.Store(s.sched.Behind(q.clock.Now()))
	}
	full := len(events) >= q.eng.cfg.MaxBatch
	if err != nil {
		select {
		case <-q.stop: // stopped: its error is the stop
		default:
			if !q.failed.Load() {
				q.fail("source %s: %v", s.spec.Name, err)
			}
		}
		s.end(now)
		return actors.Never
	}
	events = s.stamp(events, now)
	s.out.send(now, priority.PriorityContext{}, events, mark{wm: s.wm, idle: s.idle})
	if done {
		s.end(now)
		return actors.Never
	}
	if full || s.sched != nil && q.eng.cfg.Unpaced {
		return now // more is due now: after what else is due
	}
	return s.nextWake(now)
}

// nextWake is when the source must next read without being woken: when
// its schedule's next event is due; while a processing-time source may
// still have windows to close, every SourceTick, so that its watermark
// follows the clock; when an event-time source would turn idle.
func (s *source) nextWake(now int64) int64 {
	tick := int64(s.q.eng.cfg.SourceTick)
	next := actors.Never
	switch {
	case s.sched != nil:
		if t, ok := s.sched.NextDue(); ok {
			// Waking for every event of a dense stream sends messages of
			// one or two events: at least minSourceWait between reads.
			next = max(t, now+int64(minSourceWait))
		}
	case s.et == nil && now-s.lastEvent <= s.horizon:
		next = now + tick
	}
	if s.et != nil && s.et.IdleTimeout > 0 && !s.idle {
		next = min(next, priority.AddSat(s.lastEvent, int64(s.et.IdleTimeout)+1))
	}
	return next
}

// end ends the source once: it counts what its schedule never produced,
// sends its final mark (unless the query failed), and closes its input off
// the worker (a broker client's close may take a round trip).
func (s *source) end(now int64) {
	if s.done {
		return
	}
	s.done = true
	q := s.q
	close(s.ended)
	if s.sched != nil { // what its schedule held until now that it never produced
		q.metrics.Unproduced(s.sched.Unproduced(q.clock.Now()))
		s.lag.Store(0)
	}
	if !q.failed.Load() {
		s.out.send(now, priority.PriorityContext{}, nil, mark{wm: s.wm, closed: true})
	}
	q.eng.bg.Add(1)
	go func() {
		defer q.eng.bg.Done()
		defer q.wg.Done() // from start
		if err := s.in.Close(); err != nil && !q.failed.Load() {
			q.fail("source %s: close: %v", s.spec.Name, err)
		}
	}()
}

// stamp gives events their arrival (read sources), event time and source
// watermark, keys a joined source's events, drops what cannot be read, and
// advances the source's watermark and idleness. It returns the events
// kept, in place.
func (s *source) stamp(events []query.Event, now int64) []query.Event {
	q := s.q
	kept := events[:0]
	for _, ev := range events {
		if s.sched == nil {
			ev.Arrival = now
		}
		if s.et == nil {
			ev.EventTime = ev.Arrival
		} else if ev.EventTime == 0 {
			t, err := query.EventTimeOf(ev.Fields, s.et)
			if err != nil {
				s.drop(0, err)
				continue
			}
			ev.EventTime = t
		} else if err := query.CheckEventTime(ev.EventTime); err != nil {
			s.drop(0, err) // an input's own stamp, or a wall clock gone mad
			continue
		}
		if s.join != nil {
			if err := s.join.KeyRight(&ev); err != nil {
				s.drop(0, err)
				continue
			}
		}
		ev.Watermark = s.wm
		if s.et == nil {
			s.wm = max(s.wm, ev.Arrival)
		} else {
			s.maxSeen = max(s.maxSeen, ev.EventTime)
			s.wm = max(s.wm, priority.SubSat(s.maxSeen, int64(s.et.MaxOutOfOrder)))
		}
		kept = append(kept, ev)
	}
	q.metrics.Read(len(events))
	q.metrics.Admitted(len(kept))
	if s.et == nil {
		// Processing time: every event due by now was read.
		if s.sched != nil {
			if t, ok := s.sched.NextDue(); ok {
				s.wm = max(s.wm, t-1)
			}
		} else {
			s.wm = max(s.wm, now)
		}
	}
	if len(events) > 0 {
		s.lastEvent, s.idle = now, false
	} else if s.et != nil && s.et.IdleTimeout > 0 && now-s.lastEvent > int64(s.et.IdleTimeout) {
		s.idle = true
	}
	s.buf = kept[:0]
	return kept
}

// drop counts one event the source could not admit.
func (s *source) drop(line int, err error) {
	s.q.metrics.Drop(dropReasonOf(err), "source "+s.spec.Name, line, false, err)
}
