package actors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/priority"
)

// Order is how a Dispatcher keys messages.
type Order uint8

const (
	// OrderDeadline orders by the global priority in each message's
	// scheduling context (the policies cameo, llf, edf, sjf, fifo, fair).
	OrderDeadline Order = iota
	// OrderFIFO ignores contexts and orders messages by the time they were
	// posted: one global FIFO of messages over the worker pool.
	OrderFIFO
)

func (o Order) String() string {
	if o == OrderFIFO {
		return "fifo"
	}
	return "deadline"
}

// Config configures a Dispatcher; the zero value of a field means its
// default. Build it with the With… options of NewDispatcher.
type Config struct {
	// Workers is the number of worker goroutines; default GOMAXPROCS.
	Workers int
	// Turn holds the turn rules; default priority.DefaultTurnConfig().
	Turn *priority.TurnConfig
	// Order is how messages are keyed; default OrderDeadline.
	Order Order
	// Clock is read for the turn quantum; default SystemClock.
	Clock Clock
	// Throughput is what Throughput reports to protoactor's default
	// mailboxes run on this dispatcher; default 300.
	Throughput int
	// Shares configures the tenant shares of the run queue (zero fields:
	// the defaults). OrderFIFO ignores it: one flat FIFO.
	Shares priority.ShareConfig
	// TenantWeights are the tenants' weights; a tenant not listed has
	// DefaultTenantWeight. SetTenantWeight changes them at run time.
	TenantWeights map[string]float64
	// DefaultTenantWeight is the weight of tenants TenantWeights does not
	// list; default 1.
	DefaultTenantWeight float64
	// Timers, when set, is a timer service the workers serve between
	// turns (and at the yields inside long ones): whatever is due runs on
	// the first worker free, before the next actor is taken.
	Timers *Timers
	// Spin is how long a worker that ran out of work keeps looking for
	// more before it parks, when most of its recent idle spells ended
	// within that time (a busy pool) and it has spin time banked
	// (SpinShare); default DefaultSpin, < 0: never. Waking a parked worker
	// wakes an OS thread, and on a machine with as many threads busy as
	// cores the kernel may queue that thread behind a running worker for a
	// whole tick (4 ms at HZ=250: seen in an execution trace of the E4
	// mix). Measured on that mix (2 vCPUs, 77 % busy, medians of three
	// 20 s runs): the latency-sensitive query's p99 went from 3.7 to
	// 1.1 ms for 8 % more process CPU time; spinning 1 ms did no better.
	// Spinning time is wall time and is not counted as busy
	// (Stats.SpinNs).
	Spin time.Duration
	// SpinShare bounds a worker's spinning to this share of its own busy
	// time (default DefaultSpinShare, at most 1): a worker earns spin time
	// as it works (banked up to four spins) and spends it idle, so that
	// spinning adds at most that share to the CPU time the work takes. A
	// pool of many small queries, mostly idle in short spells, is where it
	// costs most: 5,000 queries of 10 events/s (BenchmarkSmallQueriesBusy)
	// took 11.2 µs of CPU an event without spinning, 14.6 µs at 0.5 and
	// 14.2 µs at 0.25; at 0.25 the E4 p99 was 2.3 ms, at 0.1 3.7 ms.
	SpinShare float64
}

// DefaultSpin is Config.Spin's default.
const DefaultSpin = 250 * time.Microsecond

// DefaultSpinShare is Config.SpinShare's default.
const DefaultSpinShare = 0.5

// maxSpin bounds Config.Spin.
const maxSpin = 10 * time.Millisecond

