package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/connector"
	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime/clusterpb"
)

// Query is a submitted query: a handle to watch, wait for and cancel it.
// Safe for concurrent use.
type Query struct {
	id         string
	plan       *query.Plan
	tap        resultTap   // its results for readers (Results)
	spec       *query.Spec // the plan's spec, the query's own copy: read only
	bestEffort bool        // admitted while the node was full: its work goes after feasible work
	eng        *Engine
	pq         priority.Query
	policy     priority.Policy
	clock      actors.Clock
	metrics    *QueryMetrics
	et         *query.EventTime // the stream's event-time settings; nil: processing time
	stages     []*stage         // the pipeline's steps, then the sink
	sources    []*source
	pids       []*actor.PID
	late       *connector.LineWriter // late events' side sink; nil: counted only
	shed       *connector.LineWriter // shed events' sink; nil: counted only
	// shedAfter is how long an event may wait since it was due before a
	// step sheds it; 0: never (backpressure).
	shedAfter int64
	started   time.Time

	// In a cluster: where each instance runs (nil: all here), the
	// instances that stand for those on other nodes (by id), and the
	// backlog each peer last reported of its part.
	pl      *placement
	remote  map[string]*instance
	quiet   atomic.Bool // ended by a peer: do not tell the peers again
	backlog struct {
		sync.Mutex
		byPeer map[string]int64
		sum    atomic.Int64
	}

	// inflight is the query's in-flight count: each local message queued
	// or running weighs what it can still become (Query.charge); a
	// message bound for another node weighs 1 until its reply.
	inflight atomic.Int64
	// The memory budget (budget.go): estimated bytes of window and join
	// state, and events in local messages queued or running; bytes its
	// connectors hold (records fetched and not read, results not yet
	// acknowledged).
	stateBytes, backlogEvents, connBytes atomic.Int64
	creditWait                           atomic.Bool // a source waits for the count to fall
	failed                               atomic.Bool
	stop                                 chan struct{} // closed: sources end now
	// stopCtx is cancelled with stop, for user sources (a context, not a
	// channel, is what Go functions take).
	stopCtx    context.Context
	cancelStop context.CancelFunc
	// endCtx is cancelled when the query has ended: a sink's deliveries
	// still in flight give up.
	endCtx    context.Context
	cancelEnd context.CancelFunc
	sinkOnce  sync.Once
	sinkOut   connector.Output         // the sink's output, here (closed once)
	delivery  atomic.Pointer[delivery] // the sink's delivery frontier; nil until the sink is open
	stopOnce  sync.Once
	done      chan struct{}
	doneOnce  sync.Once
	wg        sync.WaitGroup // its sources until they closed, and the goroutines it owns

	mu struct {
		sync.Mutex
		state     State
		err       error
		cancelled bool
		ended     time.Time
	}
}

// ID returns the query's id, unique in its engine.
func (q *Query) ID() string { return q.id }

// Tenant returns the query's tenant.
func (q *Query) Tenant() string { return q.spec.Tenant }

// Plan returns the query's compiled plan.
func (q *Query) Plan() *query.Plan { return q.plan }

// Done is closed when the query has ended: drained, cancelled or failed.
func (q *Query) Done() <-chan struct{} { return q.done }

// State returns the query's state.
func (q *Query) State() State {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mu.state
}

// Err returns why the query failed (wrapping ErrQueryFailed), or nil.
func (q *Query) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mu.err
}

// Uptime returns how long the query ran, or has run so far.
func (q *Query) Uptime() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.mu.ended.IsZero() {
		return q.mu.ended.Sub(q.started)
	}
	return time.Since(q.started)
}

