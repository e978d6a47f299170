package priority

import "fmt"

// Frontier is the frontier of one message at the operator it is bound for.
type Frontier struct {
	// Time is t_MF: the wall-clock time at which the input that triggers the
	// output this message contributes to arrives (or is expected to).
	Time int64
	// Local is the message's local priority at that operator: the index of
	// its window, 0 for stateless operators.
	Local int64
	// Closing is set on the first message past a window boundary: it closes
	// the earlier window and carries that window's frontier (the boundary
	// rule).
	Closing bool
}

// Stamp is what a FrontierRule reads of a message.
type Stamp struct {
	// Arrival is the wall-clock source arrival time of the message's
	// frontier input.
	Arrival int64
	// Time is the message's position on the operator's window axis: its
	// ingestion (arrival) time for processing-time windows, its event time
	// for event-time windows. Stateless rules ignore it.
	Time int64
	// Watermark is the latest event-time watermark the sender knows of, or
	// NoWatermark.
	Watermark int64
}

// FrontierRule computes the frontier of messages bound for one operator. A
// rule may keep state (the boundary rule needs the sender's current window),
// so each sending edge owns its own rule value; rules are not safe for
// concurrent use.
type FrontierRule interface {
	Next(s Stamp) Frontier
}

var (
	_ FrontierRule = Stateless{}
	_ FrontierRule = (*WindowFrontier)(nil)
	_ FrontierRule = (*EventTimeFrontier)(nil)
	_ FrontierRule = JoinSide{}
)

// Stateless is the rule of per-event operators (map, filter, key-by): the
// output is triggered by the message itself, so t_MF is its own arrival.
type Stateless struct{}

// Next implements FrontierRule.
func (Stateless) Next(s Stamp) Frontier { return Frontier{Time: s.Arrival} }

// Window describes tumbling (Slide == Size) and sliding windows on one time
// axis: window k covers [k·Slide+Offset, k·Slide+Offset+Size).
type Window struct {
	Size   int64
	Slide  int64 // 0 means Size (tumbling)
	Offset int64
}

// Tumbling returns a tumbling window of the given size.
func Tumbling(size int64) Window { return Window{Size: size, Slide: size} }

// Sliding returns a sliding window of the given size and slide.
func Sliding(size, slide int64) Window { return Window{Size: size, Slide: slide} }

// Validate reports whether the window is well formed.
func (w Window) Validate() error {
	switch {
	case w.Size <= 0:
		return fmt.Errorf("%w: window size %d must be > 0", ErrBadConfig, w.Size)
	case w.Slide < 0:
		return fmt.Errorf("%w: window slide %d must be >= 0", ErrBadConfig, w.Slide)
	case w.Slide > w.Size:
		return fmt.Errorf("%w: window slide %d larger than size %d leaves gaps", ErrBadConfig, w.Slide, w.Size)
	}
	return nil
}

func (w Window) slide() int64 {
	if w.Slide == 0 {
		return w.Size
	}
	return w.Slide
}

// Earliest returns the index of the earliest window that contains t: the
// window whose end is the smallest end greater than t.
func (w Window) Earliest(t int64) int64 {
	return AddSat(floorDiv(SubSat(SubSat(t, w.Offset), w.Size), w.slide()), 1)
}

// End returns the end of window k (exclusive).
func (w Window) End(k int64) int64 { return AddSat(AddSat(MulSat(k, w.slide()), w.Offset), w.Size) }