// fill sets the defaults of the fields left zero.
func (c *Config) fill() {
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Turn == nil {
		t := priority.DefaultTurnConfig()
		c.Turn = &t
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Throughput == 0 {
		c.Throughput = 300
	}
	if c.DefaultTenantWeight == 0 {
		c.DefaultTenantWeight = 1
	}
	if c.Spin == 0 {
		c.Spin = DefaultSpin
	}
	if c.SpinShare == 0 {
		c.SpinShare = DefaultSpinShare
	}
	if c.Order == OrderFIFO {
		// The baseline: every group always eligible, no deferral.
		c.Shares = priority.ShareConfig{Slack: math.MaxInt64 / 4, DeferAfter: -1}
	}
}

// validate reports every problem of a filled configuration, joined.
func (c *Config) validate() error {
	var errs []error
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("%w: workers %d must be >= 0 (0 means GOMAXPROCS)", ErrBadConfig, c.Workers))
	}
	if err := c.Turn.Validate(); err != nil {
		errs = append(errs, err)
	}
	if !(c.SpinShare > 0 && c.SpinShare <= 1) {
		errs = append(errs, fmt.Errorf("%w: spin share %v must be in (0, 1] (turn spinning off with a spin < 0)", ErrBadConfig, c.SpinShare))
	}
	if c.Spin > maxSpin {
		errs = append(errs, fmt.Errorf("%w: spin %v must be at most %v (< 0: never)", ErrBadConfig, c.Spin, maxSpin))
	}
	if c.Throughput < 0 {
		errs = append(errs, fmt.Errorf("%w: throughput %d must be >= 0", ErrBadConfig, c.Throughput))
	}
	if err := c.Shares.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := priority.CheckWeight(c.DefaultTenantWeight); err != nil {
		errs = append(errs, fmt.Errorf("%w: default tenant weight: %w", ErrBadConfig, err))
	}
	for t, w := range c.TenantWeights {
		if err := priority.CheckWeight(w); err != nil {
			errs = append(errs, fmt.Errorf("%w: tenant %q: %w", ErrBadConfig, t, err))
		}
	}
	return errors.Join(errs...)
}

// Option sets a field of Config.
type Option func(*Config)

// WithWorkers sets the number of worker goroutines.
func WithWorkers(n int) Option { return func(c *Config) { c.Workers = n } }

// WithTurn sets the turn rules.
func WithTurn(t priority.TurnConfig) Option { return func(c *Config) { c.Turn = &t } }

// WithOrder sets how messages are keyed.
func WithOrder(o Order) Option { return func(c *Config) { c.Order = o } }

// WithClock sets the clock read for the quantum.
func WithClock(clk Clock) Option { return func(c *Config) { c.Clock = clk } }

// WithSpin sets how long an idle worker looks for work before it parks
// (Config.Spin; < 0: never).
func WithSpin(d time.Duration) Option { return func(c *Config) { c.Spin = d } }

// WithSpinShare sets Config.SpinShare.
func WithSpinShare(f float64) Option { return func(c *Config) { c.SpinShare = f } }

// WithTimers makes the workers run the due timers of ts between turns.
func WithTimers(ts *Timers) Option { return func(c *Config) { c.Timers = ts } }

// WithShares sets the share queue's configuration.
func WithShares(sc priority.ShareConfig) Option { return func(c *Config) { c.Shares = sc } }

// WithTenantWeights sets the tenants' weights and the weight of the
// tenants not listed (0: 1).
func WithTenantWeights(w map[string]float64, deflt float64) Option {
	return func(c *Config) { c.TenantWeights, c.DefaultTenantWeight = w, deflt }
}

// Dispatcher is the process-wide scheduler: a fixed pool of worker
// goroutines over one run queue of actors ordered by the global priority of
// their most urgent message. It implements protoactor's actor.Dispatcher, so
// actors use it through Props; actors with a deadline Mailbox join the run
// queue, and actors with any other mailbox have their drain function run in
// a FIFO lane served before keyed actors.
type Dispatcher struct {
	cfg Config

	mu struct {
		sync.Mutex // after Mailbox.mu when both are held
		rq         *priority.ShareQueue[*Mailbox]
		tenants    map[string]*tenant
		weights    map[string]float64
		deflt      *priority.Group[*Mailbox] // the leaf of mailboxes given no group
		funcs      []func()
		parked     []*worker
		// spinners are the workers looking for work before they park
		// (worker.spin); a post claims one instead of waking a parked one.
		spinners []*worker
		stopped  bool
	}
	// headKey is the key at the run queue head (math.MaxInt64 when empty),
	// published under mu and read without it by workers deciding whether
	// to keep their actor; headGroup is the head's leaf (nil for the
	// system lane or when empty): another group than the running actor's
	// means the turn is contended.
	headKey   atomic.Int64
	headGroup atomic.Pointer[priority.Group[*Mailbox]]
	// lastKey is the key of the actor most recently taken by a worker; a
	// message with no context is keyed with it ("due now").
	lastKey atomic.Int64
	fifoSeq atomic.Int64

	workers  []*worker
	wg       sync.WaitGroup
	stopOnce sync.Once
}

var _ actor.Dispatcher = (*Dispatcher)(nil)

