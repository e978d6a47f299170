// Package connector holds what a query reads and writes: one file per
// source kind (generator, jsonl, kafka, nats, nexmark, func) and sink kind (stdout,
// file, discard, webhook, kafka, nats, func), each behind the Input or
// Output interface, opened by the engine through a registry keyed by the
// kind's name. webhook.go, kafka_in.go, kafka_out.go, nats_in.go and
// nats_out.go are each a kind in one file, settings included, as a new
// kind from outside would be (nats.go holds the connection settings both
// NATS kinds share).
//
// A kind has two halves. Its settings — how a spec writes them, how they
// are validated, with positions for errors — are a query.InputSpec or
// query.OutputSpec, read by the parser through query.RegisterInput or
// query.RegisterOutput; how it runs is an Input or Output here. A new
// kind (a broker, say, or an embedder's own) registers both halves with
// one call, RegisterInput or RegisterOutput, from one file: its settings
// type, its Parse function, and its opener. The built-in kinds' settings
// live in package query (which cannot import this one, and whose own
// validation needs the generator's schema); their openers here.
//
// Connectors reach nothing of the engine but the Env it passes them: the
// query's context and goroutine owner, the file rules, the standard
// streams, Drop for counting records that cannot be read, Count for its
// own counters, Hold for work it holds in the query's in-flight bound,
// and Fail. The engine
// does the rest: it stamps arrival, event time and watermarks, keys a
// joined source, waits for flow-control credit, and sleeps between reads
// until a Scheduled input's next event is due or a Notifier's Ready
// fires.
package connector
