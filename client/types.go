package client

import (
	"encoding/json"
	"fmt"
)

// The node API's JSON vocabulary: what the node answers and this package's
// Client returns. The runtime uses the same types (as aliases), so a field
// is defined once.

// State is where a query is in its life.
type State string

// The states of a query: running until its sources end or it is
// cancelled, draining while the last windows flush, then done, cancelled
// or failed.
const (
	StateRunning   State = "running"
	StateDraining  State = "draining"
	StateDone      State = "done"
	StateCancelled State = "cancelled"
	StateFailed    State = "failed"
)

// Ended reports whether a query in state s has ended: done, cancelled or
// failed.
func (s State) Ended() bool { return s == StateDone || s == StateCancelled || s == StateFailed }

// QueryStats is a snapshot of a query's metrics; latencies in milliseconds.
type QueryStats struct {
	ID              string  `json:"id"`
	Name            string  `json:"name"`
	Tenant          string  `json:"tenant"`
	LatencyTargetMs float64 `json:"latency_target_ms"`
	// EventsRead = EventsIn + Late + Dropped once the query has ended
	// (the runtime's accounting): every event read is in, late or dropped.
	EventsRead uint64 `json:"events_read"`
	// EventsIn counts the events the query computed with: read, neither
	// dropped nor late.
	EventsIn uint64  `json:"events_in"`
	Results  uint64  `json:"results"`
	P50Ms    float64 `json:"p50_ms"`
	P90Ms    float64 `json:"p90_ms"`
	P99Ms    float64 `json:"p99_ms"`
	P999Ms   float64 `json:"p999_ms"`
	MaxMs    float64 `json:"max_ms"`
	MetRatio float64 `json:"met_ratio"`
	Late     uint64  `json:"late"`
	Dropped  uint64  `json:"dropped"`
	// DroppedBy counts Dropped by reason (undecodable, over_limit,
	// no_event_time, event_time_range, expression_error).
	DroppedBy map[string]uint64 `json:"dropped_by,omitempty"`
	// LatePartial counts events (in) that missed some of their sliding
	// windows, which had fired, but not all.
	LatePartial uint64 `json:"late_partial,omitempty"`
	// ResultsDropped and ResultsLate count results of a window or join
	// dropped or late further down; they are not events.
	ResultsDropped uint64 `json:"results_dropped,omitempty"`
	ResultsLate    uint64 `json:"results_late,omitempty"`
	// Panics counts panics recovered on the query's path (each fails it).
	Panics uint64 `json:"panics,omitempty"`
	// BadInputs are the first dropped inputs (ten at most), with where and why.
	BadInputs []BadInput `json:"bad_inputs,omitempty"`
	// SourceLagMs is how far the query's generators are behind their
	// schedule now (the most of them): events are stamped with the time
	// they were due, so latency counts this wait.
	SourceLagMs float64 `json:"source_lag_ms"`
	// EventsUnproduced counts the events a generator's schedule held
	// before it stopped (cancelled, failed, or the node stopping) that it
	// never produced because it was behind. They are not in EventsRead.
	EventsUnproduced uint64 `json:"events_unproduced,omitempty"`
	// Clipped counts latencies above the histogram's 1 h bound, recorded as 1 h.
	Clipped uint64 `json:"clipped,omitempty"`
	// Backlog is the query's in-flight count now: its messages queued or
	// running, each weighted by what it can still become through the
	// shuffles ahead (what its sources wait on, max_in_flight).
	Backlog int64 `json:"backlog"`
	// ServedMs is the worker time charged to the query's share of the
	// pool (under a scheduler with shares). Deferred reports that its work
	// is deferred now: it has been served more than its target late for a
	// while, so other queries' feasible work goes first within its share;
	// Deferrals counts the times that began.
	ServedMs  float64 `json:"served_ms,omitempty"`
	Deferred  bool    `json:"deferred,omitempty"`
	Deferrals uint64  `json:"deferrals,omitempty"`
	// BestEffort: admitted while the node was full; its work goes after
	// feasible work, within its tenant's share.
	BestEffort bool `json:"best_effort,omitempty"`
	// Connectors are the counters the query's connectors keep, by name
	// (a webhook sink's requests, retries and failures, say).
	Connectors map[string]int64 `json:"connectors,omitempty"`
	// LastDropReason is why the last dropped event was dropped.
	LastDropReason string          `json:"last_drop_reason,omitempty"`
	Operators      []OperatorStats `json:"operators,omitempty"`
	// Recent is the results of the last seconds (WindowS of them), where
	// P50Ms, P99Ms and MetRatio above are since the query started.
	Recent *RecentStats `json:"recent,omitempty"`
}

