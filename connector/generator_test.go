package connector

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/cameo-go/cameo/query"
)

func genSpec(t *testing.T, src string) *query.Generator {
	t.Helper()
	s, err := query.Parse("g.yaml", []byte("name: q\nlatency_target: 1s\nsources:\n  - name: s\n    generator: "+src+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return s.Spec().Sources[0].Input.(*query.Generator)
}

const sec = int64(1e9)

func TestGeneratorIsDeterministic(t *testing.T) {
	g := genSpec(t, "{rate: 1000, duration: 2s, seed: 42, keys: {count: 10, distribution: zipf}, fields: {lvl: {choice: [a, b], weights: [1, 3]}, ms: {uniform: [1, 5]}, x: {normal: [0, 1]}, c: {const: hi}}}")
	run := func() []query.Event {
		gen, err := NewGenerator(g, 5*sec)
		if err != nil {
			t.Fatal(err)
		}
		var out []query.Event
		for now := 5 * sec; !gen.Done(); now += sec / 10 {
			out = gen.Until(now, 0, out)
		}
		return out
	}
	a, b := run(), run()
	if len(a) != 2000 {
		t.Fatalf("%d events in 2 s at 1000/s, want 2000", len(a))
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with one seed differ")
	}
	if a[0].Arrival != 5*sec || a[1].Arrival != 5*sec+sec/1000 {
		t.Errorf("arrivals %d, %d: want the schedule from the start", a[0].Arrival, a[1].Arrival)
	}
	// Producing in other slices gives the same events.
	gen, _ := NewGenerator(g, 5*sec)
	var c []query.Event
	for !gen.Done() {
		c = gen.Until(1<<62, 7, c)
	}
	if !reflect.DeepEqual(a, c) {
		t.Fatal("events depend on how they were pulled")
	}
}

func TestGeneratorBurstsAndDistributions(t *testing.T) {
	g := genSpec(t, "{rate: 1000, duration: 10s, seed: 1, keys: {count: 50, distribution: zipf, zipf_s: 1.5}, fields: {lvl: {choice: [info, error], weights: [9, 1]}, ms: {uniform: [1, 500]}}, bursts: [{at: 2s, for: 1s, factor: 4}]}")
	gen, _ := NewGenerator(g, 0)
	evs := gen.Until(20*sec, 0, nil)
	if !gen.Done() || gen.Emitted() != uint64(len(evs)) {
		t.Fatalf("done %v emitted %d len %d", gen.Done(), gen.Emitted(), len(evs))
	}
	perSecond := make([]int, 10)
	keys := map[string]int{}
	errs := 0
	for _, e := range evs {
		perSecond[e.Arrival/sec]++
		keys[e.Key]++
		if e.Fields.Get("lvl") == "error" {
			errs++
		}
		if ms := e.Fields.Get("ms").(int); ms < 1 || ms > 500 {
			t.Fatalf("uniform [1, 500] gave %d", ms)
		}
	}
	if perSecond[1] != 1000 || perSecond[2] != 4000 || perSecond[3] != 1000 {
		t.Errorf("events per second %v: want 1000, then 4000 in the burst", perSecond)
	}
	if share := float64(errs) / float64(len(evs)); math.Abs(share-0.1) > 0.01 {
		t.Errorf("error share %.3f, want 0.1 ± 0.01", share)
	}
	if keys["k0"] <= keys["k1"] || keys["k1"] <= keys["k10"] {
		t.Errorf("zipf keys not skewed: k0 %d k1 %d k10 %d", keys["k0"], keys["k1"], keys["k10"])
	}
}

func TestGeneratorUniformKeys(t *testing.T) {
	g := genSpec(t, "{rate: 10000, duration: 1s, keys: {count: 4}}")
	gen, _ := NewGenerator(g, 0)
	keys := map[string]int{}
	for _, e := range gen.Until(sec, 0, nil) {
		keys[e.Key]++
	}
	for k, n := range keys {
		if n < 2300 || n > 2700 {
			t.Errorf("key %s: %d of 10000, want about 2500", k, n)
		}
	}
	if len(keys) != 4 {
		t.Errorf("keys %v", keys)
	}
}

// TestGeneratorCountAtWallClockStart guards against float64 drift: at a
// real Unix-ns start the schedule once accumulated 256 ns rounding per
// event and emitted 40,065 events instead of 40,000.
func TestGeneratorCountAtWallClockStart(t *testing.T) {
	g, err := NewGenerator(&query.Generator{Rate: 20000, Duration: 2 * time.Second, Seed: 7, Keys: query.Keys{Count: 10, Distribution: "uniform"}}, 1763900000123456789)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for !g.Done() {
		n += len(g.Until(math.MaxInt64, 1024, nil))
	}
	if n != 40000 {
		t.Fatalf("emitted %d events in 2 s at 20,000/s, want 40,000", n)
	}
}

// Poisson arrivals: the same mean rate, exponential gaps (their standard
// deviation equals their mean), deterministic for a seed.
func TestGeneratorPoisson(t *testing.T) {
	spec := &query.Generator{Rate: 10000, Arrivals: "poisson", Duration: 10 * time.Second, Seed: 3, Keys: query.Keys{Count: 1, Distribution: "uniform"}}
	g, err := NewGenerator(spec, 0)
	if err != nil {
		t.Fatal(err)
	}
	evs := g.Until(math.MaxInt64, 0, nil)
	if n := len(evs); n < 99000 || n > 101000 {
		t.Fatalf("%d events in 10 s at 10,000/s", n)
	}
	var sum, sq float64
	for i := 1; i < len(evs); i++ {
		d := float64(evs[i].Arrival - evs[i-1].Arrival)
		sum += d
		sq += d * d
	}
	n := float64(len(evs) - 1)
	mean := sum / n
	sd := math.Sqrt(sq/n - mean*mean)
	if math.Abs(sd/mean-1) > 0.05 {
		t.Fatalf("gap mean %.0f ns, sd %.0f ns: not exponential", mean, sd)
	}
	g2, _ := NewGenerator(spec, 0)
	if again := g2.Until(math.MaxInt64, 0, nil); len(again) != len(evs) || again[500].Arrival != evs[500].Arrival {
		t.Fatal("not deterministic for a seed")
	}
}

// The extremes validation allows: the slowest rate ends with its duration
// instead of waiting 1,000 s for its second event; a start near int64's end
// never wraps into a flood; the widest int range draws within it; a million
// keys cost nothing up front.
func TestGeneratorAtTheLimits(t *testing.T) {
	t.Run("slowest rate ends with its duration", func(t *testing.T) {
		gen, err := NewGenerator(genSpec(t, "{rate: 0.001, duration: 1s}"), 0)
		if err != nil {
			t.Fatal(err)
		}
		out := gen.Until(0, 0, nil)
		if len(out) != 1 || !gen.Done() {
			t.Fatalf("%d events, done %v: want the first event and done (the second is due after the 1 s duration)", len(out), gen.Done())
		}
	})
	t.Run("start near the end of int64", func(t *testing.T) {
		gen, err := NewGenerator(genSpec(t, "{rate: 0.001}"), math.MaxInt64-sec)
		if err != nil {
			t.Fatal(err)
		}
		out := gen.Until(math.MaxInt64, 0, nil)
		if len(out) != 1 {
			t.Fatalf("%d events: the second is due past int64's end and must never come (a wrap would flood)", len(out))
		}
		if at, ok := gen.NextArrival(); ok || at != math.MaxInt64 {
			t.Errorf("next arrival %d %v, want saturated at MaxInt64 and done", at, ok)
		}
	})
	t.Run("widest int range", func(t *testing.T) {
		gen, err := NewGenerator(genSpec(t, "{rate: 1000, duration: 1s, fields: {x: {uniform: [-9007199254740992, 9007199254740992]}}}"), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range gen.Until(sec, 0, nil) {
			if x := ev.Fields.Get("x").(int); x < -1<<53 || x > 1<<53 {
				t.Fatalf("x = %d outside ±2^53", x)
			}
		}
	})
	t.Run("a million keys are formatted when drawn", func(t *testing.T) {
		gen, err := NewGenerator(genSpec(t, "{rate: 1000, duration: 1s, seed: 3, keys: {count: 1000000}}"), 0)
		if err != nil {
			t.Fatal(err)
		}
		if gen.keys != nil {
			t.Fatalf("%d keys formatted up front", len(gen.keys))
		}
		out := gen.Until(sec, 0, nil)
		if len(out) != 1000 || out[0].Key == "" || out[0].Key[0] != 'k' {
			t.Fatalf("%d events, first key %q", len(out), out[0].Key)
		}
	})
}

// A generator that falls behind knows by how much (Lag) and how many of
// its scheduled events a stop leaves unproduced (Missed), bursts included.
func TestGeneratorLagAndMissed(t *testing.T) {
	gen, err := NewGenerator(genSpec(t, "{rate: 1000, duration: 10s, bursts: [{at: 1s, for: 500ms, factor: 2}]}"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if out := gen.Until(sec, 100, nil); len(out) != 100 {
		t.Fatalf("%d events, want the first 100", len(out))
	}
	if lag := gen.Lag(sec); lag != 900_000_000 {
		t.Errorf("lag at 1 s with 100 events produced: %d ns, want 900 ms", lag)
	}
	// [100 ms, 2 s): 1,900 at 1,000/s plus 500 more in the burst.
	if m := gen.Missed(2 * sec); m != 2400 {
		t.Errorf("missed by 2 s: %d, want 2400", m)
	}
	// The generator's end bounds it: [100 ms, 10 s) is 9,900 + 500.
	if m := gen.Missed(100 * sec); m != 10400 {
		t.Errorf("missed by 100 s: %d, want 10400", m)
	}
	for !gen.Done() {
		gen.Until(20*sec, 0, nil)
	}
	if gen.Lag(20*sec) != 0 || gen.Missed(20*sec) != 0 {
		t.Errorf("a finished generator: lag %d, missed %d", gen.Lag(20*sec), gen.Missed(20*sec))
	}
}
