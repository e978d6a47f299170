package runtime

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLatencyHistQuantiles compares every quantile the compact histogram
// reports with the exact value of the same rank in the sorted samples,
// over several shapes and sizes: within 1/128 relative, so p99 is within
// 1 %.
func TestLatencyHistQuantiles(t *testing.T) {
	shapes := map[string]func(r *rand.Rand) int64{
		"uniform 1µs–100ms": func(r *rand.Rand) int64 { return 1_000 + r.Int64N(100_000_000) },
		"lognormal ~2ms":    func(r *rand.Rand) int64 { return int64(math.Exp(r.NormFloat64()*1.2 + math.Log(2e6))) },
		"bimodal":           func(r *rand.Rand) int64 { return []int64{300_000, 45_000_000}[r.IntN(2)] + r.Int64N(50_000) },
		"constant":          func(*rand.Rand) int64 { return 4_321_987 },
		"wide 1µs–1h":       func(r *rand.Rand) int64 { return int64(math.Exp(r.Float64()*math.Log(3.6e12/1e3)) * 1e3) },
	}
	for name, gen := range shapes {
		for _, n := range []int{1, 7, 100, 10_000, 200_000} {
			r := rand.New(rand.NewPCG(uint64(n), 9))
			var h latencyHist
			vals := make([]int64, n)
			for i := range vals {
				vals[i] = gen(r)
				h.record(vals[i], 1)
			}
			slices.Sort(vals)
			for _, p := range []float64{0, 1, 50, 90, 99, 99.9, 99.99, 100} {
				rank := int(math.Ceil(p / 100 * float64(n)))
				rank = min(max(rank, 1), n)
				want := vals[rank-1]
				got := h.quantile(p)
				if rel := math.Abs(float64(got-want)) / float64(want); rel > 1.0/128 {
					t.Errorf("%s n=%d p%v: %d, exact %d (%.2f %% off)", name, n, p, got, want, rel*100)
				}
			}
			if h.total() != uint64(n) || h.quantile(100) != vals[n-1] {
				t.Errorf("%s n=%d: count %d max %d", name, n, h.total(), h.quantile(100))
			}
		}
	}
}

// TestLatencyHistMerge: merging two histograms equals recording both
// sets into one; a reset one is empty and records again.
func TestLatencyHistMerge(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var a, b, all latencyHist
	for i := range 5000 {
		v := int64(math.Exp(r.Float64() * 20))
		all.record(v, 1)
		if i%3 == 0 {
			a.record(v, 1)
		} else {
			b.record(v, 1)
		}
	}
	var m latencyHist
	m.merge(&b)
	m.merge(&a)
	m.merge(&latencyHist{}) // empty: nothing
	for _, p := range []float64{0, 10, 50, 99, 100} {
		if m.quantile(p) != all.quantile(p) {
			t.Fatalf("p%v: merged %d, one %d", p, m.quantile(p), all.quantile(p))
		}
	}
	if m.total() != all.total() || math.Abs(m.mean()-all.mean()) > 1e-6*all.mean() {
		t.Fatalf("merged count %d mean %v, one %d %v", m.total(), m.mean(), all.total(), all.mean())
	}
	m.reset()
	if m.total() != 0 || m.quantile(50) != 0 || m.mean() != 0 {
		t.Fatal("reset left values")
	}
	m.record(7_000, 2)
	if m.total() != 2 || m.quantile(50) != 7_000 {
		t.Fatalf("after reset: count %d p50 %d", m.total(), m.quantile(50))
	}
}

// TestLatencyHistHoldsWhatItUses: an empty histogram holds nothing, and
// one over a 0.1–50 ms spread holds a few KB.
func TestLatencyHistHoldsWhatItUses(t *testing.T) {
	var h latencyHist
	if h.bytes() != 0 {
		t.Fatalf("empty holds %d bytes", h.bytes())
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		h.record(100_000+r.Int64N(50_000_000), 1)
	}
	if b := h.bytes(); b > 6*1024 {
		t.Fatalf("0.1–50 ms holds %d bytes", b)
	}
}

func BenchmarkLatencyRecord(b *testing.B) {
	var h latencyHist
	r := rand.New(rand.NewPCG(5, 6))
	vals := make([]int64, 1024)
	for i := range vals {
		vals[i] = int64(math.Exp(r.NormFloat64()*1.2 + math.Log(2e6)))
	}
	b.ResetTimer()
	for i := range b.N {
		h.record(vals[i&1023], 1)
	}
}

// TestQuantileOfEqualsMerged: reading a quantile across histograms in
// place (the recent figures' slots) returns what merging them into one
// and asking it returns, whatever their ranges, including empty ones;
// and it allocates nothing.
func TestQuantileOfEqualsMerged(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		k := 1 + r.IntN(5)
		hs := make([]*latencyHist, k)
		var merged latencyHist
		for i := range hs {
			hs[i] = &latencyHist{}
			if r.IntN(4) == 0 {
				continue // empty slot
			}
			scale := math.Exp(r.Float64() * 25) // 1 ns – 70 s
			for range r.IntN(300) {
				hs[i].record(int64(r.Float64()*scale), 1+uint64(r.IntN(3)))
			}
			merged.merge(hs[i])
		}
		for _, p := range []float64{0, 1, 50, 90, 99, 99.9, 100} {
			if got, want := quantileOf(hs, p), merged.quantile(p); got != want {
				t.Fatalf("trial %d p%v: in place %d, merged %d", trial, p, got, want)
			}
		}
	}
	hs := []*latencyHist{{}, {}}
	hs[0].record(1_000_000, 1)
	hs[1].record(9_000_000, 1)
	if n := testing.AllocsPerRun(100, func() { quantileOf(hs, 99) }); n != 0 {
		t.Fatalf("%v allocations per quantileOf", n)
	}
}
