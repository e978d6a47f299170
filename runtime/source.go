package runtime

import (
	"fmt"
	"io"
	"math"
	"sync/atomic"
	"time"

	"github.com/cameo-go/cameo/connector"
	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
)

// source drives one of a query's sources from its own goroutine: it reads
// its input (a connector) in batches, stamps their arrival and their
// source watermark, keys them when they feed a join, and sends them
// through its router. When it ends (its input is exhausted, or the query
// stops it) it sends its final mark, closed, so that the query drains.
type source struct {
	q    *Query
	spec *query.Source
	et   *query.EventTime
	out  *router
	join *query.JoinOp // keys the events of a joined source

	in    connector.Input
	sched connector.Scheduled // the input, when its events are due at known times
	ready <-chan struct{}     // the input's Ready, when it has one

	wm        int64 // the source's watermark
	maxSeen   int64 // event time
	lastEvent int64 // clock time of the last event, for idleness
	idle      bool
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

// run is the source's goroutine.
func (s *source) run() {
	q := s.q
	defer func() {
		if err := s.in.Close(); err != nil && !q.failed.Load() {
			q.fail("source %s: close: %v", s.spec.Name, err)
		}
	}()
	tick := q.eng.cfg.SourceTick
	timer := time.NewTimer(tick)
	defer timer.Stop()
	s.lastEvent = q.clock.Now()
	for {
		select {
		case <-q.stop:
			goto end
		default:
		}
		if !q.waitCredit(s.out.weight()) {
			break
		}
		now := q.clock.Now()
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
			break
		}
		events = s.stamp(events, now)
		s.out.send(now, priority.PriorityContext{}, events, mark{wm: s.wm, idle: s.idle})
		if done {
			break
		}
		if full || s.sched != nil && q.eng.cfg.Unpaced {
			continue // more is due now
		}
		wait := tick
		if s.sched != nil {
			if t, ok := s.sched.NextDue(); ok {
				wait = min(tick, max(time.Duration(t-now), minSourceWait))
			}
		}
		if wait <= 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-q.stop:
			goto end
		case <-timer.C:
		case <-s.ready:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
end:
	if s.sched != nil { // what its schedule held until now that it never produced
		q.metrics.Unproduced(s.sched.Unproduced(q.clock.Now()))
		s.lag.Store(0)
	}
	if q.failed.Load() {
		return
	}
	s.out.send(q.clock.Now(), priority.PriorityContext{}, nil, mark{wm: s.wm, closed: true})
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
	} else if idle := s.et.IdleTimeout; idle > 0 {
		if len(events) > 0 {
			s.lastEvent, s.idle = now, false
		} else if now-s.lastEvent > int64(idle) {
			s.idle = true
		}
	}
	s.buf = kept[:0]
	return kept
}

// drop counts one event the source could not admit.
func (s *source) drop(line int, err error) {
	s.q.metrics.Drop(dropReasonOf(err), "source "+s.spec.Name, line, false, err)
}