// NewDispatcher starts a dispatcher and its workers.
func NewDispatcher(opts ...Option) (*Dispatcher, error) {
	var cfg Config
	for _, o := range opts {
		o(&cfg)
	}
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := &Dispatcher{cfg: cfg}
	rq, err := priority.NewShareQueue[*Mailbox](cfg.Shares)
	if err != nil {
		return nil, err
	}
	d.cfg.Shares = rq.Config()
	d.mu.rq = rq
	d.mu.tenants = map[string]*tenant{}
	d.mu.weights = map[string]float64{}
	for t, w := range cfg.TenantWeights {
		d.mu.weights[t] = w
	}
	if d.mu.deflt, err = d.leafLocked(Group{}); err != nil {
		return nil, err
	}
	d.headKey.Store(math.MaxInt64)
	if cfg.Timers != nil {
		cfg.Timers.addHelper(d.handTimers)
	}
	d.workers = make([]*worker, cfg.Workers)
	for i := range d.workers {
		d.workers[i] = &worker{d: d, id: i, wake: make(chan struct{}, 1)}
	}
	d.wg.Add(len(d.workers))
	for _, w := range d.workers {
		go w.loop()
	}
	return d, nil
}

// Config returns the dispatcher's validated configuration.
func (d *Dispatcher) Config() Config { return d.cfg }

// PropsOptions returns the props options that put an actor on this
// dispatcher with a deadline mailbox, in the default group (tenant "",
// query "").
func (d *Dispatcher) PropsOptions(mw ...actor.MailboxMiddleware) []actor.PropsOption {
	return []actor.PropsOption{actor.WithMailbox(NewMailbox(mw...)), actor.WithDispatcher(d)}
}

// Group names the share an actor's work is charged to: its tenant and its
// query, the query's weight inside the tenant and its latency target
// (what deferral measures lateness against; 0: never deferred).
type Group struct {
	Tenant, Query string
	Weight        float64 // inside the tenant; 0 means 1
	Target        int64   // ns
	// BestEffort puts the query's work always after feasible work (within
	// its share): a query admitted while the node was full.
	BestEffort bool
}

type tenant struct {
	g       *priority.Group[*Mailbox]
	queries map[string]*priority.Group[*Mailbox]
}

// PropsOptionsIn returns the props options that put an actor on this
// dispatcher with a deadline mailbox in group g, creating the tenant and
// the query's share on first use.
func (d *Dispatcher) PropsOptionsIn(g Group, mw ...actor.MailboxMiddleware) ([]actor.PropsOption, error) {
	d.mu.Lock()
	leaf, err := d.leafLocked(g)
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	prod := func() actor.Mailbox {
		m := &Mailbox{middlewares: mw}
		m.entry = priority.NewEntryIn(m, leaf)
		return m
	}
	return []actor.PropsOption{actor.WithMailbox(prod), actor.WithDispatcher(d)}, nil
}

func (d *Dispatcher) leafLocked(g Group) (*priority.Group[*Mailbox], error) {
	t, ok := d.mu.tenants[g.Tenant]
	if !ok {
		w, set := d.mu.weights[g.Tenant]
		if !set {
			w = d.cfg.DefaultTenantWeight
		}
		tg, err := d.mu.rq.NewGroup(nil, g.Tenant, w)
		if err != nil {
			return nil, fmt.Errorf("%w: tenant %q: %w", ErrBadConfig, g.Tenant, err)
		}
		t = &tenant{g: tg, queries: map[string]*priority.Group[*Mailbox]{}}
		d.mu.tenants[g.Tenant] = t
	}
	if leaf, ok := t.queries[g.Query]; ok {
		return leaf, nil
	}
	w := g.Weight
	if w == 0 {
		w = 1
	}
	leaf, err := d.mu.rq.NewLeaf(t.g, g.Query, w, g.Target)
	if err != nil {
		return nil, fmt.Errorf("%w: query %q of tenant %q: %w", ErrBadConfig, g.Query, g.Tenant, err)
	}
	if g.BestEffort {
		d.mu.rq.SetBestEffort(leaf, true)
	}
	t.queries[g.Query] = leaf
	return leaf, nil
}

// Charge charges ns nanoseconds of work done for group g outside its
// actors' turns (a source's step on a worker that ran the query's first
// operator inline) to g's share, as a turn of its actors would be. A
// group the dispatcher does not know (released, or never spawned in) is
// not charged.
func (d *Dispatcher) Charge(g Group, ns int64) {
	if ns <= 0 {
		return
	}
	d.mu.Lock()
	if t, ok := d.mu.tenants[g.Tenant]; ok {
		if leaf, ok := t.queries[g.Query]; ok {
			d.mu.rq.ChargeLeaf(leaf, ns)
		}
	}
	d.mu.Unlock()
}

