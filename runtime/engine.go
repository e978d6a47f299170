package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime/clusterpb"
)

// Config is the engine's one configuration. The zero value of each field
// means its default; validate checks the rest.
type Config struct {
	// Workers is the size of the worker pool every actor of every query
	// shares (for slots: the pool of each query). Default GOMAXPROCS.
	Workers int
	// Scheduler is one of actors.SchedulerNames(). Default cameo.
	Scheduler string
	// Turn bounds a worker's turn on one actor. Default
	// priority.DefaultTurnConfig().
	Turn *priority.TurnConfig
	// Spin is how long an idle worker looks for work before it parks
	// (actors.Config.Spin). Default actors.DefaultSpin; < 0: never.
	Spin time.Duration
	// Clock stamps arrivals and reads emit times. Default wall time.
	Clock actors.Clock
	// Logger receives the engine's own log lines (query started, ended,
	// failed). Default: discarded.
	Logger *slog.Logger
	// Metrics is the registry queries record into. Default a new one.
	Metrics *Metrics
	// MetricsPerQuery makes Metrics collect a series per query and
	// operator beside the per-tenant ones (Metrics.SetPerQuery).
	MetricsPerQuery bool
	// MaxBatch bounds the events of one source batch. Default 1024.
	MaxBatch int
	// MessageWork is the most work one message should carry: a sender
	// cuts a batch into messages of at most MessageWork / (the receiver's
	// measured cost per event) events, so that no message holds a worker
	// for long while other work waits (workers do not preempt a message).
	// Default 500 µs (2 ms before: on the E4 mix a latency-sensitive
	// message waited behind bulk messages of up to 2 ms; at 500 µs the
	// latency-sensitive p99 went from 5.6 to 4.6 ms and the worst from 48
	// to 12 ms, for about 0.5 µs of dispatch per 500 µs of work); < 0:
	// batches are cut only at window boundaries.
	MessageWork time.Duration
	// FireSlice is the most results a window emits in one message when it
	// fires: a firing of more groups goes on in messages of its own, so
	// that other work runs between them. Default DefaultFireSlice.
	FireSlice int
	// MaxInFlight bounds the messages of one query that are queued or
	// running; its sources wait above it (backpressure). Default 4096.
	MaxInFlight int
	// SourceTick is how often a processing-time source whose input is
	// quiet reads again to move its watermark with the clock, for as long
	// as its query may still close a window over its events
	// (query.Plan.StateSpan); how often a source over the in-flight bound
	// looks again at what peers report. Default 1 ms.
	SourceTick time.Duration
	// Unpaced makes generators emit as fast as backpressure allows
	// instead of at their rate. Their arrival stamps stay the schedule's,
	// so results are the same, but latencies mean nothing and are not
	// recorded (results are counted). For throughput benchmarks and tests.
	Unpaced bool
	// manualTimers (a test knob) leaves the sources' timers to the test:
	// neither the timers' goroutine nor the workers run them.
	manualTimers bool
	// noChain (a test and benchmark knob) sends every message through its
	// receiver's mailbox: no operator chaining (router.go, inline and
	// fromSource).
	noChain bool
	// Stdout is where stdout sinks write. Default os.Stdout.
	Stdout io.Writer
	// Stdin is what jsonl sources with stdin: true read. Default os.Stdin.
	Stdin io.Reader
	// PaperFrontiers gives messages bound for a stateless step their own
	// arrival as frontier, as the paper does. By default (lookahead) a
	// stateless step upstream of a window takes that window's frontier:
	// the result its messages contribute to is the window's (doc.go).
	PaperFrontiers bool
	// Policy, when set, stamps contexts instead of the scheduler's own
	// policy: a user-defined policy (priority.Policy). Only the deadline
	// schedulers (cameo, llf, edf, sjf, fair) order work by it.
	Policy priority.Policy
	// Cluster, when set, makes the engine one node of a cluster (see
	// ClusterConfig); nil: a single process.
	Cluster *ClusterConfig
	// FileRoot, when set, confines the files queries read and write to
	// this directory: paths are relative to it, cannot leave it (not by
	// "..", an absolute path or a symbolic link), and must be regular files
	// (see files.go). "": paths are relative to the spec's file, unconfined.
	FileRoot string
	// KeepEnded and KeepEndedFor bound the ended queries (done,
	// cancelled, failed) the engine remembers for Query, Queries and the
	// metrics: the newest KeepEnded of them (default 100; < 0: all), each
	// for KeepEndedFor after it ended (default 1 h; < 0: forever). A
	// caller's own *Query handle stays valid.
	KeepEnded    int
	KeepEndedFor time.Duration
	// QueryMemory is each query's memory budget in bytes: the estimated
	// state of its windows and joins plus the events of its messages
	// queued or running here. A query over it fails with the figures
	// (budget.go); the node and the other queries go on. Default 512 MiB;
	// < 0: no budget.
	QueryMemory int64
	// NodeMemory is the node's memory budget in bytes: the sum of its
	// running queries' estimates (as for QueryMemory), checked every
	// MemoryCheck. Over it, queries fail from the tenant holding the most
	// for its weight; at the admission threshold of it (Admission.Below,
	// or all of it when admission is off) new queries are refused
	// (budget.go). Default DefaultNodeMemory(); < 0: no budget.
	NodeMemory int64
	// MemoryCheck is how often the node's memory is summed; default
	// 100 ms.
	MemoryCheck time.Duration
	// Tenants holds each tenant's weight in the worker pool and its
	// quotas (a tenant file, query.ParseTenantsFile). nil: equal weights,
	// no quotas.
	Tenants *query.Tenants
	// Shares tunes the tenant and query shares of the deadline
	// schedulers (priority.ShareConfig); nil: the defaults.
	Shares *priority.ShareConfig
	// Admission refuses submits while the pool is full (admission.go);
	// the zero value admits everything. It reads the samples SampleLoad
	// takes.
	Admission Admission
}

