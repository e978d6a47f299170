package priority

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// backlog keeps an actor of a Sim busy: every message it finishes sends
// the next, with a random cost and a key from key.
func backlog(s *Sim, a ActorID, r *rand.Rand, cost func() int64, key func(now int64) int64) {
	var next func(s *Sim, now int64, _ SimResult)
	next = func(s *Sim, now int64, _ SimResult) {
		s.Send(now, a, SimMessage{Ctx: PriorityContext{Global: key(now)}, Cost: cost(), OnDone: next})
	}
	for range 2 {
		next(s, s.Now(), SimResult{})
	}
}

// With every tenant backlogged (every query with an actor per worker, so
// that any of them could use the whole pool), the work served converges to
// the weights,
// at both levels (tenants, and queries inside a tenant), whatever keys they
// declare: the property the share queue exists for.
func TestSharesConvergeToWeights(t *testing.T) {
	for seed := uint64(1); seed <= 12; seed++ {
		r := rand.New(rand.NewPCG(seed, 5))
		workers := 1 + r.IntN(4)
		s, err := NewSim(SimConfig{Workers: workers, Turn: DefaultTurnConfig()})
		if err != nil {
			t.Fatal(err)
		}
		type leaf struct {
			id     GroupID
			tenant int
			weight float64
		}
		var tenants []GroupID
		var tw []float64
		var leaves []leaf
		for ti := range 2 + r.IntN(4) {
			w := float64(1 + r.IntN(4))
			tg, err := s.AddGroup(SimRoot, fmt.Sprintf("t%d", ti), w)
			if err != nil {
				t.Fatal(err)
			}
			tenants, tw = append(tenants, tg), append(tw, w)
			for qi := range 1 + r.IntN(3) {
				qw := float64(1 + r.IntN(3))
				lg, err := s.AddLeaf(tg, fmt.Sprintf("t%d/q%d", ti, qi), qw, 0)
				if err != nil {
					t.Fatal(err)
				}
				leaves = append(leaves, leaf{lg, ti, qw})
				// Each query declares its own urgency: some keys lie far
				// in the past, some far out.
				urgency := r.Int64N(2e9) - 1e9
				// An actor runs on one worker at a time: with fewer actors
				// than workers a query could not use its share.
				for ai := range workers + r.IntN(2) {
					a := s.AddActorIn(fmt.Sprintf("t%d/q%d/a%d", ti, qi, ai), lg)
					backlog(s, a, r, func() int64 { return 50_000 + r.Int64N(2_000_000) }, func(now int64) int64 { return now + urgency })
				}
			}
		}
		const warm, end = int64(2e9), int64(20e9)
		s.RunUntil(warm)
		base := map[GroupID]int64{}
		for _, g := range tenants {
			base[g] = s.GroupStats(g).Served
		}
		for _, l := range leaves {
			base[l.id] = s.GroupStats(l.id).Served
		}
		s.RunUntil(end)
		served := func(g GroupID) float64 { return float64(s.GroupStats(g).Served - base[g]) }
		var total, wsum float64
		for i, g := range tenants {
			total += served(g)
			wsum += tw[i]
		}
		worst := 0.0
		defer func() {
			t.Logf("seed %d: %d workers, %d tenants, %d queries: worst relative error %.2f%%", seed, workers, len(tenants), len(leaves), 100*worst)
		}()
		for i, g := range tenants {
			got, want := served(g)/total, tw[i]/wsum
			worst = max(worst, math.Abs(got-want)/want)
			if math.Abs(got-want) > 0.05*want {
				t.Errorf("seed %d: tenant %d (weight %v of %v) got %.4f of the service, want %.4f ±5%%", seed, i, tw[i], wsum, got, want)
			}
			var qsum, qw float64
			for _, l := range leaves {
				if l.tenant == i {
					qsum += served(l.id)
					qw += l.weight
				}
			}
			for _, l := range leaves {
				if l.tenant != i {
					continue
				}
				got, want := served(l.id)/qsum, l.weight/qw
				worst = max(worst, math.Abs(got-want)/want)
				if math.Abs(got-want) > 0.05*want {
					t.Errorf("seed %d: tenant %d query %d (weight %v of %v) got %.4f of the tenant's service, want %.4f ±5%%", seed, i, l.id, l.weight, qw, got, want)
				}
			}
		}
	}
}

// poisson sends messages to a at rate per second from 0 to end, each of
// cost ns, keyed arrival+target-cost, and records latencies into lat.
func poisson(s *Sim, a ActorID, r *rand.Rand, rate float64, end, cost, target int64, lat *[]int64) {
	var at int64
	for {
		at += int64(r.ExpFloat64() / rate * 1e9)
		if at >= end {
			return
		}
		s.Send(at, a, SimMessage{Ctx: PriorityContext{Global: at + target - cost, LatencyTarget: target}, Cost: cost,
			OnDone: func(_ *Sim, now int64, res SimResult) { *lat = append(*lat, now-res.Sent) }})
	}
}

func pct(xs []int64, p float64) int64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(p/100*float64(len(s))))]
}

// Gaming: tenant A declares 1 ms targets and offers 1.5× the pool's
// capacity; tenant B offers 0.15× with a 50 ms target. Equal weights. In
// the flat deadline order A's keys are always the most urgent and B waits
// behind A's backlog; with shares B meets its target and A gets the rest.
func TestSharesStopGaming(t *testing.T) {
	run := func(slack int64) (bp99 int64, bmet float64, aServed, bServed int64) {
		s, err := NewSim(SimConfig{Workers: 2, Turn: DefaultTurnConfig(), Shares: ShareConfig{Slack: slack}})
		if err != nil {
			t.Fatal(err)
		}
		ta, _ := s.AddGroup(SimRoot, "A", 1)
		tb, _ := s.AddGroup(SimRoot, "B", 1)
		qa, _ := s.AddLeaf(ta, "A/q", 1, 1e6)
		qb, _ := s.AddLeaf(tb, "B/q", 1, 50e6)
		r := rand.New(rand.NewPCG(7, 7))
		var la, lb []int64
		const end = int64(10e9)
		for i := range 4 {
			poisson(s, s.AddActorIn(fmt.Sprint("a", i), qa), r, 750, end, 1e6, 1e6, &la)
		}
		poisson(s, s.AddActorIn("b", qb), r, 300, end, 1e6, 50e6, &lb)
		s.RunUntil(end)
		met := 0
		for _, l := range lb {
			if l <= 50e6 {
				met++
			}
		}
		return pct(lb, 99), float64(met) / float64(len(lb)), s.GroupStats(ta).Served, s.GroupStats(tb).Served
	}
	fp99, fmet, _, _ := run(math.MaxInt64 / 4) // every group always eligible: the flat order
	p99, met, a, b := run(0)
	t.Logf("B p99 flat %.1f ms (%.1f%% met), shares %.1f ms (%.1f%% met); A served %.2f s, B %.2f s", float64(fp99)/1e6, 100*fmet, float64(p99)/1e6, 100*met, float64(a)/1e9, float64(b)/1e9)
	if fmet > 0.9 {
		t.Errorf("flat order: B met %.1f%%; the scenario should break it", 100*fmet)
	}
	if met < 0.99 || p99 > 50e6 {
		t.Errorf("shares: B p99 %.1f ms, %.2f%% met; want ≤ 50 ms and ≥ 99%%", float64(p99)/1e6, 100*met)
	}
	// A takes what B leaves: the pool stays busy (2 workers × 10 s).
	if a+b < 19e9 {
		t.Errorf("served %d ns of 20e9: not work-conserving", a+b)
	}
}
