package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/priority"
)

// Scheduler names accepted by NewScheduler. cameo, llf, edf, sjf and fair
// run the deadline Dispatcher with that policy; the rest are baselines.
const (
	SchedulerCameo = priority.PolicyCameo
	SchedulerLLF   = priority.PolicyLLF
	SchedulerEDF   = priority.PolicyEDF
	SchedulerSJF   = priority.PolicySJF
	SchedulerFair  = priority.PolicyFair
	// SchedulerFIFO is the worker pool with one global FIFO of messages.
	SchedulerFIFO = priority.PolicyFIFO
	// SchedulerProtoactor is unmodified protoactor-go: its default mailbox
	// and goroutine dispatcher (a goroutine per busy mailbox, FIFO inside).
	SchedulerProtoactor = "protoactor"
	// SchedulerSlots gives each group (query) a fixed pool of workers of
	// its own, FIFO inside, as slot-based engines do.
	SchedulerSlots = "slots"
)

// SchedulerNames lists the schedulers NewScheduler knows, the default first.
func SchedulerNames() []string {
	return []string{SchedulerCameo, SchedulerLLF, SchedulerEDF, SchedulerSJF, SchedulerFIFO, SchedulerFair, SchedulerProtoactor, SchedulerSlots}
}

// Scheduler is a named way of running actors: the props options that put an
// actor on it, and the policy its senders stamp contexts with.
type Scheduler struct {
	name       string
	policy     priority.Policy
	shared     *Dispatcher // deadline policies and fifo
	slotOpts   []Option
	throughput int

	mu struct {
		sync.Mutex
		groups  map[string]*Dispatcher // slots
		stopped bool
	}
}

// DeadlineSchedulers are the schedulers that order work by a policy's
// keys on the shared worker pool: the ones a user-defined policy can drive.
var DeadlineSchedulers = []string{SchedulerCameo, SchedulerLLF, SchedulerEDF, SchedulerSJF, SchedulerFair}

// IsDeadlineScheduler reports whether name is one of DeadlineSchedulers.
func IsDeadlineScheduler(name string) bool { return slices.Contains(DeadlineSchedulers, name) }

// NewScheduler returns the scheduler called name, configured by opts (for
// slots, opts configure each group's pool; WithWorkers sets its size).
func NewScheduler(name string, opts ...Option) (*Scheduler, error) {
	s := &Scheduler{name: name, throughput: 300}
	switch {
	case IsDeadlineScheduler(name):
		p, err := priority.PolicyByName(name)
		if err != nil {
			return nil, err
		}
		s.policy = p
		if name == SchedulerSJF || name == SchedulerFair {
			// Their keys are not times: lateness means nothing.
			opts = append(slices.Clone(opts), func(c *Config) { c.Shares.DeferAfter = -1 })
		}
		if s.shared, err = NewDispatcher(opts...); err != nil {
			return nil, err
		}
	case name == SchedulerFIFO:
		s.policy = priority.FIFO{}
		var err error
		if s.shared, err = NewDispatcher(append(opts, WithOrder(OrderFIFO))...); err != nil {
			return nil, err
		}
	case name == SchedulerProtoactor:
		s.policy = priority.FIFO{}
	case name == SchedulerSlots:
		s.policy = priority.FIFO{}
		var cfg Config
		for _, o := range opts {
			o(&cfg)
		}
		if cfg.Workers == 0 {
			opts = append(opts, WithWorkers(1))
		}
		s.slotOpts = append(opts, WithOrder(OrderFIFO))
		s.mu.groups = map[string]*Dispatcher{}
	default:
		return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknownScheduler, name, strings.Join(SchedulerNames(), ", "))
	}
	return s, nil
}

// Name returns the scheduler's name.
func (s *Scheduler) Name() string { return s.name }

// Policy returns the policy senders stamp contexts with.
func (s *Scheduler) Policy() priority.Policy { return s.policy }

// PropsOptions returns the options that run an actor of group g on this
// scheduler: its share on the shared pool, its own pool under slots.
func (s *Scheduler) PropsOptions(g Group) ([]actor.PropsOption, error) {
	group := g.Query
	switch {
	case s.shared != nil:
		return s.shared.PropsOptionsIn(g)
	case s.name == SchedulerProtoactor:
		return []actor.PropsOption{actor.WithMailbox(actor.Unbounded()), actor.WithDispatcher(actor.NewDefaultDispatcher(s.throughput))}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.stopped {
		return nil, fmt.Errorf("actors: scheduler %s is stopped", s.name)
	}
	d, ok := s.mu.groups[group]
	if !ok {
		var err error
		if d, err = NewDispatcher(s.slotOpts...); err != nil {
			return nil, err
		}
		s.mu.groups[group] = d
	}
	return d.PropsOptions(), nil
}

// ReleaseGroup forgets the share of a query that ended (see
// Dispatcher.ReleaseGroup); under slots it changes nothing.
func (s *Scheduler) ReleaseGroup(g Group) {
	if s.shared != nil {
		s.shared.ReleaseGroup(g.Tenant, g.Query)
	}
}

// Shares returns the figures of every query's share on the shared pool;
// nil for the schedulers without one.
func (s *Scheduler) Shares() []ShareStats {
	if s.shared == nil {
		return nil
	}
	return s.shared.Shares()
}

// ShareOf returns the figures of group g's share on the shared pool.
func (s *Scheduler) ShareOf(g Group) (ShareStats, bool) {
	if s.shared == nil {
		return ShareStats{}, false
	}
	return s.shared.ShareOf(g)
}

// Charge charges ns of work done for g outside its actors' turns to g's
// share of the shared pool (Dispatcher.Charge); nothing for the
// schedulers without one.
func (s *Scheduler) Charge(g Group, ns int64) {
	if s.shared != nil {
		s.shared.Charge(g, ns)
	}
}

// TenantWeight returns a tenant's weight on the shared pool; 0 for the
// schedulers without one.
func (s *Scheduler) TenantWeight(tenant string) float64 {
	if s.shared == nil {
		return 0
	}
	return s.shared.TenantWeight(tenant)
}

// Dispatchers returns the worker pools of the scheduler: one for the
// deadline policies and fifo, one per group for slots, none for protoactor.
func (s *Scheduler) Dispatchers() []*Dispatcher {
	if s.shared != nil {
		return []*Dispatcher{s.shared}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Dispatcher, 0, len(s.mu.groups))
	for _, d := range s.mu.groups {
		out = append(out, d)
	}
	return out
}

// Stop stops every worker pool of the scheduler; it may be called twice.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.mu.stopped = true
	s.mu.Unlock()
	var errs []error
	for _, d := range s.Dispatchers() {
		errs = append(errs, d.Stop(ctx))
	}
	return errors.Join(errs...)
}