// ReleaseGroup forgets the share of a query that ended: actors spawned in
// its group afterwards get a new share. Work still queued in it runs.
func (d *Dispatcher) ReleaseGroup(tenant, query string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.mu.tenants[tenant]
	if !ok {
		return
	}
	delete(t.queries, query)
	if len(t.queries) == 0 && !(tenant == "" && query == "") {
		delete(d.mu.tenants, tenant)
	}
}

// SetTenantWeight sets a tenant's weight, for the service charged from now
// on and for the tenant if it comes later.
func (d *Dispatcher) SetTenantWeight(tenant string, w float64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.mu.tenants[tenant]; ok {
		if err := d.mu.rq.SetWeight(t.g, w); err != nil {
			return fmt.Errorf("%w: tenant %q: %w", ErrBadConfig, tenant, err)
		}
	} else if err := priority.CheckWeight(w); err != nil {
		return fmt.Errorf("%w: tenant %q: %w", ErrBadConfig, tenant, err)
	}
	d.mu.weights[tenant] = w
	return nil
}

// ShareStats is the scheduling figures of one query's share.
type ShareStats struct {
	Tenant, Query  string
	TenantWeight   float64
	Weight         float64
	TenantServedNs int64 // worker time charged to the tenant
	ServedNs       int64 // worker time charged to the query
	Deferred       bool  // its work is deferred now (over target for a while)
	Deferrals      uint64
	BestEffort     bool
}

// ShareOf returns the figures of the share of group g, if it has one.
func (d *Dispatcher) ShareOf(g Group) (ShareStats, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.mu.tenants[g.Tenant]
	if !ok {
		return ShareStats{}, false
	}
	leaf, ok := t.queries[g.Query]
	if !ok {
		return ShareStats{}, false
	}
	return shareStatsLocked(g.Tenant, t, g.Query, leaf), true
}

// shareStatsLocked reads one query's share; d.mu held.
func shareStatsLocked(tn string, t *tenant, qn string, leaf *priority.Group[*Mailbox]) ShareStats {
	ts, ls := t.g.Stats(), leaf.Stats()
	return ShareStats{Tenant: tn, Query: qn, TenantWeight: t.g.Weight(), Weight: leaf.Weight(),
		TenantServedNs: ts.Served, ServedNs: ls.Served, Deferred: ls.Deferred, Deferrals: ls.Deferrals, BestEffort: ls.BestEffort}
}

// TenantWeight returns the weight a tenant has or would have.
func (d *Dispatcher) TenantWeight(tenant string) float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if w, ok := d.mu.weights[tenant]; ok {
		return w
	}
	return d.cfg.DefaultTenantWeight
}

// Shares returns the figures of every query's share, sorted by tenant and
// query.
func (d *Dispatcher) Shares() []ShareStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []ShareStats
	for tn, t := range d.mu.tenants {
		for qn, leaf := range t.queries {
			out = append(out, shareStatsLocked(tn, t, qn, leaf))
		}
	}
	slices.SortFunc(out, func(a, b ShareStats) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Query, b.Query))
	})
	return out
}

// Schedule implements actor.Dispatcher for mailboxes other than ours: fn
// runs on a worker in FIFO order, ahead of keyed actors.
func (d *Dispatcher) Schedule(fn func()) {
	d.mu.Lock()
	d.mu.funcs = append(d.mu.funcs, fn)
	d.publishHeadLocked()
	w, _ := d.takeParkedLocked()
	d.mu.Unlock()
	w.signal()
}

// Throughput implements actor.Dispatcher.
func (d *Dispatcher) Throughput() int { return d.cfg.Throughput }

// Stop stops the workers once their current turns end and waits for them,
// or for ctx. It may be called more than once. Stop does not drain: stop the
// actors first. If user messages were still queued, Stop returns an error
// wrapping ErrAbandoned that counts them, so that nothing is lost silently.
func (d *Dispatcher) Stop(ctx context.Context) error {
	d.stopOnce.Do(func() {
		d.mu.Lock()
		d.mu.stopped = true
		parked := d.mu.parked
		d.mu.parked = nil
		d.mu.Unlock()
		for _, w := range parked {
			w.signal()
		}
	})
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrStopTimeout, ctx.Err())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	actors, messages := 0, 0
	d.mu.rq.Each(func(e *priority.Entry[*Mailbox]) {
		if n := e.Value.UserMessageCount(); n > 0 {
			actors++
			messages += n
		}
	})
	if messages > 0 {
		return fmt.Errorf("%w: %d messages of %d actors were still queued", ErrAbandoned, messages, actors)
	}
	return nil
}

