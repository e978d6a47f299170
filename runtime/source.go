package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"sync/atomic"
	"time"

	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
)

// source drives one of a query's sources from its own goroutine: it reads
// or generates events in batches, stamps their arrival and their source
// watermark, keys them when they feed a join, and sends them through its
// router. When it ends (its input is exhausted, or the query stops it) it
// sends its final mark, closed, so that the query drains.
type source struct {
	q    *Query
	spec *query.Source
	et   *query.EventTime
	out  *router
	join *query.JoinOp // keys the events of a joined source

	gen   *Generator
	lines chan lineChunk   // jsonl
	user  chan query.Event // SourceFunc
	uerr  chan error

	wm           int64 // the source's watermark
	maxSeen      int64 // event time
	lastEvent    int64 // clock time of the last event, for idleness
	idle         bool
	buf          []query.Event
	pendingLines []lineChunk
	pendingUser  []query.Event
	lag          atomic.Int64 // ns a generator is behind its schedule
}

type lineChunk struct {
	lines [][]byte    // a line over query.MaxLineBytes is nil, its size in over
	over  map[int]int // by line number
	first int         // line number of lines[0]
	err   error
}

// newSource prepares a source; joinOp is the join step it feeds, if any.
func (q *Query) newSource(s *query.Source, joinOp *query.Operator) (*source, error) {
	src := &source{q: q, spec: s, et: s.EventTime, wm: query.NoWatermark, maxSeen: math.MinInt64}
	if joinOp != nil {
		var err error
		if src.join, err = query.NewJoinOp(joinOp, 0); err != nil {
			return nil, err
		}
	}
	switch {
	case s.Generator != nil:
		g, err := NewGenerator(s.Generator, q.clock.Now())
		if err != nil {
			return nil, fmt.Errorf("query %s: source %s: %w", q.spec.Name, s.Name, err)
		}
		src.gen = g
	case s.JSONL != nil:
		var r io.Reader
		var c io.Closer
		name := "stdin"
		if s.JSONL.Stdin {
			r = q.eng.cfg.Stdin
		} else {
			name = q.resolve(s.JSONL.Path)
			f, err := q.eng.files.open(s.JSONL.Path, name)
			if err != nil {
				return nil, fmt.Errorf("query %s: source %s: %w", q.spec.Name, s.Name, err)
			}
			r, c = f, f
		}
		src.lines = make(chan lineChunk, 4)
		if c == nil { // stdin: a read blocks until a line or EOF comes, so this goroutine can outlive the query
			go readLines(r, c, name, q.eng.cfg.MaxBatch, src.lines, q.stop)
		} else {
			q.wg.Add(1)
			go func() {
				defer q.wg.Done()
				readLines(r, c, name, q.eng.cfg.MaxBatch, src.lines, q.stop)
			}()
		}
	case s.Func != nil:
		src.user = make(chan query.Event, q.eng.cfg.MaxBatch)
		src.uerr = make(chan error, 1)
	default:
		return nil, fmt.Errorf("query %s: source %s has no input", q.spec.Name, s.Name)
	}
	return src, nil
}

// readLines reads JSON lines into chunks of up to max lines, whatever is
// available without waiting for more; it closes out at the end of input.
// It stops when stop is closed (closing a file it opened). A read from
// stdin blocks until a line or EOF comes, so its goroutine outlives the
// query when stdin stays open.
func readLines(r io.Reader, c io.Closer, name string, max int, out chan<- lineChunk, stop <-chan struct{}) {
	defer close(out)
	if c != nil {
		defer c.Close()
	}
	br := bufio.NewReaderSize(r, 64<<10)
	line := 0
	for {
		chunk := lineChunk{first: line + 1}
		for len(chunk.lines) < max {
			b, size, err := readLine(br, stop)
			if errors.Is(err, errStopped) {
				return
			}
			if size > 0 || err == nil {
				line++
				if size > query.MaxLineBytes {
					if chunk.over == nil {
						chunk.over = map[int]int{}
					}
					chunk.over[line] = size
					b = nil
				}
				chunk.lines = append(chunk.lines, b)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					chunk.err = fmt.Errorf("%s:%d: %w", name, line+1, err)
				}
				select {
				case out <- chunk:
				case <-stop:
				}
				return
			}
			if br.Buffered() == 0 {
				break // send what we have rather than wait for more
			}
		}
		select {
		case out <- chunk:
		case <-stop:
			return
		}
	}
}

var errStopped = errors.New("stopped")

