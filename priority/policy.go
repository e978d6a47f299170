package priority

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Policy turns query semantics and measured costs into priorities. It has the
// four hooks of the paper's context converter:
//
//   - BuildAtSource stamps a newly ingested batch bound for its first operator;
//   - BuildAtOperator derives the context of a message an operator emits from
//     the context of the message that produced it;
//   - PrepareReply is called at the receiving operator after it executed a
//     message, to fill the reply context sent upstream;
//   - ProcessReply is called at the upstream operator that receives it.
//
// Hooks are called concurrently from many operators; a policy with state
// guards it. Global priorities are compared across every actor of one
// dispatcher, so one dispatcher serves one policy.
type Policy interface {
	Name() string
	BuildAtSource(now int64, q Query, arrival int64, hop Hop) PriorityContext
	BuildAtOperator(now int64, in PriorityContext, hop Hop) PriorityContext
	PrepareReply(now int64, executed PriorityContext, r Reply) Reply
	ProcessReply(now int64, r Reply, paths *PathCosts)
}

// Policy names accepted by PolicyByName.
const (
	PolicyCameo = "cameo"
	PolicyLLF   = "llf"
	PolicyEDF   = "edf"
	PolicySJF   = "sjf"
	PolicyFIFO  = "fifo"
	PolicyFair  = "fair"
)

// PolicyNames lists the built-in policies, the default first.
func PolicyNames() []string {
	return []string{PolicyCameo, PolicyLLF, PolicyEDF, PolicySJF, PolicyFIFO, PolicyFair}
}

// PolicyByName returns a new instance of a built-in policy.
func PolicyByName(name string) (Policy, error) {
	switch name {
	case PolicyCameo:
		return Cameo{}, nil
	case PolicyLLF:
		return LLF{}, nil
	case PolicyEDF:
		return EDF{}, nil
	case PolicySJF:
		return SJF{}, nil
	case PolicyFIFO:
		return FIFO{}, nil
	case PolicyFair:
		return NewFair(), nil
	}
	return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknownPolicy, name, strings.Join(PolicyNames(), ", "))
}

var (
	_ Policy = Cameo{}
	_ Policy = LLF{}
	_ Policy = EDF{}
	_ Policy = SJF{}
	_ Policy = FIFO{}
	_ Policy = (*Fair)(nil)
)

// globalFunc is a policy's formula: the global priority of a message whose
// context (Frontier, Local, Arrival, LatencyTarget filled in) is c, bound
// for the operator described by hop.
type globalFunc func(now int64, c PriorityContext, hop Hop) int64

// atSource and atOperator are the context-building hooks every policy
// shares: they fill the context's descriptive fields and apply the
// policy's formula.
func atSource(now int64, q Query, arrival int64, hop Hop, global globalFunc) PriorityContext {
	c := PriorityContext{
		QueryID:       q.ID,
		Tenant:        q.Tenant,
		LatencyTarget: q.LatencyTarget,
		Arrival:       arrival,
		Frontier:      hop.Frontier.Time,
		Local:         hop.Frontier.Local,
	}
	c.Global = global(now, c, hop)
	return c
}

func atOperator(now int64, in PriorityContext, hop Hop, global globalFunc) PriorityContext {
	c := in
	c.Frontier = hop.Frontier.Time
	c.Local = hop.Frontier.Local
	c.Hops++
	c.Global = global(now, c, hop)
	return c
}

// costReply is the reply hooks of the cost-based policies: the reply is sent
// as measured, and the upstream keeps the maximum over its downstreams.
type costReply struct{}

func (costReply) PrepareReply(_ int64, _ PriorityContext, r Reply) Reply { return r }
func (costReply) ProcessReply(_ int64, r Reply, paths *PathCosts)        { paths.Observe(r.From, r.Total()) }

// Cameo is the paper's policy (slide 26): the latest start time of the
// message, t_MF + L − C_oM − C_path. It is semantics-aware (t_MF from window
// frontiers) and topology-aware (costs along the critical path).
type Cameo struct{ costReply }

func cameoGlobal(_ int64, c PriorityContext, h Hop) int64 {
	return SubSat(SubSat(AddSat(c.Frontier, c.LatencyTarget), h.Cost), h.PathCost)
}

func (Cameo) Name() string { return PolicyCameo }
func (Cameo) BuildAtSource(now int64, q Query, arrival int64, hop Hop) PriorityContext {
	return atSource(now, q, arrival, hop, cameoGlobal)
}
func (Cameo) BuildAtOperator(now int64, in PriorityContext, hop Hop) PriorityContext {
	return atOperator(now, in, hop, cameoGlobal)
}

// LLF is topology-aware only: arrival + L − C_oM − C_path, with no window
// frontier.
type LLF struct{ costReply }

func llfGlobal(_ int64, c PriorityContext, h Hop) int64 {
	return SubSat(SubSat(AddSat(c.Arrival, c.LatencyTarget), h.Cost), h.PathCost)
}

