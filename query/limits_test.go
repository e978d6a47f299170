package query

import (
	"errors"
	"strings"
	"testing"
)

// Specs that passed validation before the limits existed and crashed,
// exhausted or hung a node: each is now refused at its line and field with
// the valid range.
func TestLimitsRefuseWhatANodeCannotHold(t *testing.T) {
	kw := base + "pipeline:\n  - key_by: key\n"
	et := func(second string) string {
		return "name: q\nlatency_target: 1s\nsources:\n  - name: a\n    jsonl: {path: a}\n    event_time: {field: ts, allowed_lateness: 1s, late_sink: late.jsonl}\n" +
			"  - name: b\n    jsonl: {path: b}\n    event_time: {field: ts" + second + "}\npipeline:\n  - key_by: key\n  - join: {with: b, on: key, window: 1s}\n"
	}
	for _, tc := range []struct{ name, spec, want string }{
		{"uniform beyond 2^53", strings.Replace(base, "[1, 500]", "[-9e18, 9e18]", 1), "spec.yaml:9:23: sources[0].generator.fields.ms.uniform: [-9e+18, 9e+18]: whole numbers must be within ±2^53"},
		{"uniform float overflow", strings.Replace(base, "[1, 500]", "[-1.5e308, 1.5e308]", 1), "fields.ms.uniform: [-1.5e+308, 1.5e+308]: numbers must be finite and within ±1e+300"},
		{"normal overflow", strings.Replace(base, "{uniform: [1, 500]}", "{normal: [0, 1e305]}", 1), "fields.ms.normal: [0, 1e+305]: numbers must be finite"},
		{"billion keys", strings.Replace(base, "rate: 100", "rate: 100\n      keys: {count: 1000000000}", 1), "spec.yaml:7:21: sources[0].generator.keys.count: must be 1 to 1000000, got 1000000000"},
		{"keys near MaxInt64", strings.Replace(base, "rate: 100", "rate: 100\n      keys: {count: 9223372036854775807}", 1), "keys.count: must be 1 to 1000000, got 9223372036854775807"},
		{"sliding 1ns", kw + "  - window: {sliding: {size: 1h, slide: 1ns}}\n    aggregate: {n: count()}\n", "pipeline[1].window.sliding.slide: size 1h0m0s / slide 1ns puts each event in 3600000000000 windows: at most 1000 (a slide of at least 3.6s)"},
		{"sliding without slide", kw + "  - window: {sliding: {size: 10s}}\n    aggregate: {n: count()}\n", "spec.yaml:12:23: pipeline[1].window.sliding.slide: missing: a sliding window needs size and slide"},
		{"sliding and tumbling", kw + "  - window: {tumbling: 1s, sliding: {size: 10s, slide: 1s}}\n    aggregate: {n: count()}\n", "pipeline[1].window: 2 shapes given: a window is one of tumbling, sliding and session"},
		{"huge window", kw + "  - window: {tumbling: 10000h}\n    aggregate: {n: count()}\n", "pipeline[1].window: size must be > 0 and at most 168h0m0s, got 10000h0m0s"},
		{"tiny rate", strings.Replace(base, "rate: 100", "rate: 1e-11\n      duration: 1s", 1), "spec.yaml:6:13: sources[0].generator.rate: must be 0.001 to 1e+07 events per second, got 1e-11"},
		{"huge rate", strings.Replace(base, "rate: 100", "rate: 1e300\n      duration: 1s", 1), "generator.rate: must be 0.001 to 1e+07 events per second, got 1e+300"},
		{"bursts multiply past the limit", strings.Replace(base, "rate: 100", "rate: 1000000\n      bursts: [{at: 1s, for: 2s, factor: 5}, {at: 2s, for: 1s, factor: 5}]", 1), "generator.bursts: the rate with the bursts active at 2s is 2.5e+07 events per second"},
		{"burst factor", strings.Replace(base, "rate: 100", "rate: 100\n      bursts: [{at: 1s, for: 2s, factor: 1e9}]", 1), "bursts[0].factor: must be > 0 and at most 1000, got 1e+09"},
		{"burst far away", strings.Replace(base, "rate: 100", "rate: 100\n      bursts: [{at: 2000000h, for: 2s, factor: 2}]", 1), "bursts[0].at: must be 0 to 8760h0m0s, got 2000000h0m0s"},
		{"endless duration", strings.Replace(base, "rate: 100", "rate: 100\n      duration: 2000000h", 1), "generator.duration: must be 0 (until cancelled) to 8760h0m0s, got 2000000h0m0s"},
		{"huge latency target", strings.Replace(base, "50ms", "2000000h", 1), "spec.yaml:2:17: latency_target: must be > 0 and at most 24h0m0s, got 2000000h0m0s"},
		{"weight", base + "weight: 1e9\n", "weight: must be 0.001 to 1000, got 1e+09"},
		{"out of order", "name: q\nlatency_target: 1s\nsources:\n  - name: a\n    jsonl: {path: a}\n    event_time: {field: ts, max_out_of_order: 100000h}\n", "event_time.max_out_of_order: must be 0 to 168h0m0s, got 100000h0m0s"},
		{"join window", kw + "  - join: {with: logs2, on: key, window: 10000h}\n", "pipeline[1].join.window: must be > 0 and at most 168h0m0s"},
		{"long expression", base + "pipeline:\n  - filter: '" + strings.Repeat("ms > 1 && ", 500) + "true'\n", "pipeline[0].filter: expression of 5004 bytes: at most 4096"},
		{"duplicate generator field", strings.Replace(base, "ms: {uniform: [1, 500]}", "ms: {uniform: [1, 500]}\n        ms: {uniform: [1, 5]}", 1), "spec.yaml:10:9: sources[0].generator.fields.ms: given twice in this mapping"},
		{"duplicate map output", base + "pipeline:\n  - map: {a: ms, a: level}\n", "spec.yaml:11:18: pipeline[0].map.a: given twice in this mapping"},
		{"duplicate aggregate", kw + "  - window: {tumbling: 1s}\n    aggregate: {n: count(), n: sum(ms)}\n", "pipeline[1].aggregate.n: given twice in this mapping"},
		{"joined source late sink", et(", late_sink: other.jsonl"), "sources[1].event_time.late_sink: \"other.jsonl\": late events of the whole stream go to sources[0]'s late_sink"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("spec.yaml", []byte(tc.spec))
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
		})
	}
	// The same settings on a joined source as on sources[0] are fine.
	if _, err := Parse("spec.yaml", []byte(et(", allowed_lateness: 1s, late_sink: late.jsonl"))); err != nil {
		t.Errorf("equal settings refused: %v", err)
	}
	if _, err := Parse("spec.yaml", []byte(et(""))); err != nil {
		t.Errorf("unset settings refused: %v", err)
	}
}