// readLine reads one line without its newline and returns its size; a
// line longer than query.MaxLineBytes is not kept (its size says so) and
// the rest of it is skipped, counted up to a bound.
func readLine(br *bufio.Reader, stop <-chan struct{}) (line []byte, size int, err error) {
	for {
		select { // an endless line (a device, a file without newlines) stops on cancel
		case <-stop:
			return nil, size, errStopped
		default:
		}
		var part []byte
		part, err = br.ReadSlice('\n')
		if size += len(part); size <= query.MaxLineBytes+1 {
			line = append(line, part...)
		} else {
			line = nil
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if n := len(part); n > 0 && part[n-1] == '\n' {
			size--
			if line != nil {
				line = line[:len(line)-1]
			}
		}
		return line, size, err
	}
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
	if s.user != nil {
		ctx := q.stopCtx // cancelled when the query stops its sources
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			defer func() {
				if r := recover(); r != nil {
					q.recovered("source "+s.spec.Name+" (user function)", r)
					s.uerr <- fmt.Errorf("panic: %v", r)
					close(s.user)
				}
			}()
			s.uerr <- s.spec.Func(ctx, func(ev query.Event) error {
				select {
				case s.user <- ev:
					return nil
				case <-ctx.Done():
					return fmt.Errorf("query %s is stopping: %w", q.id, ctx.Err())
				}
			})
			close(s.user)
		}()
	}
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
		events, done, err := s.next(now)
		if s.gen != nil {
			s.lag.Store(s.gen.Lag(q.clock.Now()))
		}
		full := len(events) == q.eng.cfg.MaxBatch
		if err != nil {
			q.fail("source %s: %v", s.spec.Name, err)
			break
		}
		events = s.stamp(events, now)
		s.out.send(now, priority.PriorityContext{}, events, mark{wm: s.wm, idle: s.idle})
		if done {
			break
		}
		if full || len(s.pendingLines) > 0 || len(s.pendingUser) > 0 || s.gen != nil && q.eng.cfg.Unpaced {
			continue // more is due now
		}
		wait := tick
		if s.gen != nil {
			if t, ok := s.gen.NextArrival(); ok {
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
		case c, ok := <-s.lines:
			s.pushLines(c, ok)
		case ev, ok := <-s.user:
			s.pushUser(ev, ok)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
end:
	if s.gen != nil { // what its schedule held until now that it never produced
		q.metrics.Unproduced(s.gen.Missed(q.clock.Now()))
		s.lag.Store(0)
	}
	if q.failed.Load() {
		return
	}
	s.out.send(q.clock.Now(), priority.PriorityContext{}, nil, mark{wm: s.wm, closed: true})
}

// next returns the events available at now; done reports that the input
// has ended.
func (s *source) next(now int64) (events []query.Event, done bool, err error) {
	q, max := s.q, s.q.eng.cfg.MaxBatch
	events = s.buf[:0]
	switch {
	case s.gen != nil:
		limit := now
		if q.eng.cfg.Unpaced {
			limit = math.MaxInt64
		}
		events = s.gen.Until(limit, max, events)
		return events, s.gen.Done(), nil
	case s.spec.JSONL != nil:
		for len(events) < max {
			if len(s.pendingLines) == 0 {
				if !s.receiveLines() {
					break
				}
				continue
			}
			c := &s.pendingLines[0]
			for len(c.lines) > 0 && len(events) < max {
				var ev query.Event
				var err error
				if size, over := c.over[c.first]; over {
					err = query.LineTooLong(size)
				} else {
					ev, err = query.DecodeLine(c.lines[0], s.et)
				}
				if err != nil {
					q.metrics.Read(1)
					s.drop(c.first, fmt.Errorf("%s:%d: %w", s.name(), c.first, err))
				} else {
					events = append(events, ev)
				}
				c.lines, c.first = c.lines[1:], c.first+1
			}
			if len(c.lines) == 0 {
				if c.err != nil {
					return events, true, c.err
				}
				s.pendingLines = s.pendingLines[1:]
			}
		}
		return events, s.lines == nil && len(s.pendingLines) == 0, nil
	}
	for len(events) < max {
		if len(s.pendingUser) > 0 {
			n := min(len(s.pendingUser), max-len(events))
			events = append(events, s.pendingUser[:n]...)
			s.pendingUser = s.pendingUser[n:]
			continue
		}
		select {
		case ev, ok := <-s.user:
			s.pushUser(ev, ok)
			if ok {
				continue
			}
		default:
		}
		break
	}
	if s.user == nil && len(s.pendingUser) == 0 {
		if err := <-s.uerr; err != nil && !q.failed.Load() {
			select {
			case <-q.stop:
				return events, true, nil // stopped: its error is the stop
			default:
			}
			return events, true, err
		}
		return events, true, nil
	}
	return events, false, nil
}

// receiveLines takes a chunk of lines if one is ready.
func (s *source) receiveLines() bool {
	if s.lines == nil {
		return false
	}
	select {
	case c, ok := <-s.lines:
		s.pushLines(c, ok)
		return ok
	default:
		return false
	}
}

func (s *source) name() string {
	if s.spec.JSONL.Stdin {
		return "stdin"
	}
	return s.q.resolve(s.spec.JSONL.Path)
}

// drop counts one event the source could not admit; line > 0 is its line
// in a JSON-lines input.
func (s *source) drop(line int, err error) {
	s.q.metrics.Drop(dropReasonOf(err), "source "+s.spec.Name, line, false, err)
}

func (s *source) pushLines(c lineChunk, ok bool) {
	if !ok {
		s.lines = nil
		return
	}
	s.pendingLines = append(s.pendingLines, c)
}

func (s *source) pushUser(ev query.Event, ok bool) {
	if !ok {
		s.user = nil
		return
	}
	s.pendingUser = append(s.pendingUser, ev)
}

// stamp gives events their arrival (read sources), event time and source
// watermark, keys a joined source's events, drops what cannot be read, and
// advances the source's watermark and idleness. It returns the events
// kept, in place.
func (s *source) stamp(events []query.Event, now int64) []query.Event {
	q := s.q
	kept := events[:0]
	for _, ev := range events {
		if s.gen == nil {
			ev.Arrival = now
		}
		if s.et == nil {
			ev.EventTime = ev.Arrival
		} else if s.gen != nil || s.spec.Func != nil && ev.EventTime == 0 {
			t, err := query.EventTimeOf(ev.Fields, s.et)
			if err != nil {
				s.drop(0, err)
				continue
			}
			ev.EventTime = t
		} else if err := query.CheckEventTime(ev.EventTime); err != nil {
			s.drop(0, err) // a user source's own stamp, or a wall clock gone mad
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
		if s.gen != nil {
			if t, ok := s.gen.NextArrival(); ok {
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
