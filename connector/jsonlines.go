package connector

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/cameo-go/cameo/query"
)

// AppendJSON appends ev as one JSON line: {"key":...,<fields by name>}.
// Fields that cannot be encoded (a user function's channel, say) are
// written as their error text rather than lost.
func AppendJSON(buf []byte, ev *query.Event) []byte {
	buf = append(buf, `{"key":`...)
	buf = appendString(buf, ev.Key)
	for name, v := range ev.Fields.All() { // in name order
		if name == "key" {
			continue
		}
		buf = append(buf, ',')
		buf = appendString(buf, name)
		buf = append(buf, ':')
		buf = appendValue(buf, v)
	}
	return append(buf, '}', '\n')
}

func appendValue(buf []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return appendString(buf, x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return appendString(buf, strconv.FormatFloat(x, 'g', -1, 64))
		}
		return strconv.AppendFloat(buf, x, 'g', -1, 64)
	case int:
		return strconv.AppendInt(buf, int64(x), 10)
	case int64:
		return strconv.AppendInt(buf, x, 10)
	case bool:
		return strconv.AppendBool(buf, x)
	case nil:
		return append(buf, "null"...)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return appendString(buf, "unencodable: "+err.Error())
	}
	return append(buf, b...)
}

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			buf = append(buf, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, `\ufffd`...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}

// appendLines appends events as JSON lines.
func appendLines(buf []byte, events []query.Event) []byte {
	for i := range events {
		buf = AppendJSON(buf, &events[i])
	}
	return buf
}

// LineWriter writes results as JSON lines (AppendJSON), one Write of a
// batch at a time from any number of goroutines: the output of the
// stdout and file sinks, and of a query's late and shed side sinks.
type LineWriter struct {
	mu sync.Mutex
	w  io.Writer
	c  io.Closer
}

// NewLineWriter writes to w; Close closes c (nil: nothing to close).
func NewLineWriter(w io.Writer, c io.Closer) *LineWriter { return &LineWriter{w: w, c: c} }

// Write writes events, one line each, in one write.
func (l *LineWriter) Write(events []query.Event) error {
	if len(events) == 0 {
		return nil
	}
	buf := appendLines(make([]byte, 0, 64*len(events)), events)
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.w.Write(buf)
	return err
}

// Close closes the writer's file, if it has one.
func (l *LineWriter) Close() error {
	if l.c == nil {
		return nil
	}
	return l.c.Close()
}

// decodeRecord makes the event of a broker's record whose value is a JSON
// object (decoded as a JSON line by the input's dec): with what the broker
// adds (its key, its time as a field: add), and its event time when the
// source has event time. It returns the time the engine stamps the event with (its
// arrival, now, or its event time); ok false: the record made no event,
// and was dropped and counted with where it was (where).
func decodeRecord(env *Env, dec *query.LineDecoder, value []byte, now int64, add func(*query.Event), where func() string) (ev query.Event, t int64, ok bool) {
	ev, err := dec.Decode(value, nil)
	et := env.EventTime
	if err == nil {
		add(&ev)
		if et != nil {
			ev.EventTime, err = query.EventTimeOf(ev.Fields, et)
		}
	}
	if err != nil {
		env.Drop(0, fmt.Errorf("%s: %w", where(), err))
		return query.Event{}, math.MinInt64, false
	}
	if et == nil {
		return ev, now, true
	}
	return ev, ev.EventTime, true
}