// Event times that would wrap a watermark or a window end are refused with
// ErrEventTimeRange (the source counts them dropped), at each format.
func TestEventTimeRange(t *testing.T) {
	for _, tc := range []struct {
		format string
		v      any
		ok     bool
	}{
		{"unix_ms", -9_000_000_000_000_000, false}, // the hugely negative ts
		{"unix_ms", 1_764_000_000_000, true},
		{"unix_ns", int64(1) << 62, true},
		{"unix_ns", int64(1)<<62 + 1, false},
		{"unix_ns", int64(-1) << 62, true},
		{"unix_ns", int64(-1)<<62 - 1, false},
		{"unix_s", 4_700_000_000.0, false},
		{"rfc3339", "2200-01-01T00:00:00Z", false},
		{"rfc3339", "2026-12-02T10:00:00Z", true},
	} {
		_, err := EventTimeOf(MakeFields(map[string]any{"ts": tc.v}), &EventTime{Field: "ts", Format: tc.format})
		if (err == nil) != tc.ok {
			t.Errorf("%s %v: err %v, want ok %v", tc.format, tc.v, err, tc.ok)
		}
		if err != nil && !tc.ok && !errors.Is(err, ErrEventTimeRange) {
			t.Errorf("%s %v: %v does not wrap ErrEventTimeRange", tc.format, tc.v, err)
		}
	}
}
