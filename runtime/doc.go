// Package runtime is the engine of Cameo for Go: it compiles query specs
// into actor graphs on the scheduling core (package actors), runs their
// sources and sinks, and keeps their metrics.
//
// Here so far: Generator, the synthetic source of a spec, deterministic for
// a seed. The Engine (Submit, Cancel, Stats, Stop), the JSON-lines source,
// the sinks and the metrics are issue 3's remaining work.
package runtime
