package priority

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

func satRef(z *big.Int) int64 {
	switch {
	case z.Cmp(big.NewInt(math.MaxInt64)) > 0:
		return math.MaxInt64
	case z.Cmp(big.NewInt(math.MinInt64)) < 0:
		return math.MinInt64
	}
	return z.Int64()
}

// The saturating operations against big.Int at the extremes of int64 and on
// random values.
func TestSatMathAgainstBigInt(t *testing.T) {
	edges := []int64{math.MinInt64, math.MinInt64 + 1, -1 << 62, -3, -1, 0, 1, 2, 1 << 62, math.MaxInt64 - 1, math.MaxInt64}
	rng := rand.New(rand.NewPCG(1, 2))
	vals := append([]int64{}, edges...)
	for range 200 {
		vals = append(vals, int64(rng.Uint64()), rng.Int64N(1<<40)-1<<39)
	}
	for _, a := range vals {
		for _, b := range vals {
			A, B := big.NewInt(a), big.NewInt(b)
			if got, want := AddSat(a, b), satRef(new(big.Int).Add(A, B)); got != want {
				t.Fatalf("AddSat(%d, %d) = %d, want %d", a, b, got, want)
			}
			if got, want := SubSat(a, b), satRef(new(big.Int).Sub(A, B)); got != want {
				t.Fatalf("SubSat(%d, %d) = %d, want %d", a, b, got, want)
			}
			if got, want := MulSat(a, b), satRef(new(big.Int).Mul(A, B)); got != want {
				t.Fatalf("MulSat(%d, %d) = %d, want %d", a, b, got, want)
			}
		}
	}
}

// A latency target or frontier at int64's end makes a message the least
// urgent on the node, never (by wrapping) the most urgent.
func TestDeadlinesSaturate(t *testing.T) {
	now := int64(1_800_000_000_000_000_000)
	for _, name := range []string{PolicyCameo, PolicyLLF, PolicyEDF} {
		pol, err := PolicyByName(name)
		if err != nil {
			t.Fatal(err)
		}
		huge := pol.BuildAtSource(now, Query{ID: "bulk", LatencyTarget: math.MaxInt64}, now, Hop{Frontier: Frontier{Time: now}})
		tight := pol.BuildAtSource(now, Query{ID: "ls", LatencyTarget: 1_000_000}, now, Hop{Frontier: Frontier{Time: now}})
		if huge.Global != math.MaxInt64 || huge.Global <= tight.Global {
			t.Errorf("%s: deadline with a MaxInt64 target %d, tight target %d: want the huge one saturated at MaxInt64", name, huge.Global, tight.Global)
		}
		neg := pol.BuildAtSource(now, Query{ID: "q", LatencyTarget: 1}, math.MinInt64+5, Hop{Frontier: Frontier{Time: math.MinInt64 + 5}, Cost: 1 << 62, PathCost: 1 << 62})
		if neg.Global > math.MinInt64+6 {
			t.Errorf("%s: deadline below int64's start = %d, want saturated near MinInt64 (not wrapped)", name, neg.Global)
		}
	}
}

// Event times and watermarks at the extremes: a watermark that jumps by
// 2^63 ns closes every window in one step (no loop over the windows in
// between) and frontiers saturate instead of wrapping.
func TestFrontiersAtTheExtremes(t *testing.T) {
	w := Sliding(10_000_000_000, 1_000_000_000)
	f := NewEventTimeFrontier(w, 5_000_000_000, 1_000_000_000)
	first := f.Next(Stamp{Arrival: 0, Time: -1 << 62, Watermark: NoWatermark})
	if first.Time < 0 {
		t.Errorf("frontier of an event at -2^62 with no watermark: %d, want >= its arrival 0", first.Time)
	}
	fr := f.Next(Stamp{Arrival: 7, Time: 1 << 62, Watermark: 1 << 62})
	if !fr.Closing || fr.Time != 7 {
		t.Errorf("watermark jump: %+v, want a closing frontier at the arrival", fr)
	}
	p := f.Pass(w.Earliest(math.MaxInt64), Stamp{Arrival: math.MaxInt64 - 1, Time: math.MinInt64, Watermark: math.MinInt64 + 1})
	if p != math.MaxInt64 {
		t.Errorf("Pass at the extremes = %d, want saturated at MaxInt64", p)
	}
	if k := w.Earliest(math.MinInt64); w.End(k) < math.MinInt64/2 && w.End(k) > 0 {
		t.Errorf("End(Earliest(MinInt64)) wrapped: %d", w.End(k))
	}
}
