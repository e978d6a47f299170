package priority

import (
	"errors"
	"math"
	"testing"
)

func TestPolicyFormulas(t *testing.T) {
	q := Query{ID: "q", Tenant: "t", LatencyTarget: 1000}
	hop := Hop{Frontier: Frontier{Time: 5000, Local: 3}, Cost: 10, PathCost: 40}
	in := PriorityContext{QueryID: "q", LatencyTarget: 1000, Arrival: 4000, Frontier: 4500, Hops: 1}
	for _, tc := range []struct {
		p            Policy
		source, oper int64
	}{
		{Cameo{}, 5000 + 1000 - 10 - 40, 5000 + 1000 - 10 - 40},
		{LLF{}, 4200 + 1000 - 10 - 40, 4000 + 1000 - 10 - 40},
		{EDF{}, 4200 + 1000, 4000 + 1000},
		{SJF{}, 10, 10},
		{FIFO{}, 4300, 4300},
	} {
		c := tc.p.BuildAtSource(4300, q, 4200, hop)
		if c.Global != tc.source || c.Frontier != 5000 || c.Local != 3 || c.Arrival != 4200 || c.Tenant != "t" || c.Hops != 0 {
			t.Errorf("%s at source: %+v, want global %d", tc.p.Name(), c, tc.source)
		}
		o := tc.p.BuildAtOperator(4300, in, hop)
		if o.Global != tc.oper || o.Frontier != 5000 || o.Local != 3 || o.Arrival != 4000 || o.Hops != 2 {
			t.Errorf("%s at operator: %+v, want global %d", tc.p.Name(), o, tc.oper)
		}
		if c.Deadline() != 6000 {
			t.Errorf("deadline %d", c.Deadline())
		}
	}
}

func TestPolicyByName(t *testing.T) {
	for _, n := range PolicyNames() {
		p, err := PolicyByName(n)
		if err != nil || p.Name() != n {
			t.Errorf("%s: %v %v", n, p, err)
		}
	}
	if _, err := PolicyByName("lifo"); !errors.Is(err, ErrUnknownPolicy) {
		t.Errorf("unknown policy: %v", err)
	}
}

// Reference: talk slide 41 (experiment E6). Three identical backlogged
// dataflows with shares 20/40/40 on one worker get 20/40/40 of the work.
func TestFairSharesInSim(t *testing.T) {
	fair := NewFair()
	s, err := NewSim(SimConfig{Workers: 1, Turn: DefaultTurnConfig()})
	if err != nil {
		t.Fatal(err)
	}
	weights := []float64{1, 2, 2}
	done := make([]int, len(weights))
	const cost, horizon = 10, 30000
	for i, w := range weights {
		q := Query{ID: string(rune('a' + i)), LatencyTarget: 100, Weight: w}
		a := s.AddActor(q.ID)
		var send func(now int64)
		send = func(now int64) {
			ctx := fair.BuildAtSource(now, q, now, Hop{Cost: cost})
			s.Send(now, a, SimMessage{Name: q.ID, Ctx: ctx, Cost: cost, OnDone: func(s *Sim, now int64, r SimResult) {
				fair.PrepareReply(now, r.Ctx, Reply{})
				if now < horizon {
					done[i]++
					send(now)
				}
			}})
		}
		send(0) // two outstanding messages per dataflow keep it backlogged
		send(0)
	}
	s.Run()
	total := float64(done[0] + done[1] + done[2])
	for i, w := range weights {
		share, want := float64(done[i])/total, w/5
		if math.Abs(share-want) > 0.01 {
			t.Errorf("dataflow %d: share %.3f, want %.3f", i, share, want)
		}
	}
	if sh := fair.Shares(); math.Abs(sh["b"]-0.4) > 1e-9 {
		t.Errorf("Shares: %v", sh)
	}
}
