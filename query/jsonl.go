package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxLineBytes bounds one JSON line; a longer line is an error, counted as
// dropped by the engine.
const MaxLineBytes = 1 << 20

// ErrBadLine is wrapped by every DecodeLine error.
var ErrBadLine = errors.New("query: bad JSON line")

// ErrLineTooLong is wrapped (with ErrBadLine) by the error of a line over
// MaxLineBytes.
var ErrLineTooLong = errors.New("line over the limit")

// ErrNoEventTime is wrapped by EventTimeOf's errors for a missing or
// unreadable event-time field.
var ErrNoEventTime = errors.New("no event time")

// ErrNonFinite is wrapped by the error of an expression that gave NaN or
// ±Inf (a division by zero, an overflow): such a value cannot be keyed,
// summed or compared, so the event is dropped and counted.
var ErrNonFinite = errors.New("not a finite number")

// LineTooLong returns the error of a line of n bytes (n > MaxLineBytes).
func LineTooLong(n int) error {
	return fmt.Errorf("%w: %w: %d bytes or more, over the %d-byte limit", ErrBadLine, ErrLineTooLong, n, MaxLineBytes)
}

// DecodeLine decodes one JSON-lines record into an event's key and fields.
// The line must be one JSON object. Numbers become int when they are whole
// and fit in 64 bits, float64 otherwise; nested objects and arrays are kept
// as map[string]any and []any. A field "key" (string or number) becomes the
// event's key; the other built-in names, arrival and event_time, may not be
// fields of a record. When et is set, the event time is read from its
// field. Arrival and Watermark are the caller's to stamp.
func DecodeLine(line []byte, et *EventTime) (Event, error) {
	var d LineDecoder
	return d.Decode(line, et)
}

// LineDecoder decodes JSON lines as DecodeLine does, keeping what the
// lines of one input share: the map a line is read into, and the shape of
// its fields (an input's records mostly have the same names, which are then
// neither sorted nor looked up again). The zero value is ready; it is not
// safe for concurrent use.
type LineDecoder struct {
	shapes Shapes
	m      map[string]any
}

// Decode is DecodeLine with d's map and shapes.
func (d *LineDecoder) Decode(line []byte, et *EventTime) (Event, error) {
	var ev Event
	line = bytes.TrimSpace(line)
	if len(line) > MaxLineBytes {
		return ev, LineTooLong(len(line))
	}
	if len(line) == 0 || line[0] != '{' {
		return ev, fmt.Errorf("%w: want a JSON object, got %q", ErrBadLine, abbrev(line))
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if d.m == nil {
		d.m = make(map[string]any)
	}
	m := d.m
	clear(m)
	if err := dec.Decode(&m); err != nil {
		return ev, fmt.Errorf("%w: %v", ErrBadLine, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return ev, fmt.Errorf("%w: data after the object", ErrBadLine)
	}
	for name, v := range m {
		m[name] = numbers(v)
	}
	for _, reserved := range []string{"arrival", "event_time"} {
		if _, ok := m[reserved]; ok {
			return ev, fmt.Errorf("%w: field %q is a built-in of every event; rename it", ErrBadLine, reserved)
		}
	}
	if k, ok := m["key"]; ok {
		switch k := k.(type) {
		case string:
			ev.Key = k
		case int, float64:
			ev.Key = fmt.Sprint(k)
		default:
			return ev, fmt.Errorf("%w: key %s (%T) must be a string or a number", ErrBadLine, show(k), k)
		}
		delete(m, "key")
	}
	ev.Fields = d.shapes.Make(m)
	if et != nil {
		t, err := EventTimeOf(ev.Fields, et)
		if err != nil {
			return ev, fmt.Errorf("%w: %w", ErrBadLine, err)
		}
		ev.EventTime = t
	}
	return ev, nil
}

// abbrev cuts input quoted in an error to 24 bytes: enough to find the
// line, too little to carry a file's content out through the error.
func abbrev(b []byte) string {
	if len(b) > 24 {
		return string(b[:24]) + "…"
	}
	return string(b)
}

// numbers turns json.Number into int or float64, recursively.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return int(i)
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return string(x) // out of float64's range: keep the text
		}
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

// EventTimeOf reads the event time (Unix ns) of an event from its fields as
// et says: unix_s, unix_ms and unix_ns take an int or float number,
// rfc3339 a string.
func EventTimeOf(fields Fields, et *EventTime) (int64, error) {
	t, err := eventTimeOf(fields, et)
	if err == nil {
		err = CheckEventTime(t)
	}
	return t, err
}

// Event times lie within ±2^62 ns of the Unix epoch (the years 1824 to
// 2116). An event outside is dropped and counted: with every event time,
// window size, lateness and out-of-orderness bounded, no sum of them in a
// window, a watermark or a deadline can reach int64's ends.
const (
	MinEventTime int64 = -1 << 62
	MaxEventTime int64 = 1 << 62
)

// ErrEventTimeRange is the drop reason of an event time outside
// [MinEventTime, MaxEventTime].
var ErrEventTimeRange = errors.New("event time out of range")

// CheckEventTime returns an error wrapping ErrEventTimeRange when t is
// outside [MinEventTime, MaxEventTime].
func CheckEventTime(t int64) error {
	if t < MinEventTime || t > MaxEventTime {
		return fmt.Errorf("%w: %d ns is outside the years 1824–2116 (±2^62 ns from the Unix epoch)", ErrEventTimeRange, t)
	}
	return nil
}

func eventTimeOf(fields Fields, et *EventTime) (int64, error) {
	v, ok := fields.Lookup(et.Field)
	if !ok {
		return 0, fmt.Errorf("%w: event_time field %q missing", ErrNoEventTime, et.Field)
	}
	if et.Format == "rfc3339" {
		s, ok := v.(string)
		if !ok {
			return 0, fmt.Errorf("%w: event_time field %q: %s (%T) is not an RFC 3339 string", ErrNoEventTime, et.Field, show(v), v)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("%w: event_time field %q: %s is not RFC 3339 (like 2026-11-23T10:00:00Z)", ErrNoEventTime, et.Field, show(s))
		}
		return t.UnixNano(), nil
	}
	unit := map[string]float64{"unix_s": 1e9, "unix_ms": 1e6, "unix_ns": 1, "": 1e6}[et.Format]
	if unit == 0 {
		return 0, fmt.Errorf("event_time format %q: want one of %s", et.Format, strings.Join(EventTimeFormats, ", "))
	}
	i, f, ok := number(v)
	switch {
	case !ok:
	case isFloat(v):
		f *= unit
		if math.IsNaN(f) || math.Abs(f) >= math.MaxInt64 {
			return 0, fmt.Errorf("event_time field %q: %v %s: %w", et.Field, v, et.Format, ErrEventTimeRange)
		}
		return int64(f), nil
	default:
		if u := int64(unit); i > math.MaxInt64/u || i < math.MinInt64/u {
			return 0, fmt.Errorf("event_time field %q: %v %s: %w", et.Field, v, et.Format, ErrEventTimeRange)
		}
		return i * int64(unit), nil
	}
	return 0, fmt.Errorf("%w: event_time field %q: %s (%T) is not a number", ErrNoEventTime, et.Field, show(v), v)
}

// show prints a value for an error: strings quoted, long values cut.
func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(abbrev([]byte(s)))
	}
	return abbrev([]byte(fmt.Sprint(v)))
}