// Wait blocks until the query ends or ctx does; it returns the query's
// failure, or ctx's error.
func (q *Query) Wait(ctx context.Context) error {
	select {
	case <-q.done:
		return q.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Cancel ends the query's sources now and waits, within ctx, for the rest
// to drain: open windows flush and the sink closes. Its results so far
// stand. If ctx ends first the query is aborted and Cancel returns an
// error wrapping ErrDrainTimeout.
func (q *Query) Cancel(ctx context.Context) error {
	q.mu.Lock()
	if q.mu.state == StateRunning || q.mu.state == StateDraining {
		q.mu.cancelled = true
	}
	q.mu.Unlock()
	q.stopSources()
	if err := q.Wait(ctx); err != nil && ctx.Err() != nil {
		q.abort(fmt.Errorf("%w: cancel: %w", ErrDrainTimeout, ctx.Err()))
		return fmt.Errorf("%w: query %s (%s): %w", ErrDrainTimeout, q.id, q.spec.Name, ctx.Err())
	}
	return nil
}

// Stats returns a snapshot of the query's metrics.
func (q *Query) Stats() QueryStats { return q.metrics.Stats() }

// drain ends the query as Cancel does, without waiting: its sources stop,
// it drains, and it ends cancelled, with why in its log line.
func (q *Query) drain(why string) {
	q.mu.Lock()
	if q.mu.state == StateRunning || q.mu.state == StateDraining {
		q.mu.cancelled = true
	}
	q.mu.Unlock()
	q.eng.cfg.Logger.Info("query draining", "id", q.id, "name", q.spec.Name, "why", why)
	q.stopSources()
}

// stopSources asks every source to end; they send their last watermark and
// close their edges, so the query drains.
func (q *Query) stopSources() {
	q.stopOnce.Do(func() {
		q.mu.Lock()
		if q.mu.state == StateRunning {
			q.mu.state = StateDraining
		}
		q.mu.Unlock()
		close(q.stop)
		q.cancelStop()
		for _, s := range q.sources {
			if s.timer != nil {
				s.timer.Wake() // it sees the stop and ends
			}
		}
	})
}

// finish ends the query with err (nil: it drained) and stops its actors.
func (q *Query) finish(err error) {
	q.doneOnce.Do(func() {
		q.mu.Lock()
		switch {
		case err != nil:
			q.mu.state, q.mu.err = StateFailed, err
		case q.mu.cancelled:
			q.mu.state = StateCancelled
		default:
			q.mu.state = StateDone
		}
		q.mu.ended = time.Now()
		state := q.mu.state
		q.mu.Unlock()
		q.tap.end()
		q.cancelEnd()
		if q.sinkOut != nil {
			q.closeSink(q.sinkOut, false) // ended another way: what it holds is given up
		}
		for _, s := range q.sources {
			if f, ok := s.in.(connector.Finisher); ok {
				q.goOwned(func() { f.Finish(err == nil) }) // a final commit may take a round trip: off the caller
			}
		}
		if err != nil {
			q.failed.Store(true)
		}
		q.stopSources()
		for _, pid := range q.pids {
			q.eng.sys.Root.Stop(pid)
		}
		q.metrics.shareStats() // the last figures, kept after the release
		q.eng.sched.ReleaseGroup(q.group())
		if q.pl != nil && !q.quiet.Load() {
			q.tellPeers(err)
		}
		if q.late != nil {
			if cerr := q.late.Close(); cerr != nil && err == nil {
				q.eng.cfg.Logger.Warn("late side sink", "id", q.id, "err", cerr)
			}
		}
		if q.shed != nil {
			if cerr := q.shed.Close(); cerr != nil && err == nil {
				q.eng.cfg.Logger.Warn("shed sink", "id", q.id, "err", cerr)
			}
		}
		q.eng.noteEnded(q) // before done: whoever waits sees the engine's view settled
		close(q.done)
		if err != nil {
			q.eng.cfg.Logger.Error("query failed", "id", q.id, "name", q.spec.Name, "err", err)
		} else {
			q.eng.cfg.Logger.Info("query ended", "id", q.id, "name", q.spec.Name, "state", string(state))
		}
	})
}

// goOwned runs fn in a goroutine the query owns (Stop and build failures
// wait for q.wg) and the engine too: Stop waits for it even once the
// query was cancelled and forgotten.
func (q *Query) goOwned(fn func()) {
	q.wg.Add(1)
	q.eng.bg.Add(1)
	go func() {
		defer q.eng.bg.Done()
		defer q.wg.Done()
		fn()
	}()
}

// closeSink closes the sink's output once, in a goroutine the query owns;
// drained: the query drained into it, and ends (well, or failed by the
// close's error) when the close returns.
func (q *Query) closeSink(out connector.Output, drained bool) {
	q.sinkOnce.Do(func() {
		q.goOwned(func() {
			err := out.Close()
			switch {
			case err != nil && drained:
				q.fail("sink: %v", err)
			case err != nil:
				q.eng.cfg.Logger.Warn("sink close", "id", q.id, "err", err)
			case drained:
				q.finish(nil)
			}
		})
	})
}

// group is the query's share of the worker pool: its tenant, its weight
// inside the tenant and its latency target.
func (q *Query) group() actors.Group {
	return actors.Group{Tenant: q.spec.Tenant, Query: q.id, Weight: q.spec.Weight, Target: int64(q.spec.LatencyTarget), BestEffort: q.bestEffort}
}

// fail ends the query with a reason.
func (q *Query) fail(format string, args ...any) {
	q.finish(fmt.Errorf("%w: %s (%s): %s", ErrQueryFailed, q.id, q.spec.Name, fmt.Sprintf(format, args...)))
}

// recovered fails the query with a panic recovered in where (a source, an
// operator, an expression, a sink, a user function), and logs its stack:
// a panic on a query's path ends that query, never the node or the other
// queries. Call it as defer func() { q.recovered(where, recover()) }().
func (q *Query) recovered(where string, r any) {
	if r == nil {
		return
	}
	q.eng.cfg.Logger.Error("query panicked", "id", q.id, "name", q.spec.Name, "where", where, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	q.metrics.Panicked()
	q.fail("%s: panic: %v", where, r)
}

// abort ends a query that cannot drain.
func (q *Query) abort(err error) {
	q.finish(fmt.Errorf("%w: %s (%s): %w", ErrQueryFailed, q.id, q.spec.Name, err))
}

// setPeerBacklog records a peer's report of its part's backlog.
func (q *Query) setPeerBacklog(node string, n int64) {
	q.backlog.Lock()
	defer q.backlog.Unlock()
	if q.backlog.byPeer == nil {
		q.backlog.byPeer = map[string]int64{}
	}
	q.backlog.byPeer[node] = n
	var sum int64
	for _, v := range q.backlog.byPeer {
		sum += v
	}
	q.backlog.sum.Store(sum)
	if q.inflight.Load()+sum < int64(q.eng.cfg.MaxInFlight/2) {
		q.wakeSources()
	}
}

// tellPeers ends the query's parts on other nodes (the coordinator), or
// tells the coordinator this part failed (a peer).
func (q *Query) tellPeers(err error) {
	c := q.eng.cluster
	self := c.cfg.Name
	if q.pl.coordinator == self {
		reason := ""
		if err != nil {
			reason = err.Error()
		}
		for _, node := range q.pl.others {
			q.eng.sys.Root.Send(actor.NewPID(q.pl.addrs[node], clusterActor), &clusterpb.Undeploy{QueryId: q.id, Reason: reason})
		}
		return
	}
	if err != nil {
		q.eng.sys.Root.Send(actor.NewPID(q.pl.addrs[q.pl.coordinator], clusterActor), &clusterpb.PartFailed{QueryId: q.id, Node: self, Reason: err.Error()})
	}
}

// The in-flight bound between stages. Sources wait while the in-flight
// count is at Config.MaxInFlight, but a message past a key_by is a
// shuffle: one message becomes a message to each of parallelism receivers
// (events to some, watermark marks to all), and after two shuffles
// parallelism² of them. Counting messages, the bound held only at the
// sources: parallelism 64 with a bound of 256 put 10⁴ messages in flight.
// So a message weighs what it can become before a window, a join or the
// sink takes it in (stage.amp: the product of the parallelism of the
// shuffles ahead), and the messages an instance sends while it runs one
// take their weight from that message's (x.carry) instead of adding to
// the count. The count then only grows at the sources, which wait at the
// bound, and where a message becomes more than its weight said: a window
// or join firing (bounded by the memory budget, budget.go), a user
// function that returns more events than it took, a batch cut at window
// boundaries or into MessageWork pieces. Queued events (for the memory
// budget) are carried the same way. TestInFlightBoundHoldsBetweenStages
// measures the peak.

// charge counts a message of weight w and n events sent by x (nil: a
// source, or a send outside a message) against the query, taking first
// from what x's current message carries.
func (q *Query) charge(x *instance, w, n int64) {
	if x != nil {
		t := min(w, x.carry)
		x.carry -= t
		w -= t
		t = min(n, x.carryEvents)
		x.carryEvents -= t
		n -= t
	}
	if w > 0 {
		q.inflight.Add(w)
	}
	if n > 0 {
		q.backlogEvents.Add(n)
	}
}

// release returns weight w and n events to the query; it lets a waiting
// source go on when the count fell below half the bound.
func (q *Query) release(w, n int64) {
	if n > 0 {
		q.backlogEvents.Add(-n)
	}
	if w > 0 && q.inflight.Add(-w) < int64(q.eng.cfg.MaxInFlight/2) {
		q.wakeSources()
	} else if n > 0 && q.creditWait.Load() && q.eventsFit(2) {
		q.wakeSources()
	}
}

// eventsFit reports whether the events queued, with a batch more, take at
// most 1/(2·slack) of what the query's memory budget leaves beside its
// state and its connectors' holdings. The in-flight bound counts messages,
// and a message holds up to MaxBatch events: 4,096 messages of 1,024
// events are 4 M events, about 1 GiB by the estimate. A source faster
// than its query (an unpaced one, a broker's backlog) would fill that and
// fail the query by its budget; so a source also waits while the queued
// events would take more than half of the room (slack 1), and is woken
// when they fell to a quarter (slack 2). With nothing queued a batch
// always goes, so a query whose state nearly fills its budget still moves.
func (q *Query) eventsFit(slack int64) bool {
	b := q.eng.cfg.QueryMemory
	if b <= 0 {
		return true
	}
	queued := q.backlogEvents.Load()
	if queued == 0 {
		return true
	}
	room := (b - q.stateBytes.Load() - q.connBytes.Load()) / (2 * slack)
	return (queued+int64(q.eng.cfg.MaxBatch))*queuedEventBytes <= room
}

// hasCredit reports whether a batch of weight w fits under the query's
// in-flight bound, and its events beside those queued (eventsFit). When it does not, the query's sources are woken once
// the count falls below half the bound (wakeSources). In a cluster the
// count includes what the peers last reported of their parts (every
// heartbeat).
func (q *Query) hasCredit(w int64) bool {
	bound := int64(q.eng.cfg.MaxInFlight)
	w = min(w, bound) // a batch over the bound goes alone (checkFanOut refuses such specs on one node)
	if q.inflight.Load()+q.backlog.sum.Load()+w <= bound && q.eventsFit(1) {
		return true
	}
	q.creditWait.Store(true)
	// Look again: a release between the first look and the flag saw no
	// waiter.
	if q.inflight.Load()+q.backlog.sum.Load()+w <= bound && q.eventsFit(1) {
		return true
	}
	return false
}

// wakeSources wakes the sources if one waits for credit.
func (q *Query) wakeSources() {
	if q.creditWait.Load() && q.creditWait.CompareAndSwap(true, false) {
		for _, s := range q.sources {
			if s.timer != nil {
				s.timer.Wake()
			}
		}
	}
}

func (q *Query) start() {
	q.started = time.Now()
	for _, s := range q.sources {
		s.start()
	}
}

// resolve makes a relative path of the spec relative to the spec's file.
func (q *Query) resolve(path string) string {
	if filepath.IsAbs(path) || q.spec.File == "" || q.spec.File == "-" {
		return path
	}
	return filepath.Join(filepath.Dir(q.spec.File), path)
}

// Edge partitioning from one stage (or source) to the next.
type partition uint8

const (
	forward    partition = iota // sender i → receiver i
	hashKey                     // by the event key
	roundRobin                  // whole batches in turn
	single                      // to the one receiver
)

// stage is one operator of the physical plan with its instances.
type stage struct {
	label   string
	op      *query.Operator // nil for the sink
	kind    query.Kind      // its operator's kind, or query.KindSink
	insts   []*instance
	keyed   bool      // the stream entering it is partitioned by key
	in      partition // how its input from the stream is partitioned
	inputs  int       // inputs of each instance from the stream
	extra   []*source // join or union sources feeding it
	metrics *OpMetrics
	window  *priority.Window // the window axis its senders batch by; nil: none
	joins   []*sharedJoin    // join: one frontier rule per instance
	// results: its stream carries the results of a window or join
	// upstream, not source events (for the accounting).
	results bool
	// amp is the weight of a message bound for it in the in-flight count:
	// how many messages it can become before a window, a join or the sink
	// takes it in (Query.charge).
	amp int64
}

// build compiles a spec into stages, instances, routers and sources and
// spawns the actors; nothing runs until start.
func (e *Engine) build(id string, plan *query.Plan, spec *query.Spec, pl *placement, bestEffort bool) (_ *Query, err error) {
	q := &Query{
		id: id, plan: plan, spec: spec, eng: e, bestEffort: bestEffort, policy: e.policy(), clock: e.cfg.Clock, pl: pl,
		pq:      priority.Query{ID: id, Tenant: spec.Tenant, LatencyTarget: int64(spec.LatencyTarget), Weight: spec.Weight},
		metrics: NewQueryMetrics(id, spec.Name, spec.Tenant, int64(spec.LatencyTarget)),
		et:      spec.Sources[0].EventTime,
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	q.metrics.now = q.clock.Now // the recent figures follow the engine's clock
	q.mu.state = StateRunning
	q.stopCtx, q.cancelStop = context.WithCancel(context.Background())
	q.endCtx, q.cancelEnd = context.WithCancel(context.Background())
	q.metrics.SetBacklog(q.inflight.Load)
	g := q.group()
	q.metrics.share = func() (actors.ShareStats, bool) { return e.sched.ShareOf(g) }
	q.metrics.SetLag(func() int64 { // q.sources is complete before the query starts
		var lag int64
		for _, s := range q.sources {
			lag = max(lag, s.lag.Load())
		}
		return lag
	})
	if f, ok := q.policy.(*priority.Fair); ok {
		f.SetWeight(id, spec.Weight)
	}
	defer func() {
		if err != nil {
			for _, pid := range q.pids {
				e.sys.Root.Stop(pid)
			}
			q.cancelStop() // a reader an input started stops
			for _, s := range q.sources {
				if s.in != nil {
					_ = s.in.Close()
				}
			}
			for _, st := range q.stages {
				for _, x := range st.insts {
					if x.sink != nil {
						_ = x.sink.Close()
					}
				}
			}
			q.wg.Wait()
			if q.late != nil {
				_ = q.late.Close()
			}
			if q.shed != nil {
				_ = q.shed.Close()
			}
		}
	}()
	// On a node that runs part of a query for a peer (the coordinator),
	// the sources, the sink and the late side sink are the coordinator's.
	here := pl == nil || pl.coordinator == e.cluster.cfg.Name
	newSource := q.newSource
	if !here {
		newSource = func(s *query.Source, _ int) (*source, error) { return &source{q: q, spec: s}, nil }
	}
	if here && q.et != nil && q.et.LateSideSinkPath != "" {
		f, err := e.files.create(q.et.LateSideSinkPath, q.resolve(q.et.LateSideSinkPath))
		if err != nil {
			return nil, fmt.Errorf("query %s: late side sink: %w", spec.Name, err)
		}
		q.late = connector.NewLineWriter(f, f)
	}
	if o := spec.Overload; o.Shed {
		q.shedAfter = int64(o.ShedAfter)
		if here && o.ShedSinkPath != "" {
			f, err := e.files.create(o.ShedSinkPath, q.resolve(o.ShedSinkPath))
			if err != nil {
				return nil, fmt.Errorf("query %s: shed sink: %w", spec.Name, err)
			}
			q.shed = connector.NewLineWriter(f, f)
		}
	}

	p := spec.Parallelism
	byName := map[string]*query.Source{}
	for i := range spec.Sources {
		byName[spec.Sources[i].Name] = &spec.Sources[i]
	}
	main, err := newSource(&spec.Sources[0], -1)
	if err != nil {
		return nil, err
	}
	q.sources = append(q.sources, main)

	// Stages from the physical plan; sources for the joins and unions.
	plans := physicalPlan(spec)
	for si, sp := range plans {
		st := &stage{label: sp.label, op: sp.op, kind: sp.kind, in: sp.in, inputs: sp.inputs, keyed: sp.keyed, results: sp.results, window: sp.window}
		if st.kind == query.KindJoin && sp.window != nil {
			st.joins = make([]*sharedJoin, p)
			for j := range st.joins {
				st.joins[j] = &sharedJoin{rule: priority.NewJoinFrontier(*sp.window, q.ooo(), q.lateness())}
			}
		}
		for _, name := range sp.extra {
			joinStep := -1
			if st.kind == query.KindJoin {
				joinStep = si
			}
			src, err := newSource(byName[name], joinStep)
			if err != nil {
				return nil, err
			}
			st.extra = append(st.extra, src)
			q.sources = append(q.sources, src)
		}
		q.stages = append(q.stages, st)
	}
	sink := q.stages[len(q.stages)-1]
	for i, a := range amps(plans, p, int64(e.cfg.MaxInFlight)) {
		q.stages[i].amp = a
	}

	// Instances, then the routers that point at them.
	var ops []*OpMetrics
	for si, st := range q.stages {
		n := instancesOf(plans[si], p)
		st.metrics = &OpMetrics{Step: st.label, Instances: n}
		ops = append(ops, st.metrics)
		for j := 0; j < n; j++ {
			node := ""
			if pl != nil {
				node = pl.nodes[si][j]
				st.metrics.Nodes = append(st.metrics.Nodes, node)
			}
			x, err := q.newInstance(st, si, j, node)
			if err != nil {
				return nil, err
			}
			st.insts = append(st.insts, x)
		}
	}
	if !here {
		q.sources = nil // the coordinator's
	}
	q.metrics.SetOperators(ops)
	if here {
		main.out = q.newRouter(nil, main, q.stages[0], -1)
	}
	for si, st := range q.stages {
		if here {
			for k, src := range st.extra {
				src.out = q.newRouter(nil, src, st, k)
			}
		}
		if st == sink {
			break
		}
		for _, x := range st.insts {
			if !x.elsewhere {
				x.out = q.newRouter(x, nil, q.stages[si+1], -1)
			}
		}
	}

	// Spawn the actors on the scheduler; in a cluster by name, so that
	// the other nodes know their PIDs.
	popts, err := e.sched.PropsOptions(q.group())
	if err != nil {
		return nil, err
	}
	for _, st := range q.stages {
		for _, x := range st.insts {
			if x.elsewhere {
				x.pid = actor.NewPID(pl.addrs[x.node], instanceName(x.id))
				if q.remote == nil {
					q.remote = map[string]*instance{}
				}
				q.remote[x.id] = x
				continue
			}
			props := actor.PropsFromProducer(func() actor.Actor { return x }, popts...)
			if pl == nil {
				x.pid = e.sys.Root.Spawn(props)
			} else if x.pid, err = e.sys.Root.SpawnNamed(props, instanceName(x.id)); err != nil {
				return nil, fmt.Errorf("query %s: %s: %w", spec.Name, x.st.label, err)
			}
			q.pids = append(q.pids, x.pid)
		}
	}
	return q, nil
}

// instanceName is an instance's actor name in a cluster.
func instanceName(id string) string { return "cameo/" + id }

// policy is what stamps the engine's contexts.
func (e *Engine) policy() priority.Policy {
	if e.cfg.Policy != nil {
		return e.cfg.Policy
	}
	return e.sched.Policy()
}

// ooo and lateness are the stream's event-time bounds (0 for processing
// time): the longest of its sources', for frontiers and the delivery span.
func (q *Query) ooo() int64 {
	var d int64
	for _, src := range q.spec.Sources {
		if src.EventTime != nil {
			d = max(d, int64(src.EventTime.MaxOutOfOrder))
		}
	}
	return d
}

func (q *Query) lateness() int64 {
	var d int64
	for _, src := range q.spec.Sources {
		if src.EventTime != nil {
			d = max(d, int64(src.EventTime.AllowedLateness))
		}
	}
	return d
}

// stepLateness is the allowed lateness step si waits for: the longest of
// the sources whose events reach it (the stream's, and those unioned or
// joined at or before it).
func (q *Query) stepLateness(si int) time.Duration {
	var d time.Duration
	take := func(name string) {
		for _, src := range q.spec.Sources {
			if src.Name == name && src.EventTime != nil {
				d = max(d, src.EventTime.AllowedLateness)
			}
		}
	}
	take(q.spec.Sources[0].Name)
	for i := 0; i <= si && i < len(q.spec.Pipeline); i++ {
		op := &q.spec.Pipeline[i]
		for _, name := range op.Union {
			take(name)
		}
		if op.Join != nil {
			take(op.Join.With)
		}
	}
	return d
}

// axis returns an event's position on the stream's window axis: its event
// time, or its arrival on processing-time streams.
func (q *Query) axis(ev *query.Event) int64 {
	if q.et != nil {
		return ev.EventTime
	}
	return ev.Arrival
}

// sharedJoin is a join instance's frontier rule, shared by the senders of
// both sides so that each side's frontier sees the other's progress.
type sharedJoin struct {
	mu   sync.Mutex
	rule *priority.JoinFrontier
}

type joinRule struct {
	j    *sharedJoin
	side priority.JoinSide
}

func (r joinRule) Next(s priority.Stamp) priority.Frontier {
	r.j.mu.Lock()
	defer r.j.mu.Unlock()
	return r.side.Next(s)
}

// ruleFor returns the frontier rule of one edge into receiver x.
func (q *Query) ruleFor(st *stage, x *instance, side int) priority.FrontierRule {
	switch st.kind {
	case query.KindWindow:
		if st.window == nil {
			return priority.Stateless{} // a session window: no fixed axis to order by
		}
		if q.et != nil {
			return priority.NewEventTimeFrontier(*st.window, q.ooo(), q.lateness())
		}
		return priority.NewWindowFrontier(*st.window)
	case query.KindJoin:
		if st.joins == nil {
			return priority.Stateless{} // an interval join emits as pairs arrive
		}
		j := st.joins[x.idx]
		return joinRule{j: j, side: j.rule.Side(side)}
	}
	lookahead := !q.eng.cfg.PaperFrontiers
	if q.pl != nil {
		lookahead = q.pl.lookahead // the coordinator's
	}
	if lookahead {
		// A stateless step upstream of a window feeds that window's result:
		// its messages take the window's frontier.
		for i := slices.Index(q.stages, st) + 1; i < len(q.stages); i++ {
			if w := q.stages[i]; w.kind == query.KindWindow {
				if w.window == nil {
					break // a session window
				}
				if q.et != nil {
					return priority.NewEventTimeFrontier(*w.window, q.ooo(), q.lateness())
				}
				return priority.NewWindowFrontier(*w.window)
			} else if w.kind == query.KindJoin {
				break
			}
		}
	}
	return priority.Stateless{}
}

// stagePlan is one stage of a query's physical plan: what the engine
// derives from the spec alone, before it creates anything.
type stagePlan struct {
	label   string
	op      *query.Operator // nil for the sink
	kind    query.Kind
	in      partition        // how the stream into it is partitioned
	inputs  int              // inputs of each instance from the stream
	keyed   bool             // the stream entering it is partitioned by key
	results bool             // the stream carries a window's or join's results
	window  *priority.Window // the window axis its senders batch by; nil: none
	extra   []string         // the sources a join or union brings in
}

// amps returns each stage's in-flight weight (stage.amp), at most limit:
// 1 for a window, a join and the sink, which take messages in; for a
// stateless step, the next stage's weight, times the parallelism when the
// next stage is fed by a shuffle. Pure.
func amps(plan []stagePlan, p int, limit int64) []int64 {
	out := make([]int64, len(plan))
	for i := len(plan) - 1; i >= 0; i-- {
		out[i] = 1
		if k := plan[i].kind; k != query.KindSink && !k.Stateful() {
			out[i] = out[i+1]
			if plan[i+1].in == hashKey {
				out[i] = priority.MulSat(out[i], int64(p))
			}
			out[i] = min(out[i], limit)
		}
	}
	return out
}

// instancesOf returns how many instances a stage of the plan has.
func instancesOf(sp stagePlan, p int) int {
	if sp.kind == query.KindSink {
		return 1
	}
	return p
}

// physicalPlan returns the stages of spec, its steps then the sink: each
// step has Parallelism instances and the sink one; the first step takes
// the source's batches whole (round robin over its instances), a step
// after a key_by is a shuffle by key, any other step is fed one to one by
// the instance of the same index. Pure.
func physicalPlan(spec *query.Spec) []stagePlan {
	p := spec.Parallelism
	var out []stagePlan
	keyed, results, prevKind, prevN := false, false, query.KindNone, 1 // KindNone before the first step: the source
	for i := range spec.Pipeline {
		op := &spec.Pipeline[i]
		sp := stagePlan{label: fmt.Sprintf("pipeline[%d] %s", i, op.Kind()), op: op, kind: op.Kind(), keyed: keyed, results: results, inputs: prevN}
		if op.Label != "" {
			sp.label = fmt.Sprintf("pipeline[%d] %s", i, op.Label)
		}
		switch {
		case prevKind == query.KindNone && p == 1:
			sp.in = single
		case prevKind == query.KindNone:
			sp.in = roundRobin
		case prevKind == query.KindKeyBy:
			sp.in = hashKey
		default:
			sp.in, sp.inputs = forward, 1
		}
		switch sp.kind {
		case query.KindWindow:
			if op.Window.Gap == 0 { // a session window has no fixed axis to batch by
				sp.window = &priority.Window{Size: int64(op.Window.Size), Slide: int64(op.Window.Slide)}
			}
		case query.KindJoin:
			if op.Join.Within == 0 { // an interval join has no windows to batch by
				w := priority.Tumbling(int64(op.Join.Window))
				sp.window = &w
			}
			sp.extra = []string{op.Join.With}
		case query.KindUnion:
			sp.extra = slices.Clone(op.Union)
		}
		out = append(out, sp)
		keyed = keyed || sp.kind == query.KindKeyBy
		results = results || sp.kind.Stateful()
		prevKind, prevN = sp.kind, p
	}
	return append(out, stagePlan{label: "sink", kind: query.KindSink, in: single, inputs: prevN, keyed: keyed, results: results})
}
