package runtime

import (
	"math"
	"time"

	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
)

// router is the sending side of one sender (an operator instance or a
// source) toward the instances of the next stage: it partitions events,
// cuts batches at the receiver's window boundaries, stamps each message's
// context with the query's policy (BuildAtSource or BuildAtOperator, with
// the receiver's frontier rule and its published costs), and tells every
// receiver of the sender's watermark progress. Owned by its sender; not
// safe for concurrent use.
type router struct {
	q      *Query
	from   *instance // nil for a source
	to     *stage
	mode   partition
	edges  []*edge
	rr     int
	parts  [][]query.Event // hash scratch, per edge
	paths  *priority.PathCosts
	sender string
	w      int64 // the weight of one batch through r (weight), once known
}

// transport carries a batch from a sender to one receiving instance. The
// engine picks one per edge when it builds a query: local for an instance
// in this process, the cluster for one that another node runs; the
// dataflow does not know which.
type transport interface {
	send(q *Query, sender string, to *instance, b *batch)
}

// local is the in-process transport: the batch itself is the actor
// message, counted in the query's backlog.
type local struct{}

// inline runs the batch at its receiver at once, in the sender's turn,
// as if the receiver's actor had taken it next: operator chaining. The
// engine uses it where a receiver's only sender is one instance on this
// node and the receiver keeps no state of its own that anything else
// touches (the sink, a filter, map, key_by or process step: chainable):
// its actor would get every message from that one instance anyway, in
// order, so the hop through the run queue buys nothing but its cost. The
// receiver's work runs in the sender's turn, in the same query's share;
// the sender's cost profile leaves it out (nested), so that the path
// costs the policy sums count it once.
//
// A turn is not preempted, so what runs inline is bounded: a batch runs
// inline only while the message it is part of (the outermost one of the
// chain, turnStart) stays within Config.MessageWork with the receiver's
// measured work for it added, and only while the receiver has nothing in
// its mailbox. Past that the batch goes to the receiver's mailbox, as on
// a local edge, and so does everything after it until the receiver has
// run what it was sent: the order stays the edge's. A window firing 500
// results into a chained 20 µs step was one 10 ms message; it is now a
// message of at most MessageWork and messages of MessageWork after it,
// between which the pool runs more urgent work.
type inline struct{ from *instance }

func (t inline) send(q *Query, sender string, to *instance, b *batch) {
	if t.from != nil && !t.fits(q, to, len(b.events)) {
		b = b.own()
		to.queued.Add(1)
		b.counted = true
		local{}.send(q, sender, to, b)
		return
	}
	if testHookMessages != nil {
		testHookMessages(1)
	}
	if t.from == nil {
		to.deliver(b)
		return
	}
	to.turnStart, to.chained = t.from.turnStart, true
	to.deliver(b) // run recovers what the step panics with
	to.chained = false
	t.from.nested += to.lastWhole // its run's own clock reads: none more here
}

// fits reports whether n events run inline at to within the message's
// work bound.
func (t inline) fits(q *Query, to *instance, n int) bool {
	if to.queued.Load() > 0 {
		return false
	}
	work := int64(q.eng.cfg.MessageWork)
	if work <= 0 {
		return true
	}
	est := to.eventCost.Load() * int64(n)
	return q.clock.Now()-t.from.turnStart+est <= work
}

// chainWork is the most work (ns, as the receiver measured it per event)
// a source's step runs inline at its receiver (fromSource).
const chainWork = int64(20 * time.Microsecond)

// fromSource is the transport of a source's edge to a chainable receiver
// whose only sender it is. A source's step is not a turn of the
// scheduler: it runs between turns, as a timer. So the receiver runs
// inline only when all of this holds, and otherwise gets the batch in its
// mailbox as on a local edge: the step runs on a worker (never on the
// timers' own goroutine, which must not block: a sink may); the receiver
// has nothing queued (what it has not run yet comes first, and it is not
// running); and the batch is small work as the receiver measured it
// (under chainWork), so that a worker's timers between two turns stay
// short. For a small query (an event or a few per step) this makes an
// event one timer run instead of a timer run and a message.
type fromSource struct{ src *source }

func (t fromSource) send(q *Query, sender string, to *instance, b *batch) {
	if t.src.timer != nil && t.src.timer.OnWorker() && to.queued.Load() == 0 && !q.eng.cfg.noChain {
		if per := to.eventCost.Load(); per > 0 && per*int64(max(1, len(b.events))) <= chainWork {
			inline{}.send(q, sender, to, b)
			// Work the receiver's turn would have done: in the query's share.
			q.eng.sched.Charge(q.group(), to.lastWhole)
			return
		}
	}
	// Through the mailbox: the batch and its events must outlive the step
	// (post lent them, as to an inline receiver).
	b = b.own()
	to.queued.Add(1)
	b.counted = true
	local{}.send(q, sender, to, b)
}

