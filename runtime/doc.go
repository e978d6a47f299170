// Package runtime is the engine of Cameo for Go: it compiles query specs
// into actor graphs on the scheduling core (package actors), runs their
// sources and sinks, and keeps their metrics.
//
// Here so far: Generator, the synthetic source of a spec, deterministic for
// a seed; Metrics and QueryMetrics, per-query HDR histograms of output
// latency with the deadline-met ratio and the counts of events in, late and
// dropped, tenant totals, and a prometheus.Collector. The Engine (Submit,
// Cancel, Stats, Stop), the JSON-lines source and the sinks are issue 3's
// remaining work.
package runtime
