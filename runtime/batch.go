package runtime

import (
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
}

var _ actors.Prioritized = (*batch)(nil)

// own returns a copy of b that shares nothing with the sender: what a
// lent batch (router.go, edge.lend) becomes when it is posted after all.
func (b *batch) own() *batch {
	c := *b
	if len(b.events) > 0 {
		c.events = append(make([]query.Event, 0, len(b.events)), b.events...)
	}
	return &c
}

// Priorities implements actors.Prioritized.
func (b *batch) Priorities() (local, global int64) { return b.ctx.Local, b.ctx.Global }