// Start returns the start of window k (inclusive).
func (w Window) Start(k int64) int64 { return AddSat(MulSat(k, w.slide()), w.Offset) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// WindowFrontier is the rule of a processing-time (ingestion-time) tumbling
// or sliding window: t_MF is the end of the earliest window that contains the
// message, and the first message past a boundary carries the frontier of the
// earliest window it closes.
//
// What closes a window at the receiver is the watermark (the time every
// source of the stream has reached), not the first event past the end:
// behind a shuffle a sender can forward events of the next window while its
// own watermark, the minimum over its inputs, is still inside the current
// one. So when the message carries a watermark (Stamp.Watermark), the
// message that moves it past a boundary is the closing one, events or not;
// a message without one closes by its events' position, as in the paper.
type WindowFrontier struct {
	W    Window
	open int64 // earliest window the sender still had open
	seen bool
}

// NewWindowFrontier returns the rule for window w.
func NewWindowFrontier(w Window) *WindowFrontier { return &WindowFrontier{W: w} }

// Next implements FrontierRule; it reads s.Time, and s.Watermark when set.
func (f *WindowFrontier) Next(s Stamp) Frontier {
	k := f.W.Earliest(s.Time)
	pos := k // the earliest window the sender may still add to
	if s.Watermark != NoWatermark {
		pos = f.W.Earliest(s.Watermark)
	}
	if !f.seen {
		f.seen, f.open = true, pos
	}
	if pos > f.open {
		closed := f.open
		f.open = pos
		return Frontier{Time: f.W.End(closed), Local: k, Closing: true}
	}
	return Frontier{Time: f.W.End(k), Local: k}
}

// EventTimeFrontier is the rule of an event-time window. A window fires when
// the watermark passes its end plus the allowed lateness; t_MF is the wall
// time at which that is expected, assuming event time advances with wall
// time from the message's arrival: arrival + (end + lateness − watermark),
// where the watermark is the observed one when the sender knows it and
// eventTime − OutOfOrderness otherwise. A message whose watermark passes a
// window the sender had open closes it and is due at its own arrival.
type EventTimeFrontier struct {
	W              Window
	OutOfOrderness int64
	Lateness       int64
	open           int64
	seen           bool
}

// NewEventTimeFrontier returns the rule for an event-time window w with the
// bounded out-of-orderness and allowed lateness given.
func NewEventTimeFrontier(w Window, outOfOrderness, lateness int64) *EventTimeFrontier {
	return &EventTimeFrontier{W: w, OutOfOrderness: outOfOrderness, Lateness: lateness}
}

// Pass returns the wall time at which the watermark is expected to pass the
// fire point of window k, seen from a message stamped s.
func (f *EventTimeFrontier) Pass(k int64, s Stamp) int64 {
	wm := s.Watermark
	if wm == NoWatermark {
		wm = SubSat(s.Time, f.OutOfOrderness)
	}
	return AddSat(s.Arrival, max(0, SubSat(AddSat(f.W.End(k), f.Lateness), wm)))
}

// Next implements FrontierRule; it reads s.Time as event time.
func (f *EventTimeFrontier) Next(s Stamp) Frontier {
	k := f.W.Earliest(s.Time)
	if !f.seen {
		f.seen, f.open = true, k
	}
	closing := false
	// The watermark closes every window whose end + lateness it passed:
	// the first still open is the earliest that holds watermark − lateness
	// (computed, not stepped to: a watermark can jump by years).
	if s.Watermark != NoWatermark && AddSat(f.W.End(f.open), f.Lateness) <= s.Watermark {
		f.open = max(f.open+1, f.W.Earliest(SubSat(s.Watermark, f.Lateness)))
		closing = true
	}
	if closing {
		return Frontier{Time: s.Arrival, Local: k, Closing: true}
	}
	return Frontier{Time: f.Pass(k, s), Local: k}
}

// JoinFrontier is the rule of a windowed equi-join of two inputs: its output
// for a window needs both sides' inputs of that window, so t_MF is the later
// of the two sides' frontiers. Each side keeps its own event-time estimate;
// the other side's is projected from the last stamp seen from it.
// Processing-time joins use stamps with Watermark == Time == Arrival.
type JoinFrontier struct {
	sides [2]EventTimeFrontier
	last  [2]Stamp
	has   [2]bool
}

// NewJoinFrontier returns the rule for a join over window w.
func NewJoinFrontier(w Window, outOfOrderness, lateness int64) *JoinFrontier {
	j := &JoinFrontier{}
	for i := range j.sides {
		j.sides[i] = EventTimeFrontier{W: w, OutOfOrderness: outOfOrderness, Lateness: lateness}
	}
	return j
}

// Side returns the FrontierRule for messages of input side (0 left, 1 right).
func (j *JoinFrontier) Side(side int) JoinSide {
	if side != 0 && side != 1 {
		panic(fmt.Sprintf("priority: join side %d, want 0 or 1", side))
	}
	return JoinSide{j: j, side: side}
}

// JoinSide is one input of a JoinFrontier.
type JoinSide struct {
	j    *JoinFrontier
	side int
}

// Next implements FrontierRule.
func (s JoinSide) Next(st Stamp) Frontier {
	j, me, other := s.j, s.side, 1-s.side
	fr := j.sides[me].Next(st)
	j.last[me], j.has[me] = st, true
	if fr.Closing || !j.has[other] {
		return fr
	}
	if t := j.sides[other].Pass(fr.Local, j.last[other]); t > fr.Time {
		fr.Time = t
	}
	return fr
}