// Stats is a snapshot of a dispatcher's counters.
type Stats struct {
	Workers  int
	Messages uint64 // user messages run by deadline mailboxes
	Funcs    uint64 // drain functions run for other mailboxes
	Turns    uint64
	// Yields counts how turns ended, by priority.Decision.
	Yields map[string]uint64
	Parks  uint64 // times a worker found nothing and parked
	// Spins counts the idle spells a worker spun through before parking
	// (Config.Spin), SpinHits those that found work while spinning, and
	// SpinNs the wall time spent spinning (not in BusyNs).
	Spins, SpinHits uint64
	SpinNs          int64
	// YieldNs is the wall time workers gave back to Go's scheduler in the
	// middle of long turns (every yieldEvery messages or yieldInterval),
	// until they ran again; it is not in BusyNs and not charged to the
	// turn's group.
	YieldNs int64
	Queued  int // actors and functions waiting now
	// BusyNs is the time workers spent running turns and functions; its
	// rate over Workers is the pool's utilisation.
	BusyNs int64
	// DeferredNs is the part of BusyNs charged to deferred and
	// best-effort queries: work that yields to feasible work, so it is
	// not demand an admission decision must protect.
	DeferredNs int64
}

// Stats returns a snapshot of the counters.
func (d *Dispatcher) Stats() Stats {
	s := Stats{Workers: len(d.workers), Yields: map[string]uint64{}}
	for _, w := range d.workers {
		s.Messages += w.messages.Load()
		s.Funcs += w.funcs.Load()
		s.Turns += w.turns.Load()
		s.Parks += w.parks.Load()
		s.Spins += w.spins.Load()
		s.SpinHits += w.spinHits.Load()
		s.SpinNs += w.spinNs.Load()
		s.YieldNs += w.yieldNs.Load()
		s.BusyNs += w.busy.Load()
		s.DeferredNs += w.deferred.Load()
		for i := range w.yields {
			if n := w.yields[i].Load(); n > 0 {
				s.Yields[priority.Decision(i).String()] += n
			}
		}
	}
	d.mu.Lock()
	s.Queued = d.mu.rq.Len() + len(d.mu.funcs)
	d.mu.Unlock()
	return s
}

func (d *Dispatcher) publishHeadLocked() {
	key, group := int64(math.MaxInt64), (*priority.Group[*Mailbox])(nil)
	switch h, ok := d.mu.rq.Peek(); {
	case len(d.mu.funcs) > 0:
		key = priority.SystemKey
	case ok && h.Spare:
		// Work only a busy pool would take: it must not cut a turn short
		// by its key, only by the share budget.
		group = h.Group
	case ok:
		key, group = h.Key, h.Group
	}
	// Stores only when the value changes: an atomic store is a locked
	// instruction, and most publications change nothing.
	if d.headKey.Load() != key {
		d.headKey.Store(key)
	}
	if d.headGroup.Load() != group {
		d.headGroup.Store(group)
	}
}

// takeParkedLocked claims a worker for work just published: a spinning
// one, which sees it without a signal (nil, true), else a parked one to
// signal once the locks are released. false: every worker is busy.
func (d *Dispatcher) takeParkedLocked() (*worker, bool) {
	if n := len(d.mu.spinners); n > 0 {
		d.mu.spinners = d.mu.spinners[:n-1]
		return nil, true
	}
	n := len(d.mu.parked)
	if n == 0 {
		return nil, false
	}
	w := d.mu.parked[n-1]
	d.mu.parked = d.mu.parked[:n-1]
	return w, true
}

// handTimers wakes an idle worker to run the timers that are due (it runs
// them before it parks again); false when every worker is busy (they run
// them between turns) or the dispatcher stopped.
func (d *Dispatcher) handTimers() bool {
	d.mu.Lock()
	w, ok := d.takeParkedLocked()
	d.mu.Unlock()
	w.signal()
	return ok
}

