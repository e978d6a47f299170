package query

import (
	"time"
)

// Spec is a query as a user writes it (YAML or JSON). Parse fills it and
// validates it; Pos records where each field was written, for errors.
type Spec struct {
	File string
	// Text is the spec as it was parsed (nil for a Builder's spec). A
	// cluster ships it to the nodes that run parts of the query.
	Text          []byte
	Name          string
	Tenant        string
	LatencyTarget time.Duration
	Parallelism   int
	Weight        float64 // share of its tenant's worker time, and under the fair policy; default 1
	Sources       []Source
	Pipeline      []Operator
	Sink          Sink
	// Overload is what happens to the query's events when its work cannot
	// keep up; the zero value is backpressure.
	Overload Overload
}

// Overload is a query's policy when its work cannot keep up. Under
// backpressure (the default) its sources wait and nothing is lost; under
// shed, an event that waited longer than ShedAfter since it was due is
// dropped (counted as shed) at the next step that sees it, instead of
// making the events behind it later still.
type Overload struct {
	Pos       Pos
	Shed      bool          // policy: shed (false: backpressure)
	ShedAfter time.Duration // with Shed: how long an event may wait
	// ShedSinkPath, with Shed, receives the shed events as JSON lines.
	ShedSinkPath string
}

// Source is one input stream: a name, what it reads, and its time.
type Source struct {
	Pos  Pos
	Name string
	// Input is what the source reads: *Generator, *JSONL, a SourceFunc,
	// or the settings of a kind registered with RegisterInput.
	Input     InputSpec
	EventTime *EventTime // nil: processing (ingestion) time
}

// EventTime configures event-time processing of a source.
type EventTime struct {
	Field            string        // the event-time field
	Format           string        // "unix_ms" (default), "unix_s", "unix_ns" or "rfc3339"
	MaxOutOfOrder    time.Duration // bounded out-of-orderness of the watermark
	IdleTimeout      time.Duration // a source idle this long stops holding the watermark back; 0: never
	AllowedLateness  time.Duration // a window fires when the watermark passes end + this
	LateSideSinkPath string        // late events go here as JSON lines; "": counted only
}

// Operator is one step of the pipeline. Exactly one kind is set.
type Operator struct {
	Pos Pos
	// Filter keeps the events for which the boolean expression is true.
	Filter string
	// Map replaces each event by the fields given, each an expression over
	// the event ("project" when the expressions are field names).
	Map []NamedExpr
	// KeyBy sets the key from an expression and partitions by it over
	// Parallelism instances.
	KeyBy string
	// KeyFields sets the key from several fields (key_by: [a, b]): the
	// key is their values, and a window after it gives each as a field.
	KeyFields []string
	// Window groups keyed events into windows and aggregates them.
	Window *Window
	// Join joins the stream with another source on equal keys in windows.
	Join *Join
	// Union merges other sources into the stream.
	Union []string
	// Process is a user operator (Go API, Builder.Process): called for
	// each event, it appends what it emits to out.
	Process ProcessFunc
	// KeyFunc is a user key_by (Go API, Builder.KeyByFunc).
	KeyFunc func(Event) string
	// Label names a user step in errors and statistics.
	Label string
	// Nodes places the step's instances on the named nodes of a cluster
	// (spec keys node: or nodes:): instance i runs on Nodes[i mod
	// len(Nodes)]. Empty: the runtime spreads them over the nodes it knows.
	Nodes    []string
	NodesPos Pos
}

// ProcessFunc is a user operator: it appends to out what it emits for ev
// (nothing, to drop it). An error drops ev and is counted.
type ProcessFunc func(ev Event, out []Event) ([]Event, error)

// Kind returns the operator's kind: which of its fields is set.
func (o Operator) Kind() Kind {
	switch {
	case o.Process != nil:
		return KindProcess
	case o.Filter != "":
		return KindFilter
	case o.Map != nil:
		return KindMap
	case o.KeyBy != "" || o.KeyFields != nil || o.KeyFunc != nil:
		return KindKeyBy
	case o.Window != nil:
		return KindWindow
	case o.Join != nil:
		return KindJoin
	case o.Union != nil:
		return KindUnion
	}
	return KindNone
}

// NamedExpr is an output field and the expression that computes it.
type NamedExpr struct {
	Pos  Pos
	Name string
	Expr string
}

// Window is a tumbling (Slide == 0) or sliding window with its aggregates.
type Window struct {
	Pos   Pos
	Size  time.Duration
	Slide time.Duration
	// Gap makes it a session window: a key's events closer than Gap to
	// one another are one window, which ends Gap after its last event.
	Gap time.Duration
	// KeyFields are the fields its key is made of, which each result
	// carries (set when validated, from the key_by before it: its fields,
	// or its expression when that is a field's name).
	KeyFields  []string
	Aggregates []Aggregate
}

// Aggregate is one output of a window: Func over Arg (an expression; empty
// for count).
type Aggregate struct {
	Pos  Pos
	Name string
	Func string // one of AggregateFuncs, or user
	Arg  string
	// K is top_k's count (from Arg "x, k", set when validated).
	K int
	// User makes a user aggregate (Go API; Func is "user"): one
	// Accumulator per window and key.
	User func() Accumulator
}

// Accumulator is the state of a user aggregate for one window and key.
// Add is called for each event of the group (an error drops the event and
// is counted); Result when the window fires.
type Accumulator interface {
	Add(ev Event) error
	Result() any
}

// Join is a windowed equi-join with another source.
type Join struct {
	With   string        // the other source
	On     string        // key expression on the other source's events
	Window time.Duration // tumbling window the join matches within
	// Within makes it an interval join instead: an event matches the
	// other side's events of its key at most Within apart in time, and
	// each pair is emitted as soon as its second event arrives.
	Within time.Duration
}

// Sink is where results go.
type Sink struct {
	Pos Pos
	// Output is where results go: Stdout, *File, Discard, a SinkFunc, or
	// the settings of a kind registered with RegisterOutput.
	Output OutputSpec
}
