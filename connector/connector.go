package connector

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/cameo-go/cameo/query"
)

// Input is a running source: what one of a query's sources reads. The
// engine calls it from one step of the source at a time, on whichever of
// its workers runs the step: never concurrently, not always from the same
// goroutine, and Read must not block (a worker of the shared pool runs it).
type Input interface {
	// Read appends to buf up to max events that are available at now
	// (Unix ns), without blocking, and returns them. done reports that the
	// input has ended: no event will follow those returned. An error
	// fails the query; a record that cannot be decoded is not an error but
	// goes to Env.Drop.
	//
	// Events come back with Fields and, when the input knows them, Key,
	// Arrival (only a Scheduled input sets it) and EventTime; the engine
	// stamps the rest.
	Read(now int64, max int, buf []query.Event) (events []query.Event, done bool, err error)
	// Close releases what the input holds; it is called once, after the
	// last Read, whether the input ended or the query stopped.
	Close() error
}

// Notifier is an Input whose events arrive on their own (a file being
// read, a broker's records): Ready receives a value when Read may have
// something new, so the engine sleeps until then rather than polling.
type Notifier interface {
	Ready() <-chan struct{}
}

// Scheduled is an Input whose events are due at times it knows in advance
// (a generator): each event it returns carries its due time as Arrival,
// the engine sleeps until the next is due, and the time it falls behind
// its schedule is reported as the query's source lag.
type Scheduled interface {
	// NextDue is when the next event is due; ok is false once it ended.
	NextDue() (t int64, ok bool)
	// Behind is how far (ns) its production is behind its schedule at now.
	Behind(now int64) int64
	// Unproduced is how many events its schedule held until stop that it
	// never produced (the query stopped first); the engine counts them.
	Unproduced(stop int64) uint64
}

// Output is a running sink. Write may be called from several of the
// query's instances, never at once for one Output.
type Output interface {
	// Write takes one batch of results; an error fails the query. Like
	// io.Writer's Write, it must not keep the slice after it returns (the
	// engine reuses it): a sink that holds results copies them. Their
	// Fields are shared and read-only.
	Write(results []query.Event) error
	// Close flushes and releases; called once, after the last Write.
	Close() error
}

// Env is what the engine gives a connector it opens: where it runs and
// the few services it may use. Connectors reach nothing else of the
// engine.
type Env struct {
	Query  string // the query's id, for messages
	Source string // the source's name (inputs only)
	// Start is the query's start (Unix ns): a Scheduled input's schedule
	// begins here.
	Start int64
	// Unpaced asks a Scheduled input to produce as fast as it can (every
	// Read returns a full batch while it has events): for benchmarks.
	Unpaced bool
	// MaxBatch is the most events one Read is asked for.
	MaxBatch int
	// EventTime is the source's event-time settings (nil: processing time),
	// for inputs that decode time themselves.
	EventTime *query.EventTime
	// Context is cancelled, for an input, when the query stops its
	// sources; for an output, when the query has ended (what it still
	// holds is given up).
	Context context.Context
	// Go runs fn in a goroutine that the query owns: the query waits for
	// it to return when it stops, so fn must return once Context is done.
	Go func(fn func())
	// Open opens a file to read and Create one to write, by the engine's
	// file rules (a node confines them to its files directory); name is
	// the path as resolved, for messages.
	Open   func(path string) (r io.ReadCloser, name string, err error)
	Create func(path string) (io.WriteCloser, error)
	// Stdin and Stdout are the process's standard streams as the engine
	// was configured.
	Stdin  io.Reader
	Stdout io.Writer
	// Drop counts one record that could not be read and why; line > 0 is
	// its line in a JSON-lines input. Nothing is dropped silently.
	Drop func(line int, err error)
	// Recovered reports a panic the connector recovered from user code
	// (the query fails with it).
	Recovered func(what string, r any)
	// Count adds n to the connector's counter name (requests, retries,
	// delivery errors, lag...), shown in the query's statistics under
	// "connectors" and in /metrics.
	Count func(name string, n int64)
	// Gauge sets the connector's figure name to v (a partition's lag).
	Gauge func(name string, v int64)
	// Hold counts n more (or, negative, fewer) units of work the
	// connector holds for the query (a batch queued for delivery) in the
	// query's in-flight bound: while it holds much, the sources wait. What
	// it holds it must release.
	Hold func(n int64)
	// Bytes counts n more (or, negative, fewer) bytes the connector holds
	// for the query (records fetched and not yet read, results not yet
	// acknowledged) in the query's memory budget: over the budget the
	// query fails. What it counts it must uncount.
	Bytes func(n int64)
	// Fail ends the query with err (a delivery that failed for good).
	Fail func(err error)
	// Delivered is the query's delivery frontier, for inputs: every event
	// stamped at or before it (its arrival under processing time, its
	// event time under event time) has had all its results delivered by
	// the sink. math.MinInt64 while nothing is; math.MaxInt64 once the
	// query drained. An input that commits what it read commits only
	// what is before it.
	Delivered func() int64
}

// Acker is an Output that acknowledges results later than Write returns
// (a broker's producer, a webhook's requests): Acked is how many results,
// counted in the order they were written, are acknowledged without a gap.
// The engine's delivery frontier (Env.Delivered) waits for it.
type Acker interface {
	Acked() uint64
}

// Finisher is an Input told when its query ended: drained, after every
// result was delivered (it may commit everything it read), or not (failed
// or cut short: it commits nothing more). Finish runs once, off the
// workers, and may block briefly (a final commit).
type Finisher interface {
	Finish(drained bool)
}

// InputOpener opens a source of one kind from its settings.
type InputOpener func(spec query.InputSpec, env *Env) (Input, error)

// OutputOpener opens a sink of one kind from its settings.
type OutputOpener func(spec query.OutputSpec, env *Env) (Output, error)

var registry = struct {
	sync.RWMutex
	inputs  map[string]InputOpener
	outputs map[string]OutputOpener
}{inputs: map[string]InputOpener{}, outputs: map[string]OutputOpener{}}

// RegisterInput makes a source kind known: how a spec writes it (kind,
// for the parser; its Parse may be nil for a kind built only in Go) and
// how the engine opens it. Call it from an init function; it panics when
// the kind's name is taken.
func RegisterInput(kind query.InputKind, open InputOpener) {
	query.RegisterInput(kind)
	registerInput(kind.Name, open)
}

// RegisterOutput makes a sink kind known (see RegisterInput).
func RegisterOutput(kind query.OutputKind, open OutputOpener) {
	query.RegisterOutput(kind)
	registerOutput(kind.Name, open)
}

// registerInput registers the opener of a kind whose spec side package
// query registers itself (the built-in kinds).
func registerInput(name string, open InputOpener) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.inputs[name]; dup {
		panic(fmt.Sprintf("connector: input kind %q registered twice", name))
	}
	registry.inputs[name] = open
}

func registerOutput(name string, open OutputOpener) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.outputs[name]; dup {
		panic(fmt.Sprintf("connector: output kind %q registered twice", name))
	}
	registry.outputs[name] = open
}

// OpenInput opens spec's kind.
func OpenInput(spec query.InputSpec, env *Env) (Input, error) {
	registry.RLock()
	open, ok := registry.inputs[spec.Kind()]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("input kind %q has no connector in this program", spec.Kind())
	}
	return open(spec, env)
}

// OpenOutput opens spec's kind.
func OpenOutput(spec query.OutputSpec, env *Env) (Output, error) {
	registry.RLock()
	open, ok := registry.outputs[spec.Kind()]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("output kind %q has no connector in this program", spec.Kind())
	}
	return open(spec, env)
}