// readyLocked makes m runnable after a user message was posted. Called with
// m.mu held; returns a parked worker to signal once the locks are released.
// A running actor needs nothing: its worker requeues it at the end of the
// turn, under m.mu, so this fast path takes no dispatcher lock.
func (d *Dispatcher) readyLocked(m *Mailbox) *worker {
	if m.state.Load() == stateRunning {
		return nil
	}
	key, _ := m.mu.user.Key()
	d.mu.Lock()
	defer d.mu.Unlock()
	switch m.state.Load() {
	case stateIdle:
		d.mu.rq.Push(m.entry, key)
		m.state.Store(stateQueued)
		d.publishHeadLocked()
		w, _ := d.takeParkedLocked()
		return w
	case stateQueued:
		if !m.entry.System() && key < m.entry.Key() {
			d.mu.rq.Rekey(m.entry, key)
			d.publishHeadLocked()
		}
	}
	return nil
}

// readySystemLocked moves m to the system lane. Called with m.mu held.
func (d *Dispatcher) readySystemLocked(m *Mailbox) *worker {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch m.state.Load() {
	case stateIdle:
		d.mu.rq.PushSystem(m.entry)
		m.state.Store(stateQueued)
		d.publishHeadLocked()
		w, _ := d.takeParkedLocked()
		return w
	case stateQueued:
		d.mu.rq.PushSystem(m.entry)
		d.publishHeadLocked()
	}
	return nil
}

// requeueLocked ends a turn that ran for ns: m's groups are charged, and m
// goes back to the run queue if it has work it may run. keyed says m was
// taken from its group (not the system lane). Called with m.mu and d.mu
// held by the worker that ran m.
func (d *Dispatcher) requeueLocked(m *Mailbox, keyed bool, ns int64) {
	d.mu.rq.Charge(m.entry, ns)
	if keyed {
		defer d.mu.rq.Done(m.entry) // after the push below: its groups stay busy
	}
	m.drainLocked()
	if len(m.mu.sys) == 0 && (m.mu.suspended || m.mu.user.Len() == 0) {
		// Leave the running state first, then look at the inbox once more:
		// a post that saw stateRunning has already counted its message.
		m.state.Store(stateIdle)
		if m.inN.Load() == 0 {
			d.publishHeadLocked()
			return
		}
		m.drainLocked()
	}
	switch {
	case len(m.mu.sys) > 0:
		d.mu.rq.PushSystem(m.entry)
		m.state.Store(stateQueued)
	case !m.mu.suspended && m.mu.user.Len() > 0:
		key, _ := m.mu.user.Key()
		d.mu.rq.Push(m.entry, key)
		m.state.Store(stateQueued)
	default:
		m.state.Store(stateIdle)
	}
	d.publishHeadLocked()
}

// yieldEvery and yieldInterval bound how long a worker runs in one turn
// before it yields the P to Go's scheduler once (without ending the turn):
// after 32 messages, or 500 µs of them, whichever comes first. Between
// turns it always yields. The goroutines that feed the pool (sources
// woken by their timers, senders that waited on a lock) need a P; with
// every worker busy, Go gives them one only when a worker yields, or when
// sysmon preempts it 10 ms later. Measured on a sustained overload (E5):
// yielding by count alone, a latency-sensitive source's events waited a
// median 3.6 ms for a P. With nothing else runnable a yield costs about
// 0.1 µs.
const (
	yieldEvery    = 32
	yieldInterval = 500_000 // ns
)

type worker struct {
	d    *Dispatcher
	id   int
	wake chan struct{} // one slot: a wake-up is never lost, a sender never blocks

	messages, funcs, turns, parks atomic.Uint64
	spins, spinHits               atomic.Uint64
	spinNs                        atomic.Int64
	yieldNs                       atomic.Int64 // wall time of in-turn yields to Go's scheduler, not in busy
	// hits is the moving share of idle spells that ended within
	// Config.Spin (spin); only the worker's goroutine touches it.
	hits float64
	// spinBank is the spin time (ns) the worker has earned (SpinShare of
	// its busy time, up to four spins) and not spent; spinSeen is its
	// busy time when it last earned. Only the worker's goroutine.
	spinBank, spinSeen int64
	busy               atomic.Int64 // ns spent in turns and functions, by the dispatcher's clock
	deferred           atomic.Int64 // the part of busy charged to deferred groups
	yields             [priority.Preempted + 1]atomic.Uint64
}

