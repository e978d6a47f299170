package runtime

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/actors/actorspb"
	"github.com/cameo-go/cameo/connector"
	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
)

// costWindow is how many executions an instance's cost profile averages
// (the prototype's STATS_COUNTER_QUEUE_SIZE).
const costWindow = 100

// instance is one operator instance: an actor that runs one step's state
// machine (or the sink) on the messages of its inputs. The actor runs one
// message at a time, so its fields need no lock; what other actors read of
// it (its published reply) is atomic.
type instance struct {
	q    *Query
	st   *stage
	idx  int
	id   string
	pid  *actor.PID
	in   *inputs
	side []int8 // input → 0 (the stream) or 1 (the source a join joins)
	// stateBytes is what this instance last charged to the query's
	// memory budget.
	stateBytes int64
	// carry and carryEvents are what the message running here still holds
	// of the in-flight count and queued events (Query.charge).
	carry, carryEvents int64
	out                *router
	machine            query.Machine    // the step's state machine; nil for the sink
	sink               connector.Output // the sink's output
	profile            *priority.CostProfile
	paths              priority.PathCosts
	reply              publishedReply
	queueing           int64 // moving average of the inbound queueing delay
	// eventCost is a moving average of the cost of one event here (ns),
	// read by the senders to size their messages (router.sendEdge).
	eventCost atomic.Int64
	advanced  int64 // the watermark windows were last advanced to
	// A firing in slices (fire): under way, the arrival its results count
	// from, the last watermark fully fired (what is sent on), and whether a
	// message to go on with it is posted.
	firing        bool
	fireArrival   int64
	fired         int64
	resumePending bool
	scratch       []query.Event
	ended         bool
	// nested is the time the message running here spent in receivers it
	// ran inline (router.go, inline), left out of its own cost; lastWhole
	// is the time the last message run here took with them (0 when it did
	// not run), which its inline sender reads.
	nested, lastWhole int64
	// turnStart is when the outermost message of the chain running here
	// began: this instance's own, or its inline sender's (chained).
	turnStart int64
	chained   bool
	// closePending: the sink's inputs all closed in the message running
	// here; the sink closes (and the query ends) after it (closeIfPending).
	closePending bool
	// queued counts the batches a source sent to this instance's mailbox
	// that it has not finished (router.go, fromSource).
	queued atomic.Int64

	// In a cluster: the node it runs on, and whether that is another
	// node (then this instance only stands for it: its pid is remote, its
	// reply is what the last EdgeReply carried).
	node      string
	elsewhere bool
}

var _ actor.Actor = (*instance)(nil)

func (q *Query) newInstance(st *stage, si, idx int, node string) (*instance, error) {
	x := &instance{q: q, st: st, idx: idx, id: fmt.Sprintf("%s/%d/%d", q.id, si, idx), profile: priority.NewCostProfile(costWindow, 0), advanced: query.NoWatermark, fired: query.NoWatermark, node: node}
	if q.pl != nil && node != q.eng.cluster.cfg.Name {
		x.elsewhere = true
		return x, nil
	}
	n := st.inputs + len(st.extra)
	x.in = newInputs(n)
	x.side = make([]int8, n)
	if st.kind == query.KindJoin {
		for i := st.inputs; i < n; i++ {
			x.side[i] = 1
		}
	}
	var err error
	if st.kind == query.KindSink {
		x.sink, err = connector.OpenOutput(q.spec.Sink.Output, q.connectorEnv(nil))
		if err == nil {
			q.sinkOut = x.sink
			q.delivery.Store(newDelivery(spanOf(q.spec, q.lateness()), x.sink))
		}
	} else {
		x.machine, err = q.plan.Machine(si, q.stepLateness(si))
	}
	if err != nil {
		return nil, fmt.Errorf("query %s: %s: %w", q.spec.Name, st.label, err)
	}
	return x, nil
}

// published returns the instance's reply context: its cost and path cost
// as the policy prepares them (the paper's reply path; in-process senders
// read it instead of receiving an acknowledgement per message).
func (x *instance) published() priority.Reply { return x.reply.load() }

// publishedReply is an instance's last reply, for its senders to read
// without a lock: one atomic word per field, so that publishing one per
// message allocates nothing. A reader may see the fields of two
// consecutive replies mixed; each is an estimate of the same moving
// figures, so the mix is one too.
type publishedReply struct {
	from                          atomic.Pointer[string] // nil: none published yet
	cost, path, queueing, network atomic.Int64
}

func (p *publishedReply) store(r priority.Reply) {
	if f := p.from.Load(); f == nil || *f != r.From {
		from := r.From
		defer p.from.Store(&from) // last: a reader that sees it sees the figures
	}
	p.cost.Store(r.Cost)
	p.path.Store(r.PathCost)
	p.queueing.Store(r.Queueing)
	p.network.Store(r.Network)
}

func (p *publishedReply) load() priority.Reply {
	f := p.from.Load()
	if f == nil {
		return priority.Reply{}
	}
	return priority.Reply{From: *f, Cost: p.cost.Load(), PathCost: p.path.Load(), Queueing: p.queueing.Load(), Network: p.network.Load()}
}

