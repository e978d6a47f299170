// Package experiments reproduces the paper's experiments (E1–E10) and goes
// beyond them (E11 the simulator at scale, E12 two nodes), scaled to a
// 2-core machine; Soak runs a node under churn.
//
// A Scenario is queries on one engine under one scheduler for a duration;
// Run runs it and returns each query's statistics, its latency
// distribution (recorded at the sink) and a timeline sampled every second.
// Queries are QuerySpecs built with the engine's own Builder: a generator,
// user operators that burn a calibrated CPU cost per event (Spin: a loop
// counted in iterations, not wall time, so that a preempted worker is not
// credited with work), key_by and windows. The three shapes: a stateless
// latency-sensitive filter, a bulk windowed aggregate, and a multi-stage
// windowed aggregation.
//
// Each Experiment of the Catalogue runs the schedulers it compares in the
// same invocation, writes NAME.csv (one row per query per run: p50, p99,
// max, met ratio, events/s, utilisation, and experiment columns) and PNG
// plots (gonum/plot: latency CDFs, p99 against load, timelines, throughput
// shares), and returns Findings: our numbers beside the paper's.
// `experiments/run.sh NAME|all [--quick] [--out DIR]` runs them; --quick
// is the small version CI runs.
//
// Measuring scheduler overhead: the dispatcher counts the time its workers
// spend in turns (actors.Stats.BusyNs) and every operator times its
// messages; their difference per message is what scheduling, mailboxes
// and protoactor's invocation cost (RunResult.OverheadNs).
//
// E11 drives priority.Sim, the discrete-event simulator over the same run
// queue, actor queues, turn rules and policies as the real dispatcher,
// with virtual costs: up to 1,000 workers and 10,000 queries, which no
// single machine can host.
package experiments