func (w *worker) signal() {
	if w == nil {
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) loop() {
	d := w.d
	defer d.wg.Done()
	d.mu.Lock()
	for {
		if d.mu.stopped {
			d.mu.Unlock()
			return
		}
		if len(d.mu.funcs) > 0 {
			fn := d.mu.funcs[0]
			d.mu.funcs[0] = nil
			d.mu.funcs = d.mu.funcs[1:]
			if len(d.mu.funcs) == 0 {
				d.mu.funcs = nil
			}
			d.publishHeadLocked()
			d.mu.Unlock()
			start := d.cfg.Clock.Now()
			fn()
			w.busy.Add(d.cfg.Clock.Now() - start)
			w.funcs.Add(1)
			d.mu.Lock()
			continue
		}
		var now int64 // the turn's start, and its leaf's deferral
		if d.mu.rq.Len() > 0 {
			now = d.cfg.Clock.Now()
		}
		if e, sys, ok := d.mu.rq.Pop(now); ok {
			m := e.Value
			budget, limited := d.cfg.Shares.Slack, false
			if !sys {
				d.lastKey.Store(e.Key())
				var b int64
				if b, limited = d.mu.rq.Budget(e); limited {
					budget = min(b, budget)
				}
			}
			m.state.Store(stateRunning)
			d.publishHeadLocked()
			d.mu.Unlock()
			end := w.turn(m, !sys, budget, limited, now) // returns with d.mu held
			// Give the P back to Go's scheduler between turns. A goroutine
			// this worker woke (a sender that waited on a lock, a sink fed
			// by a channel) sits in this P's runnext and would otherwise
			// wait for sysmon to preempt a busy worker: 10 ms. Measured:
			// without it the probe's max wait was 7–15 ms (actors/BENCHMARKS.md).
			d.mu.Unlock()
			w.runTimers(end)
			runtime.Gosched()
			d.mu.Lock()
			continue
		}
		if ts := d.cfg.Timers; ts != nil && ts.next.Load() != Never {
			// About to park: what is due now runs here rather than waking
			// the timers' goroutine.
			d.mu.Unlock()
			now := d.cfg.Clock.Now()
			w.runTimers(now)
			d.mu.Lock()
			if ts.Due(now) || d.mu.rq.Len() > 0 || len(d.mu.funcs) > 0 {
				continue
			}
		}
		if d.mu.stopped {
			// Stop came while the timers ran unlocked: it woke the workers
			// parked then, not this one.
			d.mu.Unlock()
			return
		}
		idle := time.Now()
		if w.spin(idle) {
			continue
		}
		d.mu.parked = append(d.mu.parked, w)
		w.parks.Add(1)
		d.mu.Unlock()
		<-w.wake
		w.idleEnded(time.Since(idle))
		d.mu.Lock()
	}
}

// spinHits is the share of recent idle spells ending within Config.Spin
// above which an idle worker spins before it parks.
const spinHits = 0.5

// minSpin is the least spin time worth starting a spin for.
const minSpin = int64(5 * time.Microsecond)

// idleEnded learns from an idle spell of length l whether spinning would
// have caught its end (a moving average over about eight spells).
func (w *worker) idleEnded(l time.Duration) {
	hit := 0.0
	if l <= w.d.cfg.Spin {
		hit = 1
	}
	w.hits += (hit - w.hits) / 8
}

// spin looks for work for up to Config.Spin before the worker parks, when
// most of its recent idle spells ended within that time: work published
// (the run queue's head, a function) or a timer due. A post meanwhile
// claims the spinner instead of waking a parked worker (takeParkedLocked).
// Called and returns with d.mu held; true when the worker should look
// again instead of parking. It yields the P on every round, so that what
// would feed the pool runs. The spell is measured in wall time: spinning
// is not work and counts as no busy time.
func (w *worker) spin(idle time.Time) bool {
	d := w.d
	if d.cfg.Spin <= 0 {
		return false
	}
	if b := w.busy.Load(); b > w.spinSeen {
		w.spinBank = min(w.spinBank+int64(float64(b-w.spinSeen)*d.cfg.SpinShare), 4*int64(d.cfg.Spin))
		w.spinSeen = b
	}
	if w.hits < spinHits || w.spinBank < minSpin {
		return false
	}
	limit := min(d.cfg.Spin, time.Duration(w.spinBank))
	d.mu.spinners = append(d.mu.spinners, w)
	d.mu.Unlock()
	ts := d.cfg.Timers
	for {
		if d.headKey.Load() != math.MaxInt64 || d.headGroup.Load() != nil || ts != nil && ts.Due(d.cfg.Clock.Now()) {
			break
		}
		if time.Since(idle) >= limit {
			break
		}
		runtime.Gosched()
	}
	d.mu.Lock()
	// Unclaimed: leave the spinners. Claimed: a post counted on this
	// worker; it looks again either way.
	if i := slices.Index(d.mu.spinners, w); i >= 0 {
		d.mu.spinners = slices.Delete(d.mu.spinners, i, i+1)
	}
	work := d.mu.rq.Len() > 0 || len(d.mu.funcs) > 0 || ts != nil && ts.Due(d.cfg.Clock.Now())
	l := time.Since(idle)
	w.spinBank -= int64(l)
	w.spins.Add(1)
	w.spinNs.Add(int64(l))
	if work {
		w.spinHits.Add(1)
	}
	if work || d.mu.stopped {
		w.idleEnded(l)
		if work && d.mu.rq.Len()+len(d.mu.funcs) > 1 {
			// More than this worker takes: another may have counted on
			// it and not woken anyone.
			if o, _ := d.takeParkedLocked(); o != nil {
				o.signal()
			}
		}
		return true
	}
	return false
}

// turn runs m's messages: system messages first, then user messages by the
// turn rules. The first user message runs unconditionally when m was taken
// for its key; an actor taken from the system lane asks first. turn ends
// with d.mu held, so that requeueing m and taking the next actor is one
// critical section. budget bounds the turn while another group's work
// waits: from the start when limited (another group on its path was busy
// when it was taken), else once the head belongs to another group.
func (w *worker) turn(m *Mailbox, keyed bool, budget int64, limited bool, now int64) (end int64) {
	d := w.d
	w.turns.Add(1)
	start := now
	t := d.cfg.Turn.Begin(now)
	t.LimitShare(budget)
	group := m.entry.Group()
	lastYield := now
	m.mu.Lock()
	for {
		m.drainLocked()
		if len(m.mu.sys) > 0 {
			msg := m.popSystemLocked()
			m.mu.Unlock()
			m.runSystem(msg)
			m.mu.Lock()
			continue
		}
		if m.mu.suspended || m.mu.user.Len() == 0 {
			w.yields[priority.Empty].Add(1)
			break
		}
		if !keyed || t.Count() > 0 {
			hg := d.headGroup.Load()
			contended := limited || (hg != nil && hg != group)
			key, _ := m.mu.user.Key()
			local, _ := m.mu.user.PeekLocal()
			head := d.headKey.Load()
			if dec := t.Next(now, key, local, true, head, head != math.MaxInt64, contended); dec != priority.Continue {
				w.yields[dec].Add(1)
				break
			}
		}
		msg, local, _, _ := m.mu.user.Pop()
		m.userCount.Add(-1)
		m.mu.Unlock()
		ok := m.runUser(msg)
		w.messages.Add(1)
		t.Ran(local)
		now = d.cfg.Clock.Now() // for the turn rules and the yield
		if t.Count()%yieldEvery == 0 || now-lastYield >= yieldInterval {
			if ns := w.runTimers(now); ns > 0 {
				start, now = start+ns, now+ns // not the actor's time
			}
			runtime.Gosched() // a long turn, too, lets the goroutines it woke run
			// What ran on this P meanwhile (the goroutines it woke, a
			// spinning worker handed the P, the collector) is neither the
			// actor's time nor the pool's work: left in, it made the
			// workers' busy time read higher than their demand and charged
			// the actor's group for others' CPU.
			if after := d.cfg.Clock.Now(); after > now {
				w.yieldNs.Add(after - now)
				start, now = start+(after-now), after
			}
			lastYield = now
		}
		m.mu.Lock()
		if !ok {
			// The failure was escalated; the supervisor's Suspend is already
			// in m.mu.sys. End the turn so it is handled in order.
			break
		}
	}
	if t.Count() == 0 {
		now = d.cfg.Clock.Now() // system messages only: now is still the start
	}
	ns := now - start // now: read after the last message
	w.busy.Add(ns)
	d.mu.Lock()
	if group.Band() == priority.Deferred {
		w.deferred.Add(ns)
	}
	d.requeueLocked(m, keyed, ns)
	m.mu.Unlock()
	return now
}

// runTimers runs a few of the timers due at now, if the dispatcher serves
// a Timers, and returns the time they took; it counts as busy, like the
// drain functions', and is charged to no group.
func (w *worker) runTimers(now int64) int64 {
	ts := w.d.cfg.Timers
	if ts == nil || !ts.Due(now) {
		return 0
	}
	ts.runByWorker(now)
	ns := w.d.cfg.Clock.Now() - now
	w.busy.Add(ns)
	return ns
}