// WithTenants sets Config.Tenants.
func WithTenants(t *query.Tenants) Option { return func(c *Config) { c.Tenants = t } }

// WithShares sets Config.Shares.
func WithShares(sc priority.ShareConfig) Option { return func(c *Config) { c.Shares = &sc } }

// WithNodeMemory sets Config.NodeMemory.
func WithNodeMemory(bytes int64) Option { return func(c *Config) { c.NodeMemory = bytes } }

// WithQueryMemory sets Config.QueryMemory.
func WithQueryMemory(bytes int64) Option { return func(c *Config) { c.QueryMemory = bytes } }

// WithKeepEnded sets Config.KeepEnded and Config.KeepEndedFor.
func WithKeepEnded(n int, d time.Duration) Option {
	return func(c *Config) { c.KeepEnded, c.KeepEndedFor = n, d }
}

// WithFileRoot sets Config.FileRoot.
func WithFileRoot(dir string) Option { return func(c *Config) { c.FileRoot = dir } }

// Option sets a field of Config.
type Option func(*Config)

// WithWorkers sets Config.Workers.
func WithWorkers(n int) Option { return func(c *Config) { c.Workers = n } }

// WithScheduler sets Config.Scheduler.
func WithScheduler(name string) Option { return func(c *Config) { c.Scheduler = name } }

// WithTurn sets Config.Turn.
func WithTurn(t priority.TurnConfig) Option { return func(c *Config) { c.Turn = &t } }

// WithSpin sets Config.Spin.
func WithSpin(d time.Duration) Option { return func(c *Config) { c.Spin = d } }

// WithClock sets Config.Clock.
func WithClock(clk actors.Clock) Option { return func(c *Config) { c.Clock = clk } }

// WithLogger sets Config.Logger.
func WithLogger(l *slog.Logger) Option { return func(c *Config) { c.Logger = l } }

// WithMetrics sets Config.Metrics.
func WithMetrics(m *Metrics) Option { return func(c *Config) { c.Metrics = m } }

// WithMetricsPerQuery sets Config.MetricsPerQuery.
func WithMetricsPerQuery() Option { return func(c *Config) { c.MetricsPerQuery = true } }

// WithMaxBatch sets Config.MaxBatch.
func WithMaxBatch(n int) Option { return func(c *Config) { c.MaxBatch = n } }

// DefaultFireSlice is Config.FireSlice's default.
const DefaultFireSlice = 1024

// WithFireSlice sets Config.FireSlice.
func WithFireSlice(n int) Option { return func(c *Config) { c.FireSlice = n } }

// DefaultMessageWork is Config.MessageWork's default.
const DefaultMessageWork = 500 * time.Microsecond

