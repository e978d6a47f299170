package priority

import (
	"io"
	"strings"
)

// MotivatingOutcome is what happened in the paper's motivating example.
type MotivatingOutcome struct {
	// Order is the order in which M1..M4 ran.
	Order []string
	// Misses lists the results that missed their deadline: M2 and M4 (the
	// latency-sensitive filter's outputs) and "o1-output" (the window).
	Misses []string
	// Finish is when each message finished.
	Finish map[string]int64
}

// MotivatingExample runs the paper's motivating example (talk slides 17–23,
// experiment E1) under policy on the simulator, writing the
// schedule trace to trace (nil: none).
//
// Two tenants share one worker that is busy until T0 = 80 with a third
// tenant's work. The bulk-analytics query o1 (a window whose output needs M1
// and M3, target 100) and the latency-sensitive query o2 (a filter, target
// 50); every message costs 10; arrivals M1 = 0, M2 = 45, M3 = 50, M4 = 55.
// The window is a tumbling window of 50 time units, so M3 is the first
// message past its boundary and closes it (the boundary rule): the window's
// frontier input is M3 and its output is due at 50 + 100.
func MotivatingExample(policy Policy, trace io.Writer) (MotivatingOutcome, error) {
	s, err := NewSim(SimConfig{Workers: 1, Turn: DefaultTurnConfig(), Trace: trace})
	if err != nil {
		return MotivatingOutcome{}, err
	}
	blocker := s.AddActor("other")
	ba := s.AddActor("o1")
	ls := s.AddActor("o2")
	baQ := Query{ID: "o1", Tenant: "bulk", LatencyTarget: 100}
	lsQ := Query{ID: "o2", Tenant: "alerts", LatencyTarget: 50}
	window := NewWindowFrontier(Tumbling(50))
	const cost = 10

	s.Send(0, blocker, SimMessage{Name: "B", Cost: 80, Ctx: PriorityContext{Global: -1 << 40}})
	for _, a := range []struct {
		name string
		at   int64
		q    Query
		rule FrontierRule
		to   ActorID
	}{
		{"M1", 0, baQ, window, ba},
		{"M2", 45, lsQ, Stateless{}, ls},
		{"M3", 50, baQ, window, ba},
		{"M4", 55, lsQ, Stateless{}, ls},
	} {
		fr := a.rule.Next(Stamp{Arrival: a.at, Time: a.at, Watermark: NoWatermark})
		ctx := policy.BuildAtSource(a.at, a.q, a.at, Hop{Frontier: fr, Cost: cost})
		s.Send(a.at, a.to, SimMessage{Name: a.name, Cost: cost, Ctx: ctx})
	}
	out := MotivatingOutcome{Finish: map[string]int64{}}
	var baDone int64
	for _, r := range s.Run() {
		if r.Actor == blocker {
			continue
		}
		out.Order = append(out.Order, r.Name)
		out.Finish[r.Name] = r.Finish
		if r.Actor == ls && r.Finish > r.Ctx.Arrival+r.Ctx.LatencyTarget {
			out.Misses = append(out.Misses, r.Name)
		}
		if r.Actor == ba {
			baDone = max(baDone, r.Finish)
		}
	}
	if baDone > 50+baQ.LatencyTarget {
		out.Misses = append(out.Misses, "o1-output")
	}
	return out, nil
}

// String renders the outcome on one line.
func (o MotivatingOutcome) String() string {
	misses := "none"
	if len(o.Misses) > 0 {
		misses = strings.Join(o.Misses, " ")
	}
	return "order " + strings.Join(o.Order, " ") + "; misses: " + misses
}