// RecentStats are a query's results of its last WindowS seconds: how many,
// their latency (to 1 %) and the share within the target.
type RecentStats struct {
	WindowS  float64 `json:"window_s"`
	Results  uint64  `json:"results"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	MetRatio float64 `json:"met_ratio"`
}

// OperatorStats is a snapshot of an operator's metrics; times in µs.
type OperatorStats struct {
	Step      string `json:"step"`
	Instances int    `json:"instances"`
	// Nodes are, in a cluster, the node each instance runs on, in order.
	Nodes          []string `json:"nodes,omitempty"`
	Messages       int64    `json:"messages"`
	EventsIn       int64    `json:"events_in"`
	EventsOut      int64    `json:"events_out"`
	CostMeanUs     float64  `json:"cost_mean_us"`
	QueueingMeanUs float64  `json:"queueing_mean_us"`
	QueueingMaxUs  float64  `json:"queueing_max_us"`
}

// TenantStats is the total of a tenant's queries: latencies merged over
// all their results; the met ratio counts each result against its own
// query's target.
type TenantStats struct {
	Tenant  string `json:"tenant"`
	Queries int    `json:"queries"`
	// Weight is the tenant's weight in the worker pool (0 under a
	// scheduler without shares); ServedMs the worker time its queries the
	// node remembers were charged, and ShareUsed that time's fraction of
	// all tenants'.
	Weight    float64 `json:"weight,omitempty"`
	ServedMs  float64 `json:"served_ms"`
	ShareUsed float64 `json:"share_used"`
	EventsIn  uint64  `json:"events_in"`
	Results   uint64  `json:"results"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	MetRatio  float64 `json:"met_ratio"`
	Late      uint64  `json:"late"`
	Dropped   uint64  `json:"dropped"`
}

// Load is GET /v1/load: what the node measured of its capacity over its
// admission window, and the threshold it admits below.
type Load struct {
	SpanSeconds float64 `json:"span_s"`
	Workers     int     `json:"workers"`
	// Utilisation is the workers' busy time over their capacity;
	// Feasible the part not charged to deferred or best-effort queries,
	// what admission compares with AdmitBelow (0: admission off).
	Utilisation float64 `json:"utilisation"`
	Feasible    float64 `json:"feasible"`
	AdmitBelow  float64 `json:"admit_below"`
	// SchedP99Ms is the 99th percentile of Go's scheduling latency.
	SchedP99Ms float64 `json:"sched_p99_ms"`
	// MemoryMiB is what the node's running queries hold (window and join
	// state, queued events; estimated) at the last check, against the
	// node's memory budget (0: none).
	MemoryMiB       float64 `json:"memory_mib"`
	MemoryBudgetMiB float64 `json:"memory_budget_mib"`
	// Full is why a submit would be refused now; "" when there is room.
	Full string `json:"full,omitempty"`
}

// BadInput is one dropped input as the stats show it. Error never quotes
// more than a few bytes of the input, escaped.
type BadInput struct {
	Reason string `json:"reason"`
	Where  string `json:"where"`          // the source or step
	Line   int    `json:"line,omitempty"` // its line in a JSON-lines input
	Error  string `json:"error"`
}

// PeerInfo is what GET /v1/cluster shows of a peer.
type PeerInfo struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// Gossip is its membership protocol's address.
	Gossip string `json:"gossip"`
	// Up: the membership protocol (SWIM, hashicorp/memberlist) has it
	// alive: it answered a probe, directly or through another node, within
	// the peer timeout.
	Up bool `json:"up"`
	// LastSeenMs is how long ago it last answered (-1: never).
	LastSeenMs float64 `json:"last_seen_ms"`
	// ClockOffsetMs is its clock minus this node's, estimated NTP-style
	// from the heartbeat with the shortest round trip of the last 16.
	ClockOffsetMs float64 `json:"clock_offset_ms"`
	// RTTMs is that heartbeat's round trip; LastRTTMs the latest one.
	RTTMs     float64 `json:"rtt_ms"`
	LastRTTMs float64 `json:"last_rtt_ms"`
	// HopRTTMs is the moving average round trip of this node's envelopes
	// to it, its processing excluded (0: none sent yet).
	HopRTTMs float64 `json:"hop_rtt_ms"`
	// Downs counts the times it was declared down; Reason is the last.
	Downs  int    `json:"downs"`
	Reason string `json:"reason,omitempty"`
	// DetectedAfterMs is how long after its last answered heartbeat the
	// last down was declared: the failure detector's delay as measured.
	DetectedAfterMs float64 `json:"detected_after_ms,omitempty"`
}