var (
	_ transport = local{}
	_ transport = inline{}
	_ transport = fromSource{}
	_ transport = (*cluster)(nil)
)

func (local) send(q *Query, _ string, to *instance, b *batch) {
	if testHookMessages != nil {
		testHookMessages(1)
	}
	q.eng.sys.Root.Send(to.pid, b)
}

// weight returns the in-flight weight of one batch through r: a message on
// each edge (events on some, the watermark on all), each weighing what it
// can become (Query.charge); one to another node weighs 1. The edges are
// fixed once the query is built, so it is summed once; only the goroutine
// that sends through r calls it.
func (r *router) weight() int64 {
	if r.w > 0 {
		return r.w
	}
	for _, e := range r.edges {
		if e.to.elsewhere {
			r.w++
		} else {
			r.w = priority.AddSat(r.w, e.to.st.amp)
		}
	}
	return r.w
}

// testHookMessages, set by tests before an engine starts, sees every local
// message sent (+1) and handled (−1).
var testHookMessages func(delta int64)

// edge is one sender → receiver instance connection.
type edge struct {
	via        transport
	to         *instance
	input      int // the sender's input index at the receiver
	seq        uint64
	rule       priority.FrontierRule
	lastWM     int64
	lastIdle   bool
	lastLocal  int64
	closedSent bool
	// lend: the receiver may take the batch inline (inline, fromSource),
	// where it keeps neither the batch nor its events past the call: post
	// lends the sender's events and this edge's spare batch instead of
	// copying them into a new message; a transport that posts it after all
	// copies it (batch.own).
	lend  bool
	spare batch
}

// newRouter connects from (nil: the source src) to stage to. extra >= 0
// names the join or union source of to that sends; -1 is the stream's own
// edge.
func (q *Query) newRouter(from *instance, src *source, to *stage, extra int) *router {
	r := &router{q: q, from: from, to: to, mode: to.in, paths: &priority.PathCosts{}}
	sender, side := 0, 0
	if from != nil {
		sender, r.paths, r.sender = from.idx, &from.paths, from.id
	}
	input := sender
	if extra >= 0 {
		input, side = to.inputs+extra, 1
		r.mode = roundRobin
		if to.keyed || to.kind == query.KindJoin {
			r.mode = hashKey
		}
	}
	// Chaining (inline, fromSource): the receiver's only sender is this
	// one (one input from the stream, no join or union sources), and it is
	// the sink or a stateless step.
	chain := extra < 0 && to.inputs == 1 && len(to.extra) == 0 && (to.kind == query.KindSink || to.kind.Stateless()) && !q.eng.cfg.noChain
	add := func(x *instance, input int) {
		var via transport = local{}
		switch {
		case x.elsewhere:
			via = q.eng.cluster
		case chain && from != nil:
			via = inline{from: from}
		case chain && src != nil:
			via = fromSource{src: src}
		}
		_, local := via.(local)
		r.edges = append(r.edges, &edge{via: via, to: x, input: input, rule: q.ruleFor(to, x, side), lastWM: query.NoWatermark, lend: !local && !x.elsewhere})
	}
	switch {
	case r.mode == forward:
		add(to.insts[sender], 0)
	case r.mode == single:
		add(to.insts[0], input)
	default:
		for _, x := range to.insts {
			add(x, input)
		}
	}
	if len(r.edges) == 1 {
		r.mode = single
	}
	r.parts = make([][]query.Event, len(r.edges))
	return r
}