// WithMessageWork sets Config.MessageWork.
func WithMessageWork(d time.Duration) Option { return func(c *Config) { c.MessageWork = d } }

// WithMaxInFlight sets Config.MaxInFlight.
func WithMaxInFlight(n int) Option { return func(c *Config) { c.MaxInFlight = n } }

// WithSourceTick sets Config.SourceTick.
func WithSourceTick(d time.Duration) Option { return func(c *Config) { c.SourceTick = d } }

// WithUnpacedSources sets Config.Unpaced.
func WithUnpacedSources() Option { return func(c *Config) { c.Unpaced = true } }

// WithStdout sets Config.Stdout.
func WithStdout(w io.Writer) Option { return func(c *Config) { c.Stdout = w } }

// WithPaperFrontiers sets Config.PaperFrontiers.
func WithPaperFrontiers() Option { return func(c *Config) { c.PaperFrontiers = true } }

// WithPolicy sets Config.Policy.
func WithPolicy(p priority.Policy) Option { return func(c *Config) { c.Policy = p } }

// WithStdin sets Config.Stdin.
func WithStdin(r io.Reader) Option { return func(c *Config) { c.Stdin = r } }

func (c *Config) fill() {
	if c.Workers == 0 {
		c.Workers = goruntime.GOMAXPROCS(0)
	}
	if c.Scheduler == "" {
		c.Scheduler = actors.SchedulerCameo
	}
	if c.Clock == nil {
		c.Clock = actors.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 1024
	}
	if c.Admission.Window == 0 {
		c.Admission.Window = 10 * time.Second
	}
	if c.MessageWork == 0 {
		c.MessageWork = DefaultMessageWork
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 4096
	}
	if c.FireSlice == 0 {
		c.FireSlice = DefaultFireSlice
	}
	if c.SourceTick == 0 {
		c.SourceTick = time.Millisecond
	}
	if c.QueryMemory == 0 {
		c.QueryMemory = DefaultQueryMemory
	}
	if c.NodeMemory == 0 {
		c.NodeMemory = DefaultNodeMemory()
	}
	if c.MemoryCheck == 0 {
		c.MemoryCheck = 100 * time.Millisecond
	}
	if c.KeepEnded == 0 {
		c.KeepEnded = 100
	}
	if c.KeepEndedFor == 0 {
		c.KeepEndedFor = time.Hour
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stdin == nil {
		c.Stdin = os.Stdin
	}
	if c.Cluster != nil {
		c.Cluster.fill()
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Workers < 1 || c.Workers > 4096 {
		errs = append(errs, fmt.Errorf("workers %d: want 1 to 4096", c.Workers))
	}
	if !slices.Contains(actors.SchedulerNames(), c.Scheduler) {
		errs = append(errs, fmt.Errorf("%w %q (valid: %s)", actors.ErrUnknownScheduler, c.Scheduler, strings.Join(actors.SchedulerNames(), ", ")))
	}
	if a := c.Admission; !(a.Below >= 0 && a.Below <= 1) || a.Window < 0 || a.SchedLatency < 0 {
		errs = append(errs, fmt.Errorf("admission: threshold %v must be 0 (off) to 1, window %v and scheduling latency %v >= 0", a.Below, a.Window, a.SchedLatency))
	}
	if c.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("max batch %d: want >= 1", c.MaxBatch))
	}
	if c.MaxInFlight < 2 {
		errs = append(errs, fmt.Errorf("max in flight %d: want >= 2", c.MaxInFlight))
	}
	if c.Policy != nil && !actors.IsDeadlineScheduler(c.Scheduler) {
		errs = append(errs, fmt.Errorf("a policy needs a deadline scheduler (%s), not %q", strings.Join(actors.DeadlineSchedulers, ", "), c.Scheduler))
	}
	if c.MemoryCheck < time.Millisecond || c.MemoryCheck > time.Minute {
		errs = append(errs, fmt.Errorf("memory check %v: want 1ms to 1m", c.MemoryCheck))
	}
	if c.FireSlice < 1 || c.FireSlice > 1<<20 {
		errs = append(errs, fmt.Errorf("fire slice %d: want 1 to %d results", c.FireSlice, 1<<20))
	}
	if c.SourceTick <= 0 || c.SourceTick > time.Second {
		errs = append(errs, fmt.Errorf("source tick %v: want > 0 and <= 1s", c.SourceTick))
	}
	if c.Cluster != nil {
		errs = append(errs, c.Cluster.validate())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return nil
}

// Engine runs queries in one process: it compiles each spec into actors on
// one shared scheduler (one dispatcher for every actor of every query and
// tenant) and owns their sources, sinks and metrics. Safe for concurrent
// use.
type Engine struct {
	cfg         Config
	sys         *actor.ActorSystem
	sched       *actors.Scheduler
	timers      *actors.Timers // every query's sources, served by the workers
	load        loadMeter      // for admission
	cluster     *cluster       // nil: a single process
	files       *files
	idPrefix    string // a node's name and '.', so query ids are unique in a cluster
	shutdown    sync.Once
	clusterDown sync.Once
	nodeMem     atomic.Int64 // the running queries' estimated memory at the last check
	// memScratch and memHeld are checkMemory's, kept from check to check,
	// under memMu (the watcher runs it; tests call it too).
	memMu       sync.Mutex
	memScratch  []*Query
	memHeld     []int64
	memStop     chan struct{} // closed by Stop: watchMemory returns
	memStopOnce sync.Once
	memWatch    sync.WaitGroup
	// bg is every goroutine a query owns beyond its sources (connectors'
	// readers and deliveries, sink closes, final commits): Stop waits for
	// them, cancelled and forgotten queries' included.
	bg sync.WaitGroup

	mu struct {
		sync.Mutex
		queries map[string]*Query
		// byName and byTenant index the queries submitted here by tenant
		// and name, and by tenant (Active, the tenant quota); ended ones
		// leave them when they are looked at (activeLocked).
		byName   map[tenantName][]*Query
		byTenant map[string][]*Query
		ended    []endedQuery // oldest first
		seq      int
		stopped  bool
	}
}

type tenantName struct{ tenant, name string }

// Active returns a query of tenant called name that is running or
// draining on this engine, if there is one; without looking at the
// others, so that a node holding thousands answers at once.
func (e *Engine) Active(tenant, name string) (*Query, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := tenantName{tenant, name}
	qs := activeLocked(e.mu.byName, key)
	if len(qs) == 0 {
		return nil, false
	}
	return qs[0], true
}

// forgetLocked removes q from the engine's queries and, once it ended,
// from the indexes; e.mu held.
func (e *Engine) forgetLocked(q *Query) {
	delete(e.mu.queries, q.id)
	activeLocked(e.mu.byName, tenantName{q.spec.Tenant, q.spec.Name})
	activeLocked(e.mu.byTenant, q.spec.Tenant)
}

// activeLocked returns the queries of index[key] that have not ended,
// and forgets the others; e.mu held.
func activeLocked[K comparable](index map[K][]*Query, key K) []*Query {
	qs := index[key]
	kept := qs[:0]
	for _, q := range qs {
		if !q.State().Ended() {
			kept = append(kept, q)
		}
	}
	clear(qs[len(kept):])
	if len(kept) == 0 {
		delete(index, key)
		return nil
	}
	index[key] = kept
	return kept
}

type endedQuery struct {
	id string
	at int64 // clock time it ended
}

// noteEnded records that q ended and forgets what is past the bounds.
func (e *Engine) noteEnded(q *Query) {
	e.mu.Lock()
	if e.mu.queries[q.id] == q {
		e.mu.ended = append(e.mu.ended, endedQuery{id: q.id, at: e.cfg.Clock.Now()})
	}
	e.mu.Unlock()
	e.prune()
}

// prune forgets the ended queries past KeepEnded or older than
// KeepEndedFor.
func (e *Engine) prune() {
	now := e.cfg.Clock.Now()
	var gone []string
	e.mu.Lock()
	for len(e.mu.ended) > 0 {
		old := e.mu.ended[0]
		over := e.cfg.KeepEnded >= 0 && len(e.mu.ended) > e.cfg.KeepEnded
		stale := e.cfg.KeepEndedFor >= 0 && now-old.at > int64(e.cfg.KeepEndedFor)
		if !over && !stale {
			break
		}
		e.mu.ended = e.mu.ended[1:]
		if q, ok := e.mu.queries[old.id]; ok && q.State() != StateRunning && q.State() != StateDraining {
			e.forgetLocked(q)
			gone = append(gone, old.id)
		}
	}
	e.mu.Unlock()
	for _, id := range gone {
		e.cfg.Metrics.Remove(id)
	}
}

// New returns a running engine configured by opts.
func New(opts ...Option) (*Engine, error) {
	var cfg Config
	for _, o := range opts {
		o(&cfg)
	}
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	timers := actors.NewTimers(cfg.Clock)
	dopts := []actors.Option{actors.WithWorkers(cfg.Workers), actors.WithClock(cfg.Clock)}
	if !cfg.manualTimers {
		dopts = append(dopts, actors.WithTimers(timers))
	}
	if cfg.Turn != nil {
		dopts = append(dopts, actors.WithTurn(*cfg.Turn))
	}
	if cfg.Spin != 0 {
		dopts = append(dopts, actors.WithSpin(cfg.Spin))
	}
	if cfg.Tenants != nil {
		dopts = append(dopts, actors.WithTenantWeights(cfg.Tenants.Weights(), cfg.Tenants.Default.Weight))
	}
	if cfg.Shares != nil {
		dopts = append(dopts, actors.WithShares(*cfg.Shares))
	}
	sched, err := actors.NewScheduler(cfg.Scheduler, dopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	fs, err := openFiles(cfg.FileRoot)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if cfg.MetricsPerQuery {
		cfg.Metrics.SetPerQuery(true)
	}
	e := &Engine{cfg: cfg, sys: actors.NewActorSystem(slog.New(minLevel{slog.LevelWarn, cfg.Logger.Handler()})), sched: sched, files: fs, timers: timers}
	e.mu.queries = map[string]*Query{}
	e.mu.byName = map[tenantName][]*Query{}
	e.mu.byTenant = map[string][]*Query{}
	e.load.window = int64(cfg.Admission.Window)
	if actors.IsDeadlineScheduler(cfg.Scheduler) {
		cfg.Metrics.mu.Lock()
		cfg.Metrics.weight = sched.TenantWeight
		cfg.Metrics.mu.Unlock()
	}
	if cfg.Cluster != nil {
		if e.cluster, err = startCluster(e, *cfg.Cluster); err != nil {
			e.shutdown.Do(e.sys.Shutdown)
			_ = fs.close()
			return nil, err
		}
		e.idPrefix = cfg.Cluster.Name + "."
	}
	e.memStop = make(chan struct{})
	e.memWatch.Add(1)
	go e.watchMemory()
	if !cfg.manualTimers {
		timers.Start()
	}
	return e, nil
}

// TimerStats returns the counters of the timers the engine's sources run
// on: how many steps ran, how many of them workers ran between turns, and
// how late they ran.
func (e *Engine) TimerStats() actors.TimerStats { return e.timers.Stats() }

// Cluster returns the node's view of its cluster; false when the engine
// is not a node of one.
func (e *Engine) Cluster() (ClusterInfo, bool) {
	if e.cluster == nil {
		return ClusterInfo{}, false
	}
	return e.cluster.info(), true
}

// Config returns the engine's configuration with defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// Metrics returns the registry every query records into; it is a
// prometheus.Collector.
func (e *Engine) Metrics() *Metrics { return e.cfg.Metrics }

// Scheduler returns the scheduler the engine's actors run on.
func (e *Engine) Scheduler() *actors.Scheduler { return e.sched }

// Submit builds a compiled plan (from query.Parse, query.ParseFile,
// query.Compile or a Builder) into actors and starts its sources. The
// query runs until its sources end and it drains, until it is cancelled,
// or until it fails; ctx bounds only the submission.
func (e *Engine) Submit(ctx context.Context, plan *query.Plan) (*Query, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if plan == nil {
		return nil, fmt.Errorf("%w: no plan (parse a spec with query.Parse, or build one with query.NewBuilder)", query.ErrInvalidSpec)
	}
	spec := plan.Spec() // the query's own copy, read only from here on
	if err := e.checkFanOut(spec); err != nil {
		return nil, err
	}
	policy := e.cfg.Tenants.Policy(spec.Tenant)
	bestEffort := false
	if why := e.memoryFull(); why != "" {
		return nil, fmt.Errorf("%w: %s", ErrOverloaded, why) // best effort does not make memory
	}
	if why := e.full(); why != "" {
		if !policy.BestEffort {
			return nil, fmt.Errorf("%w: %s", ErrOverloaded, why)
		}
		bestEffort = true // its tenant takes what feasible work leaves
	}
	e.mu.Lock()
	if e.mu.stopped {
		e.mu.Unlock()
		return nil, ErrStopped
	}
	if max := policy.MaxQueries; max > 0 {
		if running := len(activeLocked(e.mu.byTenant, spec.Tenant)); running >= max {
			e.mu.Unlock()
			return nil, fmt.Errorf("%w: tenant %q is at its max_queries (%d running or draining; tenant file %s)", ErrTenantQuota, spec.Tenant, running, e.cfg.Tenants.File)
		}
	}
	e.mu.seq++
	id := e.idPrefix + "q" + strconv.Itoa(e.mu.seq)
	e.mu.Unlock()

	var pl *placement
	if e.cluster != nil {
		var err error
		if pl, err = e.cluster.place(spec); err != nil {
			return nil, err
		}
	}
	q, err := e.build(id, plan, spec, pl, bestEffort)
	if err != nil {
		return nil, err
	}
	if pl != nil {
		// Register first: the peers' replies and heartbeats look it up.
		e.mu.Lock()
		e.mu.queries[id] = q
		e.mu.Unlock()
		if err := e.cluster.deploy(q); err != nil {
			q.quiet.Store(true)
			q.abort(err)
			e.mu.Lock()
			delete(e.mu.queries, id)
			e.mu.Unlock()
			return nil, err
		}
	}
	e.mu.Lock()
	if e.mu.stopped {
		e.mu.Unlock()
		q.abort(ErrStopped)
		return nil, ErrStopped
	}
	e.mu.queries[id] = q
	key := tenantName{spec.Tenant, spec.Name}
	e.mu.byName[key] = append(e.mu.byName[key], q)
	e.mu.byTenant[spec.Tenant] = append(e.mu.byTenant[spec.Tenant], q)
	e.mu.Unlock()
	e.cfg.Metrics.Add(q.metrics)
	q.start()
	e.cfg.Logger.Info("query started", "id", id, "name", spec.Name, "tenant", spec.Tenant, "scheduler", e.cfg.Scheduler)
	return q, nil
}

// fanOut returns the in-flight weight of one batch of each source
// (Query.charge): a source posts to every instance of the stage it feeds
// (its events to one, its watermark to all), and each such message weighs
// what it can become before a window, a join or the sink takes it in.
// Saturates.
func fanOut(spec *query.Spec) int64 {
	plan := physicalPlan(spec)
	amp := amps(plan, spec.Parallelism, math.MaxInt64)
	var n int64
	for i, sp := range plan {
		if i == 0 {
			n = priority.AddSat(n, priority.MulSat(amp[0], int64(instancesOf(sp, spec.Parallelism))))
		}
		for range sp.extra {
			n = priority.AddSat(n, priority.MulSat(amp[i], int64(instancesOf(sp, spec.Parallelism))))
		}
	}
	return n
}

// checkFanOut refuses a query whose sources' batches can become more
// messages than the in-flight bound (Config.MaxInFlight) before any is
// handled: its sources wait until a batch fits under the bound, so one
// batch of each must fit.
func (e *Engine) checkFanOut(spec *query.Spec) error {
	n := fanOut(spec)
	if n <= int64(e.cfg.MaxInFlight) {
		return nil
	}
	best := 1
	for p := 2; p <= spec.Parallelism; p++ {
		s := *spec
		s.Parallelism = p
		if fanOut(&s) > int64(e.cfg.MaxInFlight) {
			break
		}
		best = p
	}
	return fmt.Errorf("%w: parallelism: %d with %d source(s) and its shuffles can put %d messages in flight from one batch of each source, over this engine's in-flight bound of %d per query (parallelism %d fits)",
		query.ErrInvalidSpec, spec.Parallelism, len(spec.Sources), n, e.cfg.MaxInFlight, best)
}

// Query returns a query by id.
func (e *Engine) Query(id string) (*Query, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	q, ok := e.mu.queries[id]
	return q, ok
}

// Queries returns every query the engine knows, by id: those running and
// the ended ones it still keeps (Config.KeepEnded).
func (e *Engine) Queries() []*Query {
	e.prune()
	e.mu.Lock()
	out := make([]*Query, 0, len(e.mu.queries))
	for _, q := range e.mu.queries {
		out = append(out, q)
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b *Query) int { return compareIDs(a.id, b.id) })
	return out
}

// IDAfter reports whether query id a comes after b in the order Queries
// lists them (a node's submission order: q9 before q10).
func IDAfter(a, b string) bool { return compareIDs(a, b) > 0 }

func compareIDs(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Cancel drains the query id (see Query.Cancel) and forgets it; its
// metrics leave the registry.
func (e *Engine) Cancel(ctx context.Context, id string) error {
	q, ok := e.Query(id)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownQuery, id)
	}
	err := q.Cancel(ctx)
	e.mu.Lock()
	e.forgetLocked(q)
	e.mu.ended = slices.DeleteFunc(e.mu.ended, func(x endedQuery) bool { return x.id == id })
	e.mu.Unlock()
	e.cfg.Metrics.Remove(id)
	return err
}

