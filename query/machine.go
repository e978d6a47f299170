package query

// Machine is the state machine of one instance of a pipeline step. Every
// kind implements it — Stateless (filter, map, key_by, process), WindowAgg,
// JoinOp and Union — so the engine holds one Machine per instance and
// never asks which kind it runs. Not safe for concurrent use.
type Machine interface {
	// Run takes a batch of events that came in on side (0: the stream; 1:
	// the source a join joins) and appends what the step emits now to out.
	// dropped are the events it could not take (one error each, why);
	// late are the events too late for every window they belong to.
	Run(side int, in, out []Event) (_ []Event, dropped []error, late []Event)
	// Advance moves the watermark to wm and returns the results of the
	// windows that fire, their Arrival set to frontierArrival; stateless
	// steps return nil.
	Advance(wm, frontierArrival int64) []Event
	// Output returns how many results Advance(wm) would return, without
	// advancing: what a firing will cost before it happens (a join's
	// output is the product of its two sides per key).
	Output(wm int64) int64
	// StateBytes estimates the memory the step holds for its open windows.
	StateBytes() int64
	// Partial counts the events added to some of their windows that were
	// too late for others (sliding windows).
	Partial() uint64
}

// Slicer is a Machine whose firings can be cut into slices, so that one
// firing of many groups does not hold a worker for all of it: AdvanceSome
// returns at most max results, and more while the firing is under way;
// the next call goes on with it (a new watermark waits for it to end).
type Slicer interface {
	AdvanceSome(wm, frontierArrival int64, max int) (out []Event, more bool)
}

var _ Slicer = (*WindowAgg)(nil)

var (
	_ Machine = (*Stateless)(nil)
	_ Machine = (*WindowAgg)(nil)
	_ Machine = (*JoinOp)(nil)
	_ Machine = Union{}
)

// Run implements Machine.
func (s *Stateless) Run(_ int, in, out []Event) ([]Event, []error, []Event) {
	out, errs := s.Apply(in, out)
	return out, errs, nil
}

// Advance implements Machine: a stateless step holds no windows.
func (s *Stateless) Advance(int64, int64) []Event { return nil }

// StateBytes implements Machine.
func (s *Stateless) StateBytes() int64 { return 0 }

// Output implements Machine.
func (s *Stateless) Output(int64) int64 { return 0 }

// Partial implements Machine.
func (s *Stateless) Partial() uint64 { return 0 }

// Run implements Machine.
func (a *WindowAgg) Run(_ int, in, out []Event) ([]Event, []error, []Event) {
	errs, late := addAll(a.Add, in)
	return out, errs, late
}

// addAll adds each event of in with add (a window's Add), returning the
// errors and the late events.
func addAll(add func(Event) (bool, error), in []Event) (errs []error, late []Event) {
	for _, ev := range in {
		isLate, err := add(ev)
		switch {
		case err != nil:
			errs = append(errs, err)
		case isLate:
			late = append(late, ev)
		}
	}
	return errs, late
}

// Run implements Machine: side 0 events join the stream's side, side 1
// events the joined source's (keyed by On).
func (j *JoinOp) Run(side int, in, out []Event) ([]Event, []error, []Event) {
	var late []Event
	for _, ev := range in {
		var isLate bool
		if side == 0 {
			isLate = j.AddLeft(ev)
		} else {
			isLate = j.AddRightKeyed(ev)
		}
		if isLate {
			late = append(late, ev)
		}
	}
	return out, nil, late
}

// Partial implements Machine: a join's windows are tumbling.
func (j *JoinOp) Partial() uint64 { return 0 }

// Union is the state machine of a union step: it passes every event on.
type Union struct{}

// Run implements Machine.
func (Union) Run(_ int, in, out []Event) ([]Event, []error, []Event) {
	return append(out, in...), nil, nil
}

// Advance implements Machine.
func (Union) Advance(int64, int64) []Event { return nil }

// StateBytes implements Machine.
func (Union) StateBytes() int64 { return 0 }

// Output implements Machine.
func (Union) Output(int64) int64 { return 0 }

// Partial implements Machine.
func (Union) Partial() uint64 { return 0 }
