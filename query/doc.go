// Package query is what a query is: its spec (YAML or JSON), parsed and
// validated in one place with every error naming its file, line, column and
// field, and its expressions (filter, map, key_by, aggregate arguments, join
// keys) compiled once with github.com/expr-lang/expr.
//
// It is pure: no goroutines, no clock, nothing of protoactor or of this
// module's other packages.
//
// # Spec and Plan
//
// A Spec is a query as written: plain data to read or edit. A Plan is a
// query compiled: validated, its expressions compiled, and immutable (it
// keeps its own deep copy). Parse, ParseFile and Builder.Build yield a
// Plan; Compile makes one from an edited Spec (Plan.Spec returns a copy to
// edit). The engine (package runtime) takes only Plans, so nothing it runs
// skipped validation, and builds each pipeline step's state machines from
// the plan (Plan.Machine).
//
// # Connector kinds
//
// A source's input and a sink are kinds registered by name (connector.go):
// the parser knows none by name; each kind parses its own settings with
// positions (Section, Value), checks them (InputSpec.Check, OutputSpec.Check)
// and says what it touches (Uses). The built-in settings are Generator,
// JSONL, SourceFunc, Stdout, File, Discard and SinkFunc; package connector
// runs them and registers new kinds.
//
// # A spec
//
//	name: error-alerts
//	tenant: ops
//	latency_target: 50ms
//	parallelism: 2
//	sources:
//	  - name: logs
//	    generator:
//	      rate: 20000
//	      duration: 30s
//	      seed: 7
//	      keys: {count: 100, distribution: zipf}
//	      fields:
//	        level: {choice: [info, warn, error], weights: [90, 9, 1]}
//	        latency_ms: {uniform: [1, 500]}
//	      bursts: [{at: 10s, for: 2s, factor: 4}]
//	pipeline:
//	  - filter: 'level == "error"'
//	  - key_by: key
//	  - window: {tumbling: 1s}
//	    aggregate: {errors: count(), total_ms: sum(latency_ms)}
//	sink: {stdout: {}}
//
// The pipeline reads sources[0]; other sources enter it through join or
// union steps, each exactly once. Every event has the fields key, arrival
// and event_time besides its own. Expressions are checked against the
// fields the stream has at their step: a generator's fields with their
// types, a map step's outputs, a window's key, window_start, window_end and
// aggregates; JSON-lines sources have no declared schema, so their names are
// checked when the query runs.
//
// # Errors
//
// Parse returns Errors: one *Error per problem, in file order, each printed
// as "file:line:column: field.path: what is wrong (what would be valid)". A
// value that does not parse is reported once, not again by the checks that
// would have used it. Parse is fuzzed (FuzzParse); its seeds run with the
// tests.
//
// # Limits
//
// A spec is text from tenants who do not trust each other, so every number
// it can write is bounded where it is parsed (limits.go): key counts,
// windows per event (size/slide), rates with their bursts, durations,
// latency targets, generator ranges (whole numbers within ±2^53, others
// finite), counts of sources, steps, fields and choices, expression sizes.
// Duplicate keys in a mapping of user names (fields, map outputs,
// aggregates) are refused, and so is a sliding window without its slide
// or a setting the engine would silently ignore (a joined source's
// allowed_lateness or late_sink). Event times are bounded to ±2^62 ns
// (CheckEventTime), so that no sum of an event time, a window size, a
// lateness and a target reaches int64's ends. What a spec cannot bound —
// the state its input makes it hold — is the engine's memory budget.
//
// # Operators as state machines
//
// Stateless runs filter, map and key_by steps over a batch of Events with
// the compiled programs; an event whose expression fails is dropped and its
// error returned for the caller to count. WindowAgg is a window step:
// events go into every window that holds their time, and a window fires,
// one result per key, when the watermark passes its end plus the allowed
// lateness; later events are counted late and handed back. Watermarks
// tracks the inputs' progress (bounded out-of-orderness, idle inputs,
// closed inputs, which let the last windows flush when sources end).
// Processing-time streams are windowed by ingestion time, the Arrival the
// source stamped, so a result never depends on when the scheduler ran
// anything (the engine's invariant); the engine feeds Watermarks with
// arrival times for them. The window arithmetic repeats priority.Window's
// on purpose: both packages import nothing of this module.
//
// A window without a key_by before it is global: the plan puts a key_by of
// one constant key before it (globalWindows). A window's results carry the
// fields its key is made of. Its aggregates (aggregate.go) include rows:
// max_by, min_by and top_k keep the fields of the events that rank first,
// ties broken by time, then key. A firing of many groups can be cut into
// slices (Slicer: AdvanceSome), so that the engine runs other work between
// them. SessionAgg is a session window: a key's events closer than the
// gap make one window; one that bridges two merges them (the
// accumulators merge); sessions fire from a heap of their ends.
//
// JoinOp is a join step: left and right events of the same key in the same
// tumbling window make one result each pair when both sides' watermark
// passes the window. IntervalJoin pairs events of a key at most `within`
// apart as soon as the second arrives, and lets events go, oldest first,
// once the watermark passes them by `within`. A union needs no state: the
// engine merges its inputs and their watermarks.
//
// # The Go API
//
// Builder builds the same query in Go and validates it with the same checks
// (errors name the step, as pipeline[2].filter, without a line). It adds
// what YAML cannot say: user sources (SourceFunc), user operators (Process,
// FilterFunc, MapFunc, KeyByFunc), user aggregates (UserAggregate, an
// Accumulator per window and key) and user sinks (SinkFunc). Events share
// their Fields (a shape, Names, and the values in its order; no map per
// event): code that changes fields builds new ones (MakeFields,
// NewFields, Fields.With).
//
// DecodeLine turns a JSON line into an event (numbers become int when
// whole, float64 otherwise; "key" becomes the key); it is fuzzed
// (FuzzDecodeLine). Expressions run on the event's own map when they read
// only its fields, on a scratch copy when they read key, arrival or
// event_time; a program that is just a name is read without the VM.
package query
