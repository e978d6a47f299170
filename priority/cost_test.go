package priority

import "testing"

func TestCostProfileWindowAndColdStart(t *testing.T) {
	p := NewCostProfile(3, 7)
	if p.Mean() != 7 || p.Samples() != 0 {
		t.Fatalf("cold start: mean %d samples %d, want prior 7", p.Mean(), p.Samples())
	}
	p.Observe(10)
	p.Observe(20)
	if p.Mean() != 15 {
		t.Errorf("mean of 10,20 = %d", p.Mean())
	}
	p.Observe(30)
	p.Observe(100) // evicts 10
	if p.Mean() != 50 || p.Samples() != 3 {
		t.Errorf("mean of 20,30,100 = %d (samples %d), want 50", p.Mean(), p.Samples())
	}
	if NewCostProfile(0, 0).Samples() != 0 || len(NewCostProfile(0, 0).samples) != DefaultCostWindow {
		t.Error("default window")
	}
}

// C_path is the max over branches of what each downstream reports, and a
// downstream's report replaces its previous one.
func TestPathCostsCriticalPath(t *testing.T) {
	var pc PathCosts
	if pc.Max() != 0 {
		t.Fatal("cold start C_path must be 0")
	}
	for _, p := range []Policy{Cameo{}, LLF{}, NewFair()} {
		pc = PathCosts{}
		p.ProcessReply(0, Reply{From: "a", Cost: 5, PathCost: 10}, &pc)
		p.ProcessReply(0, Reply{From: "b", Cost: 3, PathCost: 20, Queueing: 4, Network: 1}, &pc)
		if pc.Max() != 28 || pc.Len() != 2 {
			t.Errorf("%s: C_path = %d over %d, want 28 over 2", p.Name(), pc.Max(), pc.Len())
		}
		p.ProcessReply(0, Reply{From: "b", Cost: 1}, &pc)
		if pc.Max() != 15 {
			t.Errorf("%s: after b improves C_path = %d, want 15", p.Name(), pc.Max())
		}
	}
}
