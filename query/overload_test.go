package query

import (
	"strings"
	"testing"
	"time"
)

const overloadBase = `name: q
latency_target: 50ms
sources: [{name: s, generator: {rate: 10, keys: {count: 2}}}]
sink: {discard: {}}
`

func TestParseOverload(t *testing.T) {
	s, err := Parse("o.yaml", []byte(overloadBase+"overload: {policy: shed, shed_after: 2s, shed_sink: shed.jsonl}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o := s.spec.Overload; !o.Shed || o.ShedAfter != 2*time.Second || o.ShedSinkPath != "shed.jsonl" {
		t.Errorf("overload %+v", o)
	}
	s, err = Parse("o.yaml", []byte(overloadBase+"overload: {policy: backpressure}\n"))
	if err != nil || s.spec.Overload.Shed {
		t.Errorf("backpressure: %+v %v", s, err)
	}
	s, err = Parse("o.yaml", []byte(overloadBase))
	if err != nil || s.spec.Overload.Shed {
		t.Errorf("default: %+v %v", s, err)
	}
	for _, tc := range []struct{ src, want string }{
		{"overload: {policy: drop}\n", `o.yaml:5:20: overload.policy: unknown policy "drop" (valid: backpressure, shed)`},
		{"overload: {shed_after: 1s}\n", "o.yaml:5:11: overload.policy: missing (required: backpressure or shed)"},
		{"overload: {policy: shed}\n", "overload.shed_after: with policy shed: must be 1ms to 24h0m0s, got 0s"},
		{"overload: {policy: shed, shed_after: 500us}\n", "overload.shed_after: with policy shed: must be 1ms to 24h0m0s, got 500µs"},
		{"overload: {policy: shed, shed_after: 48h}\n", "must be 1ms to 24h0m0s, got 48h0m0s"},
		{"overload: {policy: backpressure, shed_after: 1s}\n", "overload.shed_after: goes with policy shed"},
		{"overload: {policy: backpressure, shed_sink: x.jsonl}\n", "overload.shed_sink: goes with policy shed"},
		{"overload: {policy: shed, shed_after: 1s, max: 3}\n", `unknown field "max" (valid: policy, shed_after, shed_sink)`},
	} {
		_, err := Parse("o.yaml", []byte(overloadBase+tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.src, err, tc.want)
		}
	}
}
