package priority

import "math"

// NoWatermark marks a Stamp or context that carries no event-time watermark.
const NoWatermark int64 = math.MinInt64

// PriorityContext is the scheduling context that travels with every message
// (the paper's scheduling context). All times are int64 nanoseconds of wall-clock Unix time read
// from the one injected clock; LatencyTarget is a duration in nanoseconds.
//
// Global orders work across actors (smaller is more urgent); Local orders
// messages inside one actor (the window id where there is one).
type PriorityContext struct {
	QueryID       string
	Tenant        string
	LatencyTarget int64 // L
	Arrival       int64 // source arrival time of the frontier input
	Frontier      int64 // t_MF at the operator the message is bound for
	Global        int64 // the key across actors
	Local         int64 // the key inside one actor
	Hops          uint32
}

// Deadline is the time by which the output this message contributes to must
// be emitted: t_MF + L.
func (c PriorityContext) Deadline() int64 { return c.Frontier + c.LatencyTarget }

// Query is what policies need to know of a query when they stamp its
// messages at a source.
type Query struct {
	ID            string
	Tenant        string
	LatencyTarget int64   // L in nanoseconds; must be > 0
	Weight        float64 // share for the fair policy; <= 0 means 1
}

// Hop is what the sender of a message knows of the operator instance the
// message is bound for: the frontier of the message at that operator (from
// the operator's FrontierRule) and the operator's published costs.
type Hop struct {
	Frontier Frontier
	Cost     int64 // C_oM: profiled cost of one message at the receiving operator
	PathCost int64 // C_path: critical-path cost from the receiver to the sink
}

// Reply is the reply context a downstream operator instance sends upstream
// (the paper's reply path). Its Total is what the upstream counts as the cost
// of the path through this downstream.
type Reply struct {
	From     string // the downstream operator instance
	Cost     int64  // its profiled execution cost per message
	PathCost int64  // its own C_path (max over its downstreams)
	Queueing int64  // observed inbound queueing delay at it
	Network  int64  // observed delivery delay from the upstream to it
}

// Total is the cost of the path that starts at the replying operator.
func (r Reply) Total() int64 { return r.Cost + r.PathCost + r.Queueing + r.Network }
