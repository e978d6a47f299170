package runtime

import (
	"math/bits"
	"sync"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
)

// batch is the in-process actor message: events of one query bound for one
// operator instance, with their scheduling context (priority.PriorityContext). It never
// straddles a window boundary of its receiver. Between processes the same
// content travels as an actorspb.Envelope.
//
// Watermark marks are ordered per edge: seq numbers the messages one sender
// sends one receiver, and the receiver applies wm, idle and closed only once
// every earlier message of that edge was processed. The deadline mailbox
// may run a later message first (a lower window id is more urgent); the
// marks still take effect in the order they were sent, so which events are
// late never depends on the schedule.
type batch struct {
	ctx    priority.PriorityContext
	events []query.Event
	input  int    // the sender's input index at the receiver
	seq    uint64 // per edge, from 0
	wm     int64  // the sender's watermark after these events
	idle   bool   // the sender's inputs are idle: do not hold the watermark back
	closed bool   // the sender ended: nothing follows on this edge
	sent   int64  // clock time of posting, for the queueing delay
	weight int64  // its part of the query's in-flight count (Query.charge)
	// resume: no input, but an instance's message to itself to go on with
	// a firing under way (instance.fire).
	resume bool
	// counted: its receiver's queued count took it (fromSource).
	counted bool
	// pooled: events came from eventSlices and go back once the receiver
	// ran the batch (instance.deliver); a lent batch's events are its
	// sender's.
	pooled bool
}

var _ actors.Prioritized = (*batch)(nil)

// own returns a copy of b that shares nothing with the sender: what a
// lent batch (router.go, edge.lend) becomes when it is posted after all.
func (b *batch) own() *batch {
	c := *b
	if len(b.events) > 0 {
		c.events, c.pooled = append(getEvents(len(b.events)), b.events...), true
	}
	return &c
}

// Event slices of messages are recycled: a message's events are copied out
// of the sender's buffer into a slice from these pools and handed back,
// cleared, once the receiver ran the message. No receiver keeps the slice
// (the state machines copy the events they keep, sinks must not keep what
// Write was given), so a message allocates nothing per event once the
// pools are warm. One pool per power of two from 1 to 4,096 events;
// larger messages allocate. The classes start at one event: a small
// query's message holds one or two, and while messages wait in a backlog
// their slices are out of the pool, so a slice of 16 (the first floor)
// made each of them hold 1.1 KiB for 72 bytes of event: 1.5 GB of heap
// behind 10,000 small queries that had fallen behind (E15).
var eventSlices [13]sync.Pool

const minPooled, maxPooled = 1, 4096

func poolClass(n int) int { return bits.Len(uint(max(n, minPooled) - 1)) }

// getEvents returns an empty slice with room for n events.
func getEvents(n int) []query.Event {
	if n > maxPooled {
		return make([]query.Event, 0, n)
	}
	c := poolClass(n)
	if p, _ := eventSlices[c].Get().(*[]query.Event); p != nil {
		return (*p)[:0]
	}
	return make([]query.Event, 0, minPooled<<c)
}

// putEvents hands s back, cleared so that it holds nothing alive.
func putEvents(s []query.Event) {
	n := cap(s)
	if n < minPooled || n > maxPooled || n&(n-1) != 0 {
		return
	}
	s = s[:n]
	clear(s)
	s = s[:0]
	eventSlices[poolClass(n)].Put(&s)
}

// Priorities implements actors.Prioritized.
func (b *batch) Priorities() (local, global int64) { return b.ctx.Local, b.ctx.Global }
