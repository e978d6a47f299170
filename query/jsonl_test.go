package query

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestDecodeLine(t *testing.T) {
	et := &EventTime{Field: "ts", Format: "unix_ms"}
	ev, err := DecodeLine([]byte(`{"key":"a","ts":1700000000123,"n":3,"x":2.5,"big":12345678901234567890,"o":{"m":1},"l":[1,2.5]}`), et)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Key != "a" || ev.EventTime != 1700000000123*1e6 {
		t.Fatalf("key %q event time %d", ev.Key, ev.EventTime)
	}
	if ev.Fields.Get("n") != 3 || ev.Fields.Get("x") != 2.5 || ev.Fields.Get("big") != 12345678901234567890.0 {
		t.Fatalf("numbers: %#v", ev.Fields)
	}
	if ev.Fields.Get("o").(map[string]any)["m"] != 1 || ev.Fields.Get("l").([]any)[1] != 2.5 {
		t.Fatalf("nested: %#v", ev.Fields)
	}
	if _, ok := ev.Fields.Lookup("key"); ok {
		t.Fatal("key stays a field")
	}
	for _, f := range []struct {
		format, v string
		want      int64
	}{
		{"unix_s", "1.5", 1_500_000_000},
		{"unix_ns", "42", 42},
		{"rfc3339", `"1970-01-01T00:00:01.25Z"`, 1_250_000_000},
	} {
		ev, err := DecodeLine([]byte(`{"ts":`+f.v+`}`), &EventTime{Field: "ts", Format: f.format})
		if err != nil || ev.EventTime != f.want {
			t.Errorf("%s %s: %d, %v; want %d", f.format, f.v, ev.EventTime, err, f.want)
		}
	}
}

func TestDecodeLineErrors(t *testing.T) {
	et := &EventTime{Field: "ts", Format: "unix_ms"}
	for line, want := range map[string]string{
		``:                         "want a JSON object",
		`[1]`:                      "want a JSON object",
		`{"a":1} {"b":2}`:          "data after the object",
		`{"a":`:                    "unexpected EOF",
		`{"ts":"x"}`:               `"x" (string) is not a number`,
		`{"n":1}`:                  `event_time field "ts" missing`,
		`{"ts":1,"arrival":2}`:     `field "arrival" is a built-in`,
		`{"ts":1,"key":[1]}`:       "must be a string or a number",
		`{"ts":1e300}`:             "out of range",
		`{"ts":1,"a":1}garbage`:    "data after the object",
		`{"ts":1, "event_time":0}`: `field "event_time" is a built-in`,
	} {
		_, err := DecodeLine([]byte(line), et)
		if !errors.Is(err, ErrBadLine) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", line, err, want)
		}
	}
	if _, err := DecodeLine([]byte(`{"ts":"2026-13-01"}`), &EventTime{Field: "ts", Format: "rfc3339"}); err == nil || !strings.Contains(err.Error(), "not RFC 3339") {
		t.Errorf("rfc3339: %v", err)
	}
}

// FuzzDecodeLine checks that no input panics and that what decodes is an
// object whose key and fields are consistent.
func FuzzDecodeLine(f *testing.F) {
	for _, s := range []string{`{"key":"a","ts":1,"v":2.5}`, `{"ts":"2026-11-23T00:00:00Z"}`, `{}`, `{"a":[{"b":1e400}]}`, `nope`, `{"key":1}`} {
		f.Add([]byte(s), "unix_ms")
		f.Add([]byte(s), "rfc3339")
	}
	f.Fuzz(func(t *testing.T, line []byte, format string) {
		ev, err := DecodeLine(line, &EventTime{Field: "ts", Format: format})
		if err != nil {
			if !errors.Is(err, ErrBadLine) {
				t.Fatalf("error not wrapping ErrBadLine: %v", err)
			}
			return
		}
		for _, b := range []string{"key", "arrival", "event_time"} {
			if _, ok := ev.Fields.Lookup(b); ok {
				t.Fatalf("built-in %q left in fields", b)
			}
		}
	})
}

// Go sources hand in any integer or float type.
func TestEventTimeOfGoTypes(t *testing.T) {
	et := &EventTime{Field: "ts", Format: "unix_ms"}
	for _, v := range []any{int64(1500), int32(1500), uint64(1500), 1500, float32(1500), 1500.0} {
		if got, err := EventTimeOf(MakeFields(map[string]any{"ts": v}), et); err != nil || got != 1_500_000_000 {
			t.Errorf("%T: %d, %v", v, got, err)
		}
	}
	if _, err := EventTimeOf(MakeFields(map[string]any{"ts": int64(math.MaxInt64 / 10)}), et); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("overflow: %v", err)
	}
}

// TestLineDecoderMatchesDecodeLine: one decoder over lines of changing
// shapes, bad lines among them, gives what DecodeLine gives each line,
// and an event it returned is not changed by the lines decoded after it.
func TestLineDecoderMatchesDecodeLine(t *testing.T) {
	lines := []string{
		`{"a":1,"b":"x"}`,
		`{"a":2,"b":"y"}`,
		`{"b":"z","a":3}`,
		`{"a":4}`,
		`{"a":5,"b":"w","c":[1,{"d":2}]}`,
		`{"a":6,"b":`, // cut: its partial fields must not leak into the next
		`{"key":7,"a":8}`,
		`{"a":9,"b":"v"} {"a":10}`,
		`{"a":11,"arrival":1}`,
		`{"a":12,"b":"u"}`,
		`{}`,
		`{"a":13,"b":"t"}`,
	}
	var d LineDecoder
	var kept []Event
	for i, l := range lines {
		want, werr := DecodeLine([]byte(l), nil)
		got, gerr := d.Decode([]byte(l), nil)
		if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
			t.Fatalf("line %d: error %v, DecodeLine %v", i, gerr, werr)
		}
		if got.Key != want.Key || !got.Fields.Equal(want.Fields) {
			t.Fatalf("line %d: %q %v, DecodeLine %q %v", i, got.Key, got.Fields, want.Key, want.Fields)
		}
		if gerr == nil {
			kept = append(kept, got)
		}
	}
	for _, ev := range kept {
		if a, ok := ev.Fields.Lookup("a"); ok && a == 13 && ev.Fields.Get("b") != "t" {
			t.Fatalf("last event changed: %v", ev.Fields)
		}
	}
	if kept[0].Fields.String() != `map[a:1 b:x]` {
		t.Fatalf("first event changed by later lines: %v", kept[0].Fields)
	}
}

func BenchmarkDecodeLine(b *testing.B) {
	line := []byte(`{"key":"k17","user":"u123","page":"/a/b","ms":17,"price":3.25,"ts":1700000000123}`)
	et := &EventTime{Field: "ts", Format: "unix_ms"}
	b.Run("func", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeLine(line, et); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decoder", func(b *testing.B) {
		b.ReportAllocs()
		var d LineDecoder
		for b.Loop() {
			if _, err := d.Decode(line, et); err != nil {
				b.Fatal(err)
			}
		}
	})
}