// fnv32a hashes a key to pick its instance.
func fnv32a(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// send routes events and the sender's mark m. in is the context of the
// message that produced them (ignored for sources). The events slice is
// not kept.
func (r *router) send(now int64, in priority.PriorityContext, events []query.Event, m mark) {
	switch r.mode {
	case single:
		r.sendEdge(now, 0, in, events, m)
		return
	case roundRobin:
		k := -1
		if len(events) > 0 {
			k = r.rr % len(r.edges)
			r.rr++
		}
		for i := range r.edges {
			if i == k {
				r.sendEdge(now, i, in, events, m)
			} else {
				r.sendEdge(now, i, in, nil, m)
			}
		}
		return
	}
	n := uint32(len(r.edges))
	for i := range events {
		d := fnv32a(events[i].Key) % n
		r.parts[d] = append(r.parts[d], events[i])
	}
	for i := range r.edges {
		r.sendEdge(now, i, in, r.parts[i], m)
		clear(r.parts[i])
		r.parts[i] = r.parts[i][:0]
	}
}

// sendEdge posts events to one edge, cut at the receiver's window
// boundaries, or only the mark when there are no events and it says
// something new.
func (r *router) sendEdge(now int64, i int, in priority.PriorityContext, events []query.Event, m mark) {
	e := r.edges[i]
	if e.closedSent {
		return
	}
	if len(events) == 0 {
		if m.wm > e.lastWM || m.idle != e.lastIdle || m.closed {
			r.post(now, e, in, nil, m)
		}
		return
	}
	w := r.to.window
	if w == nil {
		r.postSized(now, e, in, events, m)
		return
	}
	// A batch never straddles a window boundary of the receiver: cut it
	// where the earliest window of the events changes. Only the last piece
	// carries the new mark.
	start := 0
	k := w.Earliest(r.q.axis(&events[0]))
	for j := 1; j < len(events); j++ {
		if kj := w.Earliest(r.q.axis(&events[j])); kj != k {
			r.postSized(now, e, in, events[start:j], mark{wm: e.lastWM, idle: e.lastIdle})
			start, k = j, kj
		}
	}
	r.postSized(now, e, in, events[start:], m)
}

// postSized posts events in messages of at most MessageWork of the
// receiver's measured work each (none cut before the receiver has run a
// message); only the last carries the mark m. The pieces go in order to
// one mailbox in one window, so the receiver runs them in order.
func (r *router) postSized(now int64, e *edge, in priority.PriorityContext, events []query.Event, m mark) {
	if work := int64(r.q.eng.cfg.MessageWork); work > 0 && !e.to.elsewhere {
		if per := e.to.eventCost.Load(); per > 0 {
			n := int(max(1, min(work/per, int64(len(events)))))
			for len(events) > n {
				r.post(now, e, in, events[:n], mark{wm: e.lastWM, idle: e.lastIdle})
				events = events[n:]
			}
		}
	}
	r.post(now, e, in, events, m)
}

// post stamps and sends one message.
func (r *router) post(now int64, e *edge, in priority.PriorityContext, events []query.Event, m mark) {
	q := r.q
	st := q.stamp(now, e.lastWM, events, m)
	var fr priority.Frontier
	if len(events) > 0 || (m.wm != query.NoWatermark && m.wm != math.MaxInt64) {
		fr = e.rule.Next(st)
	} else {
		fr = priority.Frontier{Time: st.Arrival, Local: e.lastLocal}
	}
	e.lastLocal = fr.Local
	rep := e.to.published()
	q.policy.ProcessReply(now, rep, r.paths)
	hop := priority.Hop{Frontier: fr, Cost: rep.Cost, PathCost: rep.PathCost}
	var ctx priority.PriorityContext
	if r.from == nil {
		ctx = q.policy.BuildAtSource(now, q.pq, st.Arrival, hop)
	} else {
		in.Arrival = st.Arrival
		ctx = q.policy.BuildAtOperator(now, in, hop)
	}
	var b *batch
	if e.lend {
		e.spare = batch{ctx: ctx, input: e.input, seq: e.seq, wm: m.wm, idle: m.idle, closed: m.closed, sent: now}
		b = &e.spare
		if len(events) > 0 {
			b.events = events
		}
	} else {
		b = &batch{ctx: ctx, input: e.input, seq: e.seq, wm: m.wm, idle: m.idle, closed: m.closed, sent: now}
		if len(events) > 0 {
			b.events, b.pooled = append(getEvents(len(events)), events...), !e.to.elsewhere
		}
	}
	e.seq++
	e.lastWM, e.lastIdle = max(e.lastWM, m.wm), m.idle
	e.closedSent = m.closed
	if e.to.elsewhere {
		q.charge(r.from, 1, 0) // released by the reply
	} else {
		b.weight = e.to.st.amp
		q.charge(r.from, b.weight, int64(len(b.events)))
	}
	e.via.send(q, r.senderName(), e.to, b)
}

// stamp is what the receiver's frontier rule reads of a message of events
// with mark m, on an edge whose last watermark sent was lastWM.
func (q *Query) stamp(now, lastWM int64, events []query.Event, m mark) priority.Stamp {
	var st priority.Stamp
	if len(events) > 0 {
		st.Arrival, st.Time = events[0].Arrival, q.axis(&events[0])
		for i := 1; i < len(events); i++ {
			st.Arrival = min(st.Arrival, events[i].Arrival)
		}
		st.Watermark = priority.NoWatermark
		if q.et != nil && lastWM != query.NoWatermark {
			st.Watermark = lastWM
		} else if q.et == nil && m.wm != query.NoWatermark && m.wm != math.MaxInt64 {
			// Processing time: the time the sender's sources reached, which
			// is what fires the receiver's windows (WindowFrontier).
			st.Watermark = m.wm
		}
	} else {
		// A mark alone: on processing time its watermark is a time the
		// source reached; on event time it was sent now.
		st.Arrival = now
		if q.et == nil && m.wm != query.NoWatermark && m.wm != math.MaxInt64 {
			st.Arrival = m.wm
		}
		st.Time, st.Watermark = m.wm, m.wm
	}
	return st
}

func (r *router) senderName() string {
	if r.sender == "" {
		return "source"
	}
	return r.sender
}