// Stats returns every query's statistics, by id.
func (e *Engine) Stats() []QueryStats {
	qs := e.Queries()
	out := make([]QueryStats, len(qs))
	for i, q := range qs {
		out[i] = q.Stats()
	}
	return out
}

// Stop drains the engine: it stops accepting queries, ends every source
// (finite sources that are still running are cut short), lets open
// windows flush and sinks close, then stops the workers. When ctx ends
// first, the queries still draining are aborted and Stop returns an error
// wrapping ErrDrainTimeout with their names. Stop may be called twice.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	e.mu.stopped = true
	e.mu.Unlock()
	qs := e.Queries()
	for _, q := range qs {
		// A part of a query another node coordinates drains when its
		// coordinator stops the query's sources: ask it to.
		if q.pl != nil && e.cluster != nil && q.pl.coordinator != e.cluster.cfg.Name && q.State() == StateRunning {
			e.sys.Root.Send(actor.NewPID(q.pl.addrs[q.pl.coordinator], clusterActor), &clusterpb.DrainPart{QueryId: q.id, Node: e.cluster.cfg.Name})
		}
		q.stopSources()
	}
	var errs []error
	var late []string
	for _, q := range qs {
		if err := q.Wait(ctx); err != nil && ctx.Err() != nil {
			late = append(late, q.id+" ("+q.spec.Name+")")
			q.abort(fmt.Errorf("%w: engine stopped", ErrDrainTimeout))
		}
	}
	if len(late) > 0 {
		errs = append(errs, fmt.Errorf("%w: %d queries still draining: %v", ErrDrainTimeout, len(late), late))
	}
	for _, q := range qs {
		q.wg.Wait() // sources and the goroutines the query owns
	}
	e.timers.Stop()
	// Workers may still be finishing the last messages of aborted queries;
	// give them the rest of ctx, or a moment.
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if ctx.Err() != nil {
		sctx, cancel = context.WithTimeout(context.Background(), time.Second)
	}
	defer cancel()
	if err := e.sched.Stop(sctx); err != nil && !errors.Is(err, actors.ErrAbandoned) {
		errs = append(errs, err)
	}
	if e.cluster != nil {
		e.clusterDown.Do(e.cluster.shutdown)
	}
	e.memStopOnce.Do(func() { close(e.memStop) })
	e.memWatch.Wait()
	e.bg.Wait()            // each bounded: a query's end cancels what it owns
	e.shutdown.Do(func() { // it closes a channel: once only
		e.sys.Shutdown()
		if err := e.files.close(); err != nil {
			errs = append(errs, err)
		}
	})
	return errors.Join(errs...)
}

// submitPart runs this node's part of a query a peer coordinates: the
// instances placed here, fed and drained by the coordinator's sources.
func (e *Engine) submitPart(id string, plan *query.Plan, pl *placement) error {
	e.mu.Lock()
	if e.mu.stopped {
		e.mu.Unlock()
		return ErrStopped
	}
	if _, dup := e.mu.queries[id]; dup {
		e.mu.Unlock()
		return fmt.Errorf("query id %s is already known here", id)
	}
	e.mu.Unlock()
	q, err := e.build(id, plan, plan.Spec(), pl, false)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.mu.queries[id] = q
	e.mu.Unlock()
	e.cfg.Metrics.Add(q.metrics)
	q.started = time.Now()
	e.cfg.Logger.Info("query part started", "id", id, "name", plan.Name(), "coordinator", pl.coordinator)
	return nil
}
