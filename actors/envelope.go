package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/actors/actorspb"
	"github.com/cameo-go/cameo/priority"
)

// ToProto converts a priority context to its wire form.
func ToProto(c priority.PriorityContext) *actorspb.SchedulingContext {
	return &actorspb.SchedulingContext{
		QueryId:         c.QueryID,
		Tenant:          c.Tenant,
		LatencyTargetNs: c.LatencyTarget,
		ArrivalNs:       c.Arrival,
		FrontierNs:      c.Frontier,
		GlobalPriority:  c.Global,
		LocalPriority:   c.Local,
		Hops:            c.Hops,
	}
}

// FromProto converts a wire context to a priority context; nil gives the
// zero context.
func FromProto(p *actorspb.SchedulingContext) priority.PriorityContext {
	if p == nil {
		return priority.PriorityContext{}
	}
	return priority.PriorityContext{
		QueryID:       p.GetQueryId(),
		Tenant:        p.GetTenant(),
		LatencyTarget: p.GetLatencyTargetNs(),
		Arrival:       p.GetArrivalNs(),
		Frontier:      p.GetFrontierNs(),
		Global:        p.GetGlobalPriority(),
		Local:         p.GetLocalPriority(),
		Hops:          p.GetHops(),
	}
}

// ReplyToProto and ReplyFromProto convert reply contexts.
func ReplyToProto(r priority.Reply) *actorspb.Reply {
	return &actorspb.Reply{From: r.From, CostNs: r.Cost, PathCostNs: r.PathCost, QueueingNs: r.Queueing, NetworkNs: r.Network}
}

// ReplyFromProto converts a wire reply; nil gives the zero reply.
func ReplyFromProto(p *actorspb.Reply) priority.Reply {
	return priority.Reply{From: p.GetFrom(), Cost: p.GetCostNs(), PathCost: p.GetPathCostNs(), Queueing: p.GetQueueingNs(), Network: p.GetNetworkNs()}
}

// ContextCarrier is any message that carries a scheduling context; the
// generated *actorspb.Envelope is one.
type ContextCarrier interface {
	GetContext() *actorspb.SchedulingContext
}

var _ ContextCarrier = (*actorspb.Envelope)(nil)

// Prioritized is an in-process message that carries its local and global
// priorities without a protobuf context; the engine's batches are. The
// mailbox asks for Priorities before it looks for a ContextCarrier.
type Prioritized interface {
	Priorities() (local, global int64)
}

// ContextOf returns the scheduling context of a message, looking inside a
// protoactor *actor.MessageEnvelope (sender or headers) when there is one;
// nil when the message carries none.
func ContextOf(msg any) *actorspb.SchedulingContext {
	switch m := msg.(type) {
	case ContextCarrier:
		return m.GetContext()
	case *actor.MessageEnvelope:
		if c, ok := m.Message.(ContextCarrier); ok {
			return c.GetContext()
		}
	}
	return nil
}

// NewEnvelope returns an envelope carrying ctx and events.
func NewEnvelope(ctx priority.PriorityContext, events ...*actorspb.Event) *actorspb.Envelope {
	return &actorspb.Envelope{Context: ToProto(ctx), Events: events}
}