// ClusterInfo is GET /v1/cluster.
type ClusterInfo struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// Gossip is the address of this node's membership protocol (UDP and
	// TCP); DetectionMs the longest a silent peer should take to be
	// declared down by its configuration (a probe round, its timeout, and
	// the suspicion before a peer is declared dead).
	Gossip      string     `json:"gossip"`
	DetectionMs float64    `json:"detection_ms"`
	Peers       []PeerInfo `json:"peers"`
	// UnknownMessages counts messages of a type this node does not handle;
	// BadStreams the inbound connections closed on a message it could not
	// decode; StrayEnvelopes the envelopes for a query or instance it
	// does not run (a query that ended here first). None is fatal.
	UnknownMessages int64 `json:"unknown_messages"`
	// GossipDisagreed counts the times the membership protocol had a peer
	// dead that still answered heartbeats over the data path: it was kept
	// up (a probe lost on a loaded machine is not a dead node).
	GossipDisagreed int64 `json:"gossip_disagreed,omitempty"`
	BadStreams      int64 `json:"bad_streams"`
	StrayEnvelopes  int64 `json:"stray_envelopes"`
}

// QueryInfo is a query's line in GET /v1/queries.
type QueryInfo struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	Tenant        string  `json:"tenant"`
	State         State   `json:"state"`
	UptimeSeconds float64 `json:"uptime_s"`
	EventsPerSec  float64 `json:"events_per_s"`
	LatencyTarget float64 `json:"latency_target_ms"`
	Results       uint64  `json:"results"`
	P99Ms         float64 `json:"p99_ms"`
	MetRatio      float64 `json:"met_ratio"`
	// Recent is the results of the last seconds (P99Ms and MetRatio are
	// since the query started).
	Recent *RecentStats `json:"recent,omitempty"`
	// Late, Dropped and Shed count events late for their windows, dropped
	// (shed ones included) and shed under overload.
	Late    uint64 `json:"late"`
	Dropped uint64 `json:"dropped"`
	Shed    uint64 `json:"shed"`
	// Error is why a failed query failed.
	Error string `json:"error,omitempty"`
}

// NodeInfo is GET /v1/node: what the node is.
type NodeInfo struct {
	Scheduler string `json:"scheduler"`
	Workers   int    `json:"workers"`
	// Clustered: the node is in a cluster (GET /v1/cluster answers).
	Clustered bool   `json:"clustered"`
	Version   string `json:"version,omitempty"`
}

// QueryDetail is GET /v1/queries/{id} and the answer to DELETE.
type QueryDetail struct {
	ID     string     `json:"id"`
	State  State      `json:"state"`
	Error  string     `json:"error,omitempty"`
	Spec   string     `json:"spec,omitempty"`
	Uptime float64    `json:"uptime_s"`
	Stats  QueryStats `json:"stats"`
}

// APIError is the body of every error response.
type APIError struct {
	Status   int       `json:"status"`
	Message  string    `json:"error"`
	Problems []Problem `json:"problems,omitempty"`
}

// Problem is one problem of an invalid spec.
type Problem struct {
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%d: %s", e.Status, e.Message)
	for _, p := range e.Problems {
		s += "\n" + p.String()
	}
	return s
}

func (p Problem) String() string {
	s := ""
	if p.Line > 0 {
		s = fmt.Sprintf("line %d:%d: ", p.Line, p.Column)
	}
	if p.Field != "" {
		s += p.Field + ": "
	}
	return s + p.Message
}

// Submitted is the answer to a submit.
type Submitted struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Tenant string `json:"tenant"`
	State  string `json:"state"`
}

// ResultsEnd is the last event of GET /v1/queries/{id}/results: the
// query's state and error when the stream ended. Partial: the stream
// ended before the query (follow=false: only the results it kept).
type ResultsEnd struct {
	State   State  `json:"state"`
	Error   string `json:"error,omitempty"`
	Partial bool   `json:"partial,omitempty"`
}

// ResultsEvent is one event of a results stream: a result (its JSON line,
// as the sinks write it), a count of results skipped because the reader
// fell behind, or the end.
type ResultsEvent struct {
	Result  json.RawMessage
	Skipped uint64
	End     *ResultsEnd
}
