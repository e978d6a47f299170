package priority

import "testing"

func TestTurnDecisions(t *testing.T) {
	cfg := TurnConfig{Quantum: 100, MaxMessages: 3, YieldAtBoundary: true}
	for _, tc := range []struct {
		name          string
		ran           int
		now           int64
		next, nextLoc int64
		has           bool
		head          int64
		hasHead       bool
		contended     bool
		budget        int64
		want          Decision
	}{
		{"empty", 1, 0, 0, 0, false, 0, false, false, 0, Empty},
		{"boundary", 1, 0, 5, 1, true, 9, true, false, 0, Boundary},
		{"max", 3, 0, 5, 0, true, 9, true, false, 0, MaxCount},
		{"quantum", 1, 100, 5, 0, true, 9, true, false, 0, Quantum},
		{"preempted", 1, 10, 10, 0, true, 9, true, false, 0, Preempted},
		{"tie continues", 1, 10, 9, 0, true, 9, true, false, 0, Continue},
		{"no head", 1, 10, 1 << 40, 0, true, 0, false, false, 0, Continue},
		{"share budget used", 1, 20, 5, 0, true, 9, true, true, 20, Share},
		{"share budget left", 1, 19, 5, 0, true, 9, true, true, 20, Continue},
		{"budget, no contention", 1, 50, 5, 0, true, 9, true, false, 20, Continue},
		{"contention, no budget", 1, 50, 5, 0, true, 9, true, true, 0, Continue},
		{"budget below one message", 1, 1, 5, 0, true, 9, true, true, -3, Share},
	} {
		tr := cfg.Begin(0)
		for range tc.ran {
			tr.Ran(0)
		}
		if tc.budget != 0 {
			tr.LimitShare(tc.budget)
		}
		if got := tr.Next(tc.now, tc.next, tc.nextLoc, tc.has, tc.head, tc.hasHead, tc.contended); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if (TurnConfig{Quantum: -1}).Validate() == nil || (TurnConfig{MaxMessages: -1}).Validate() == nil {
		t.Error("negative knobs must not validate")
	}
	if Decision(42).String() != "Decision(42)" || Preempted.String() != "preempted" {
		t.Error("Decision.String")
	}
}

// With the boundary rule off, one actor runs several windows in one turn.
func TestTurnNoBoundaryYield(t *testing.T) {
	tr := TurnConfig{}.Begin(0)
	tr.Ran(0)
	if d := tr.Next(5, 1, 7, true, 2, true, false); d != Continue {
		t.Errorf("%v", d)
	}
}
