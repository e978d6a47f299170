package query

import (
	"context"
	"time"

	"github.com/expr-lang/expr/vm"
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

// Source is one input stream. Exactly one of Generator and JSONL is set.
type Source struct {
	Pos       Pos
	Name      string
	Generator *Generator
	JSONL     *JSONL
	// Func is a user source (Go API, Builder.SourceFunc).
	Func      SourceFunc
	EventTime *EventTime // nil: processing (ingestion) time
}

// SourceFunc is a user source: it emits events until it returns or ctx is
// cancelled (the query is stopping). emit blocks while the query is
// backlogged and returns an error once the query stops accepting events.
// The engine stamps Arrival and Watermark; with an EventTime config it
// reads the event time from the field named there unless the event's
// EventTime is set already. emit is not safe for concurrent use.
type SourceFunc func(ctx context.Context, emit func(Event) error) error

// Generator is the synthetic source: deterministic for a seed.
type Generator struct {
	Rate     float64       // events per second, > 0
	Arrivals string        // "steady" (default: evenly spaced) or "poisson" (exponential gaps)
	Duration time.Duration // how long it emits; 0 means until cancelled
	Seed     uint64
	Keys     Keys
	Fields   []Field // in the order written
	Bursts   []Burst
}

// Keys is the key distribution of a generator.
type Keys struct {
	Count        int     // distinct keys, > 0; default 1
	Distribution string  // "uniform" (default) or "zipf"
	ZipfS        float64 // zipf exponent, > 1; default 1.1
}

// Field generates one event field.
type Field struct {
	Pos     Pos
	Name    string
	Choice  []string  // one of these, by Weights (default equal)
	Weights []float64 // for Choice
	Uniform []float64 // [lo, hi]: an int when both are whole numbers, else a float
	Normal  []float64 // [mean, stddev]: a float
	Const   any       // a constant (string, int, float, bool)
}

// Type returns the field's type name as expressions see it: "string",
// "int", "float" or "bool".
func (f Field) Type() string {
	switch {
	case f.Choice != nil:
		return "string"
	case f.Uniform != nil:
		if whole(f.Uniform[0]) && whole(f.Uniform[1]) {
			return "int"
		}
		return "float"
	case f.Normal != nil:
		return "float"
	}
	switch f.Const.(type) {
	case string:
		return "string"
	case int:
		return "int"
	case bool:
		return "bool"
	}
	return "float"
}

func whole(x float64) bool { return x == float64(int64(x)) }

// Burst multiplies a generator's rate by Factor from At for For.
type Burst struct {
	Pos    Pos
	At     time.Duration
	For    time.Duration
	Factor float64
}

// JSONL reads JSON objects, one per line, from a file or standard input.
type JSONL struct {
	Path  string
	Stdin bool
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

	// Programs are the operator's expressions, compiled once by Parse:
	// filter and key_by one; map one per output field; window one per
	// aggregate (nil for count); join one (On).
	Programs []*vm.Program
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
	case o.KeyBy != "" || o.KeyFunc != nil:
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
	Pos        Pos
	Size       time.Duration
	Slide      time.Duration
	Aggregates []Aggregate
}

// Aggregate is one output of a window: Func over Arg (an expression; empty
// for count).
type Aggregate struct {
	Pos  Pos
	Name string
	Func string // count, sum, min, max, avg, or user
	Arg  string
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
}

// Sink is where results go. Exactly one is set.
type Sink struct {
	Pos     Pos
	Stdout  bool
	File    string
	Discard bool
	// Func is a user sink (Go API, Builder.SinkFunc): called with each
	// batch of results, from one goroutine at a time. An error fails the
	// query.
	Func func(results []Event) error
}