// Receive implements actor.Actor.
func (x *instance) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *batch:
		x.deliver(m)
		if m.counted {
			x.queued.Add(-1)
		}
	case *actorspb.Envelope:
		x.receiveRemote(m)
		return
	case *actor.MessageEnvelope:
		if env, ok := m.Message.(*actorspb.Envelope); ok {
			x.receiveRemote(env)
		}
		return
	}
	// Anything else is a lifecycle message.
}

// deliver runs one local batch: from x's mailbox, or at once from its one
// sender (inline).
func (x *instance) deliver(b *batch) {
	q := x.q
	x.lastWhole = 0
	// What the messages x sends while it runs b take their weight from
	// (Query.charge); the rest is released after.
	x.carry, x.carryEvents = b.weight, int64(len(b.events))
	defer func() {
		if testHookMessages != nil {
			testHookMessages(-1)
		}
		q.release(x.carry, x.carryEvents)
		x.carry, x.carryEvents = 0, 0
		x.closeIfPending()
		if b.pooled {
			putEvents(b.events)
			b.events, b.pooled = nil, false
		}
	}()
	x.run(b, false)
}

// closeIfPending closes the sink once its last message has been accounted
// for (sinkMessage sets closePending).
func (x *instance) closeIfPending() {
	if x.closePending {
		x.closePending = false
		x.q.closeSink(x.sink, true)
	}
}

// receiveRemote runs an envelope from another node and replies to it.
func (x *instance) receiveRemote(env *actorspb.Envelope) {
	q := x.q
	c := q.eng.cluster
	started := q.clock.Now()
	if c == nil || q.pl == nil || env.GetReceiver() != x.id {
		if c != nil {
			c.badEnv.Add(1)
		}
		return
	}
	b, err := batchOf(env)
	if err != nil {
		q.fail("%s: an envelope from %s on node %s: %v", x.st.label, env.GetSender(), env.GetSenderNode(), err)
	} else {
		x.run(b, true)
	}
	c.reply(x, env, x.published(), started)
	x.closeIfPending()
}

// run processes one message; remote ones have their queueing measured by
// the reply instead.
func (x *instance) run(b *batch, remote bool) {
	q := x.q
	if x.ended || q.failed.Load() {
		return
	}
	defer func() { q.recovered(x.st.label, recover()) }()
	start := q.clock.Now()
	if !x.chained {
		x.turnStart = start
	}
	x.nested = 0
	var queueing int64
	if !remote {
		queueing = max(0, start-b.sent)
	}
	var emitted int
	if x.st.kind == query.KindSink {
		emitted = x.sinkMessage(b, start)
	} else {
		emitted = x.operatorMessage(b, start)
	}
	end := q.clock.Now()
	// The work of this message here, and with what it ran inline
	// downstream: the policy's costs take the first (each step's own), the
	// senders sizing messages for x the second (what a message to x sets
	// off in x's turn).
	whole := max(0, end-start)
	x.lastWhole = whole
	cost := max(0, whole-x.nested)
	x.profile.Observe(cost)
	if n := int64(len(b.events)); n > 0 {
		per := whole / n
		if old := x.eventCost.Load(); old > 0 {
			per = old + (per-old)/8
		}
		x.eventCost.Store(max(per, 1))
	}
	if !remote {
		x.queueing += (queueing - x.queueing) / 8
	}
	rep := q.policy.PrepareReply(end, b.ctx, priority.Reply{From: x.id, Cost: x.profile.Mean(), PathCost: x.paths.Max(), Queueing: x.queueing})
	x.reply.store(rep)
	x.st.metrics.Observe(len(b.events), emitted, queueing, cost)
}

// shed drops, under overload policy shed, the events of b that waited
// longer than shed_after since they were due (their arrival stamp), counts
// them and writes them to the shed sink; false when the query failed
// writing them.
func (x *instance) shed(b *batch, now int64) bool {
	q := x.q
	keep := b.events[:0]
	var shed []query.Event
	oldest := now
	for _, ev := range b.events {
		if now-ev.Arrival > q.shedAfter {
			shed = append(shed, ev)
			oldest = min(oldest, ev.Arrival)
			continue
		}
		keep = append(keep, ev)
	}
	if len(shed) == 0 {
		return true
	}
	b.events = keep
	q.metrics.Shed(len(shed), x.st.label, fmt.Errorf("%d events waited more than shed_after %v (the oldest %v)", len(shed), time.Duration(q.shedAfter), time.Duration(now-oldest).Round(time.Millisecond)))
	if q.shed != nil {
		if err := q.shed.Write(shed); err != nil {
			q.fail("shed sink: %v", err)
			return false
		}
	}
	return true
}

