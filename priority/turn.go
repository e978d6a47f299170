package priority

import "fmt"

// Defaults of TurnConfig, from the paper's prototype.
const (
	DefaultQuantum     int64 = 100_000_000 // 100 ms: Orleans' activation quantum
	DefaultMaxMessages int   = 0           // no limit beyond the quantum
)

// TurnConfig holds the turn rules of the worker loop: after the first message
// of a turn (which always runs) a worker continues with the same actor only
// while the actor's key is ≤ the run queue head's key, and yields at a window
// boundary (when YieldAtBoundary), once Quantum has elapsed since the turn
// began (0: never) or after MaxMessages messages (0: no limit).
type TurnConfig struct {
	Quantum         int64
	MaxMessages     int
	YieldAtBoundary bool
}

// DefaultTurnConfig returns the prototype's turn rules.
func DefaultTurnConfig() TurnConfig {
	return TurnConfig{Quantum: DefaultQuantum, MaxMessages: DefaultMaxMessages, YieldAtBoundary: true}
}

// Validate reports whether the config is usable.
func (c TurnConfig) Validate() error {
	if c.Quantum < 0 {
		return fmt.Errorf("%w: turn quantum %d ns must be >= 0", ErrBadConfig, c.Quantum)
	}
	if c.MaxMessages < 0 {
		return fmt.Errorf("%w: max messages per turn %d must be >= 0", ErrBadConfig, c.MaxMessages)
	}
	return nil
}

// Decision is the outcome of a turn check.
type Decision uint8

// The decisions, in the order Turn.Next checks them.
const (
	Continue  Decision = iota
	Empty              // no pending message
	Boundary           // the next message is of another window
	MaxCount           // MaxMessages ran
	Quantum            // the quantum elapsed
	Share              // another group is waiting and the turn used its share budget
	Preempted          // the run queue head is more urgent
)

var decisionNames = [...]string{"continue", "empty", "boundary", "max-messages", "quantum", "share", "preempted"}

func (d Decision) String() string {
	if int(d) < len(decisionNames) {
		return decisionNames[d]
	}
	return fmt.Sprintf("Decision(%d)", d)
}

// Turn is the state of one actor's turn on a worker.
type Turn struct {
	cfg       TurnConfig
	start     int64
	ran       int
	lastLocal int64
	budget    int64 // ns the turn may run while another group waits; 0: no limit
}

// Begin starts a turn at now.
func (c TurnConfig) Begin(now int64) Turn { return Turn{cfg: c, start: now} }

// LimitShare bounds the time the turn may run while another group's work
// waits (ShareQueue.Budget, capped by the queue's slack); ns <= 0 is taken
// as 1 ns: one message always runs.
func (t *Turn) LimitShare(ns int64) { t.budget = max(ns, 1) }

// Ran records that a message of local priority local ran.
func (t *Turn) Ran(local int64) {
	t.ran++
	t.lastLocal = local
}

// Count returns how many messages ran in the turn.
func (t *Turn) Count() int { return t.ran }

// Next decides, after at least one message ran, whether the actor keeps the
// worker for its next message. next describes the actor's queue (key and
// local priority of the message that runs next; has false when empty) and
// head the run queue (hasHead false when empty); contended reports that
// the head belongs to another group of a ShareQueue.
func (t *Turn) Next(now int64, nextKey, nextLocal int64, has bool, headKey int64, hasHead, contended bool) Decision {
	switch {
	case !has:
		return Empty
	case t.cfg.YieldAtBoundary && t.ran > 0 && nextLocal != t.lastLocal:
		return Boundary
	case t.cfg.MaxMessages > 0 && t.ran >= t.cfg.MaxMessages:
		return MaxCount
	case t.cfg.Quantum > 0 && now-t.start >= t.cfg.Quantum:
		return Quantum
	case contended && t.budget > 0 && now-t.start >= t.budget:
		return Share
	case hasHead && nextKey > headKey:
		return Preempted
	}
	return Continue
}
