package runtime

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/cameo-go/cameo/query"
)

// Accounting: nothing is lost silently. Every event a source reads,
// generates or is handed is counted read, and ends in exactly one of:
//
//	read = in + late + dropped
//
// where dropped is counted by reason (DropReason), late counts events that
// came after every window they belong to had fired, and in counts the rest:
// the events the query computed with (a filter that keeps none of them is a
// result of that computation, not a loss). The identity holds exactly once
// a query has ended; while it runs, events in flight are in. Results (what
// windows and joins emit) are not events: a result dropped by an
// expression downstream of a window, or late at a second window, is
// counted in results_dropped and results_late instead. An event late for
// some of its sliding windows but not all is in, and counted in
// late_partial (one count per event, whatever the number of windows it
// missed). Under backpressure (the default overload policy) a source that
// cannot keep up waits and nothing is shed; under `overload: {policy:
// shed}` an event that waited past shed_after is dropped with reason shed
// (and written to the shed sink, if any).

// DropReason is why an event was dropped.
type DropReason uint8

// The reasons an event is dropped.
const (
	DropUndecodable    DropReason = iota // not a JSON object, bad JSON
	DropOverLimit                        // a line over query.MaxLineBytes
	DropNoEventTime                      // its event-time field missing or unreadable
	DropEventTimeRange                   // event time outside query.MinEventTime..MaxEventTime
	DropExpression                       // an expression, key or user function failed, or gave NaN or ±Inf
	DropShed                             // waited past its query's overload.shed_after
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"undecodable", "over_limit", "no_event_time", "event_time_range", "expression_error", "shed"}

func (r DropReason) String() string { return dropReasonNames[r] }

// dropReasonOf classifies a source's error.
func dropReasonOf(err error) DropReason {
	switch {
	case errors.Is(err, query.ErrLineTooLong):
		return DropOverLimit
	case errors.Is(err, query.ErrEventTimeRange):
		return DropEventTimeRange
	case errors.Is(err, query.ErrNoEventTime):
		return DropNoEventTime
	case errors.Is(err, query.ErrBadLine):
		return DropUndecodable
	}
	return DropExpression
}

// MaxBadInputs is how many bad inputs a query keeps, the first ones, with
// where they were and why.
const MaxBadInputs = 10

// badInputs keeps the first MaxBadInputs.
type badInputs struct {
	mu   sync.Mutex
	list []BadInput
}

func (b *badInputs) add(in BadInput) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.list) < MaxBadInputs {
		b.list = append(b.list, in)
	}
}

func (b *badInputs) full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.list) >= MaxBadInputs
}

func (b *badInputs) snapshot() []BadInput {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BadInput(nil), b.list...)
}

// maxReasonBytes bounds a drop reason kept or shown.
const maxReasonBytes = 240

// safeReason bounds a reason for the API: at most maxReasonBytes, and no
// control bytes (a reason can carry bits of input).
func safeReason(s string) string {
	if len(s) > maxReasonBytes {
		s = s[:maxReasonBytes] + "…"
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsGraphic(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r) // '\n', '\x00', '\u2028'
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}