// operatorMessage runs one message through the step's state machine and
// sends what it emits on; it returns how many events it emitted.
func (x *instance) operatorMessage(b *batch, now int64) int {
	out := x.scratch[:0]
	if b.resume {
		x.resumePending = false
	} else if !x.input(b, now, &out) {
		return 0
	}
	wm := x.in.current()
	sendWM := wm
	if x.st.kind.Stateful() {
		var ok bool
		if out, ok = x.fire(b, wm, out); !ok {
			return 0
		}
		sendWM = x.fired
	}
	x.chargeState()
	// Closed once nothing is left to fire: neither a firing under way nor
	// one its last watermark asks for (a message to go on is posted).
	closed := x.in.closed() && !x.firing && !x.resumePending
	x.out.send(now, b.ctx, out, mark{wm: sendWM, idle: x.in.idle(), closed: closed})
	if closed {
		x.ended = true
	}
	n := len(out)
	clear(out)
	x.scratch = out[:0]
	return n
}

// fire advances the step's windows to wm. A machine that can (a window's,
// query.Slicer) fires in slices of at most Config.FireSlice results per
// message: while a firing is under way the instance posts itself a message
// to go on with it, at the same priority, so that other work runs between
// the slices; the watermark it sends on stays at the last one fully fired,
// so that nothing downstream takes the firing's results for late. false:
// the query failed (its memory budget).
func (x *instance) fire(b *batch, wm int64, out []query.Event) ([]query.Event, bool) {
	q := x.q
	slicer, _ := x.machine.(query.Slicer)
	budget := q.eng.cfg.FireSlice
	for budget > 0 {
		if !x.firing {
			if wm == query.NoWatermark || wm <= x.advanced {
				break
			}
			if !x.affordFiring(wm) {
				return out, false
			}
			x.advanced, x.firing, x.fireArrival = wm, true, b.ctx.Arrival
		}
		var res []query.Event
		more := false
		if slicer != nil {
			res, more = slicer.AdvanceSome(x.advanced, x.fireArrival, budget)
			budget -= len(res)
		} else {
			res = x.machine.Advance(x.advanced, x.fireArrival)
		}
		if q.et == nil {
			// Processing time: the frontier input of a window's result is
			// the first input past its end, due at the end itself.
			for i := range res {
				res[i].Arrival = res[i].EventTime + 1
			}
		}
		out = append(out, res...)
		if more {
			break
		}
		x.firing, x.fired = false, x.advanced
	}
	if x.firing || wm != query.NoWatermark && wm > x.advanced {
		x.resume(b)
	}
	return out, true
}

// resume posts the instance a message to go on with its firing, once.
func (x *instance) resume(b *batch) {
	if x.resumePending {
		return
	}
	x.resumePending = true
	q := x.q
	q.charge(x, 1, 0)
	if testHookMessages != nil {
		testHookMessages(1)
	}
	q.eng.sys.Root.Send(x.pid, &batch{ctx: b.ctx, resume: true, input: -1, sent: q.clock.Now(), weight: 1})
}

// input runs the events of b through the step's state machine into out,
// counting what it drops and what is late, and takes b's mark. false: the
// query failed.
func (x *instance) input(b *batch, now int64, outp *[]query.Event) bool {
	q := x.q
	// Events, or results of a window upstream (accounting.go): the inputs
	// past the stream's (a join's or union's own sources) carry events.
	events := !x.st.results || b.input >= x.st.inputs
	if q.shedAfter > 0 && events && len(b.events) > 0 {
		if !x.shed(b, now) {
			return false
		}
	}
	partial := x.machine.Partial()
	out, errs, late := x.machine.Run(int(x.side[b.input]), b.events, *outp)
	*outp = out
	if n := x.machine.Partial() - partial; n > 0 {
		q.metrics.LatePartial(int(n))
	}
	if len(errs) > 0 {
		if events {
			for _, err := range errs {
				q.metrics.Drop(DropExpression, x.st.label, 0, true, err)
			}
		} else {
			q.metrics.DropResults(len(errs), x.st.label, errs[len(errs)-1])
		}
	}
	if len(late) > 0 {
		if events {
			q.metrics.Late(len(late))
		} else {
			q.metrics.LateResults(len(late))
		}
		if q.late != nil {
			if err := q.late.Write(late); err != nil {
				q.fail("late side sink: %v", err)
				return false
			}
		}
	}
	x.in.apply(b.input, b.seq, mark{wm: b.wm, idle: b.idle, closed: b.closed})
	return true
}

// sinkMessage records and writes one message of results.
func (x *instance) sinkMessage(b *batch, now int64) int {
	q := x.q
	if len(b.events) > 0 {
		if q.eng.cfg.Unpaced {
			q.metrics.Emitted(len(b.events))
		} else {
			q.metrics.Results(now, b.events)
		}
		if err := x.sink.Write(b.events); err != nil {
			q.fail("sink: %v", err)
			return 0
		}
		q.tap.publish(b.events)
	}
	x.in.apply(b.input, b.seq, mark{wm: b.wm, idle: b.idle, closed: b.closed})
	q.delivery.Load().wrote(len(b.events), x.in.current())
	if x.in.closed() {
		x.ended = true
		// Closing flushes what the sink still holds (a webhook's requests in
		// flight): off the worker, so that a slow endpoint holds no worker.
		// It ends the query, so it starts once this message has given its
		// weight back (closePending: deliver, receiveRemote): a caller of
		// Wait then sees nothing in flight.
		x.closePending = true
	}
	return len(b.events)
}
