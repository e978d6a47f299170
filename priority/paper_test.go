package priority

import (
	"strings"
	"testing"
)

// Reference: talk slides 17–23 (experiment E1): FIFO misses M2 and M4,
// topology-aware LLF misses M4, Cameo misses nothing and runs M2 M4 M1 M3.
func TestMotivatingExample(t *testing.T) {
	for _, tc := range []struct {
		policy Policy
		order  string
		misses string
	}{
		{FIFO{}, "M1 M2 M3 M4", "M2 M4"},
		{LLF{}, "M2 M1 M4 M3", "M4"},
		{Cameo{}, "M2 M4 M1 M3", ""},
	} {
		t.Run(tc.policy.Name(), func(t *testing.T) {
			var trace strings.Builder
			out, err := MotivatingExample(tc.policy, &trace)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(out.Order, " "); got != tc.order {
				t.Errorf("order = %s, want %s", got, tc.order)
			}
			if got := strings.Join(out.Misses, " "); got != tc.misses {
				t.Errorf("misses = %q, want %q", got, tc.misses)
			}
			golden(t, "motivating_"+tc.policy.Name()+".golden", trace.String())
		})
	}
}

// The priorities of experiment E1: topology-only 85, 90, 95, 140 for M2,
// M1, M4, M3; semantic priority gives M1 and M3 the frontier deadline 140.
func TestMotivatingExamplePriorities(t *testing.T) {
	baQ := Query{ID: "o1", LatencyTarget: 100}
	lsQ := Query{ID: "o2", LatencyTarget: 50}
	for _, tc := range []struct {
		policy Policy
		want   map[string]int64
	}{
		{LLF{}, map[string]int64{"M1": 90, "M2": 85, "M3": 140, "M4": 95}},
		{Cameo{}, map[string]int64{"M1": 140, "M2": 85, "M3": 140, "M4": 95}},
	} {
		w := NewWindowFrontier(Tumbling(50))
		got := map[string]int64{}
		for _, m := range []struct {
			name string
			at   int64
			q    Query
			r    FrontierRule
		}{{"M1", 0, baQ, w}, {"M2", 45, lsQ, Stateless{}}, {"M3", 50, baQ, w}, {"M4", 55, lsQ, Stateless{}}} {
			fr := m.r.Next(Stamp{Arrival: m.at, Time: m.at, Watermark: NoWatermark})
			got[m.name] = tc.policy.BuildAtSource(m.at, m.q, m.at, Hop{Frontier: fr, Cost: 10}).Global
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: priority of %s = %d, want %d", tc.policy.Name(), k, got[k], v)
			}
		}
	}
}