func (LLF) Name() string { return PolicyLLF }
func (LLF) BuildAtSource(now int64, q Query, arrival int64, hop Hop) PriorityContext {
	return atSource(now, q, arrival, hop, llfGlobal)
}
func (LLF) BuildAtOperator(now int64, in PriorityContext, hop Hop) PriorityContext {
	return atOperator(now, in, hop, llfGlobal)
}

// EDF orders by the output deadline of the input alone: arrival + L.
type EDF struct{ costReply }

func edfGlobal(_ int64, c PriorityContext, _ Hop) int64 { return AddSat(c.Arrival, c.LatencyTarget) }

func (EDF) Name() string { return PolicyEDF }
func (EDF) BuildAtSource(now int64, q Query, arrival int64, hop Hop) PriorityContext {
	return atSource(now, q, arrival, hop, edfGlobal)
}
func (EDF) BuildAtOperator(now int64, in PriorityContext, hop Hop) PriorityContext {
	return atOperator(now, in, hop, edfGlobal)
}

// SJF runs the cheapest message first: the priority is C_oM.
type SJF struct{ costReply }

func sjfGlobal(_ int64, _ PriorityContext, h Hop) int64 { return h.Cost }

func (SJF) Name() string { return PolicySJF }
func (SJF) BuildAtSource(now int64, q Query, arrival int64, hop Hop) PriorityContext {
	return atSource(now, q, arrival, hop, sjfGlobal)
}
func (SJF) BuildAtOperator(now int64, in PriorityContext, hop Hop) PriorityContext {
	return atOperator(now, in, hop, sjfGlobal)
}

// FIFO orders messages by the time they were sent (now at each hop), which
// makes the deadline dispatcher a global FIFO of messages.
type FIFO struct{ costReply }

func fifoGlobal(now int64, _ PriorityContext, _ Hop) int64 { return now }

func (FIFO) Name() string { return PolicyFIFO }
func (FIFO) BuildAtSource(now int64, q Query, arrival int64, hop Hop) PriorityContext {
	return atSource(now, q, arrival, hop, fifoGlobal)
}
func (FIFO) BuildAtOperator(now int64, in PriorityContext, hop Hop) PriorityContext {
	return atOperator(now, in, hop, fifoGlobal)
}

// MinFairCost is the cost the fair policy charges for a message whose
// operator has no profile yet, so that virtual time always advances.
const MinFairCost int64 = 1000 // 1 µs

// Fair is proportional sharing by query weight: self-clocked fair queueing
// (Golestani 1994). A message of query q with cost c gets the virtual finish
// tag F = max(V, F_q) + c/w_q, where V is the finish tag of the message most
// recently executed (advanced in PrepareReply). Priorities are virtual
// times, not wall times.
type Fair struct {
	costReply
	mu struct {
		sync.Mutex
		v      float64            // virtual time
		finish map[string]float64 // F_q per query
		weight map[string]float64
	}
}

// NewFair returns a fair-share policy with no queries yet.
func NewFair() *Fair {
	f := &Fair{}
	f.mu.finish = map[string]float64{}
	f.mu.weight = map[string]float64{}
	return f
}

func (f *Fair) Name() string { return PolicyFair }

// SetWeight sets the share of a query; a weight <= 0 means 1.
func (f *Fair) SetWeight(queryID string, w float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.setWeightLocked(queryID, w)
}

func (f *Fair) setWeightLocked(queryID string, w float64) {
	if w <= 0 {
		w = 1
	}
	f.mu.weight[queryID] = w
}

// Shares returns the weights known, normalised to sum to 1, by query.
func (f *Fair) Shares() map[string]float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var total float64
	for _, w := range f.mu.weight {
		total += w
	}
	out := make(map[string]float64, len(f.mu.weight))
	ids := make([]string, 0, len(f.mu.weight))
	for id := range f.mu.weight {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		out[id] = f.mu.weight[id] / total
	}
	return out
}

func (f *Fair) tag(queryID string, cost int64) int64 {
	if cost <= 0 {
		cost = MinFairCost
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.mu.weight[queryID]
	if !ok {
		w = 1
		f.mu.weight[queryID] = w
	}
	fin := max(f.mu.v, f.mu.finish[queryID]) + float64(cost)/w
	f.mu.finish[queryID] = fin
	return int64(fin)
}

func (f *Fair) BuildAtSource(now int64, q Query, arrival int64, hop Hop) PriorityContext {
	f.mu.Lock()
	if _, ok := f.mu.weight[q.ID]; !ok || q.Weight > 0 {
		f.setWeightLocked(q.ID, q.Weight)
	}
	f.mu.Unlock()
	return atSource(now, q, arrival, hop, f.global)
}

func (f *Fair) BuildAtOperator(now int64, in PriorityContext, hop Hop) PriorityContext {
	return atOperator(now, in, hop, f.global)
}

func (f *Fair) global(_ int64, c PriorityContext, h Hop) int64 { return f.tag(c.QueryID, h.Cost) }

// PrepareReply advances virtual time to the finish tag of the executed
// message.
func (f *Fair) PrepareReply(_ int64, executed PriorityContext, r Reply) Reply {
	f.mu.Lock()
	f.mu.v = max(f.mu.v, float64(executed.Global))
	f.mu.Unlock()
	return r
}
