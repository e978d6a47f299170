// Package runtime is the engine of Cameo for Go: it builds compiled query
// plans (query.Plan) into actor graphs on the scheduling core (package
// actors), runs their sources and sinks (package connector), and keeps
// their metrics.
//
// # Using it
//
//	eng, err := runtime.New(runtime.WithWorkers(2), runtime.WithScheduler("cameo"))
//	plan, err := query.ParseFile("examples/quickstart.yaml") // or query.NewBuilder(...).Build()
//	q, err := eng.Submit(ctx, plan)
//	err = q.Wait(ctx)          // until its sources end and it drains
//	stats := q.Stats()         // latency percentiles, met ratio, counts, per-operator costs
//	err = eng.Stop(ctx)        // drains every query, then stops the workers
//
// Config is the one configuration (workers, scheduler, turn, clock, logger,
// metrics registry, batch and backlog bounds); New validates it. Every actor
// of every query runs on one actors.Scheduler: one worker pool ordered by
// the scheduler's policy (for slots, one pool per query). Metrics is a
// prometheus.Collector over every query's QueryMetrics.
//
// # Reading results
//
// Query.Results opens a reader of a query's results as its sink writes
// them, whatever the sink (GET /v1/queries/{id}/results, cameo tail): the
// latest RecentResults kept from the first reader on, then each new one.
// A reader that falls behind skips the newest, counted; the query never
// waits for a reader (results.go).
//
// # A node
//
// The HTTP server in front of an engine is package node; its API's types
// and Go client are package client, which the runtime aliases (api.go).
//
// # The physical plan
//
// Each pipeline step becomes a stage of Spec.Parallelism instances (actors),
// and the sink one more actor. Edges: a source deals whole batches round
// robin to the first stage; the output of a key_by is hash-partitioned by
// key; other stages forward instance i to instance i, which keeps a keyed
// stream partitioned; a joined source is keyed by the join's `on` where it
// is read and hashed like the stream; union sources are hashed when the
// stream is keyed, dealt round robin when not. Every instance sends to the
// one sink.
//
// A message (batch) holds events of one query for one instance. A sender
// cuts its output where the receiving window's earliest window changes, so
// a batch never straddles a window boundary. Events travel by value: their
// fields are a shared shape and a slice of values (query.Fields), so a
// message is one slice of events. That slice comes from a pool per size
// and goes back, cleared, once the receiver ran the message: no receiver
// keeps it (state machines copy what they keep, sinks must not keep what
// Write was given), so a message allocates nothing per event. Each message's
// context is stamped by the query's policy: BuildAtSource at sources,
// BuildAtOperator at operators, with the receiver's frontier rule
// (priority.Stateless, WindowFrontier, EventTimeFrontier, or a JoinFrontier
// shared by both sides of a join instance) and the receiver's published
// costs.
//
// Two departures from the paper's rules, both measured on E3 (one
// windowed query, latency against load; experiments/README.md):
//
//   - Lookahead (the default; Config.PaperFrontiers restores the paper's
//     rule): messages bound for a stateless step upstream of a window take
//     that window's frontier rule. The output such a message contributes
//     to is the window's result, due at the window's end, so work for the
//     next window no longer outranks the path that closes the current one.
//   - A processing-time window closes by the watermark, not by the first
//     event past its end (priority.WindowFrontier): behind a shuffle a
//     sender forwards events of the next window while its watermark, the
//     minimum over its inputs, is still inside the current one. Keyed by
//     the events, the message that finally moved the watermark (often a
//     mark without events) took the next window's deadline and waited a
//     whole window of other work: windows fired 50–150 ms late at load
//     0.8, one instance after another.
//
// # Costs: the reply path in one process
//
// Every instance times each message it runs, keeps a CostProfile (mean of
// the last 100) and a moving average of its inbound queueing delay, and
// publishes a priority.Reply prepared by the policy's PrepareReply. A sender
// reads the reply of the receiver it sends to and hands it to the policy's
// ProcessReply, which keeps C_path = max over its downstream instances. This
// is the paper's reply path without an acknowledgement message per message:
// in-process operators read each other's published costs.
// Across nodes replies travel as messages (below).
//
// # A cluster
//
// Config.Cluster (ClusterConfig; cameo serve --name, --remote, --peer)
// makes the engine one node of a static cluster over protoactor-go's
// remote layer (gRPC, protobuf). A query submitted to a node (its
// coordinator) runs its sources, its sink and its late side sink there;
// each step's instances run where the spec's node:/nodes: put them
// (instance i on Nodes[i mod len]), or, without placement, step i's
// instance j on the (i+j)-th of the nodes that are up. The coordinator
// sends each peer an clusterpb.Deploy with the spec's text and the
// placement; every node builds the same plan and spawns, under
// deterministic names, the instances placed on it, so each knows the
// others' PIDs. A spec built in Go has no text to ship: it runs on the
// coordinator, and explicit placement of it is refused. A node refuses a
// part when the coordinator runs another scheduler (the keys messages
// carry are stamped by the sender's policy and ordered against the
// receiver's) or knows one of the part's nodes at another address than it
// does; the coordinator then undeploys the query everywhere and the
// submit fails with the reason.
//
// A batch bound for another node crosses as an actorspb.Envelope: the full
// scheduling context, the events with their Go field types (int, int64,
// float64, string, bool, nil, lists and maps; anything else fails the
// query with the field's name), and the edge's input, sequence, watermark,
// idle and closed marks, so results are the same as on one node. The
// receiving node's deadline mailbox orders it by its context like local
// work. After running it the receiver sends an clusterpb.EdgeReply to the
// sender's node: its cost profile, its own C_path, its queueing (from the
// post to the start of the work, corrected by the measured clock offset,
// less the hop's one-way delay) and the one-way delay as the network cost;
// the sender's policy folds all four into its C_path, so C_path on one
// node includes the work and the hop on the other (the paper's reply
// path). The reply also releases the message from the query's backlog;
// heartbeats carry each part's own backlog to the coordinator, whose
// sources wait on the sum.
//
// Clocks: deadlines, arrivals and window times are wall-clock Unix
// nanoseconds of the node that stamped them, and nodes are assumed to be
// synchronised (NTP or better). Nothing is corrected but the queueing in
// replies; a skew of s shifts the priorities of one node's messages
// against another's by s. A correction is not a uniform shift on the
// wire: processing-time windows are assigned by the events' arrival
// values, so those must cross unchanged for the results to equal one
// node's; cameo's, llf's and edf's keys live in the clock of the query's
// coordinator (they derive from its sources' arrivals) wherever they are
// computed, fifo's in the clock of whichever node sent the message, and
// sjf's and fair's in no clock at all. Correcting would mean converting
// each key into the receiving node's clock by the domain its policy
// stamped it in, at the run queue; that is not done. Likewise fair's
// virtual time is each node's own: a node orders the tags other nodes
// stamped against its own tags as they are, so fair shares hold between
// the queries a node stamps, not across nodes. Every node measures each peer's offset NTP-style
// from heartbeats (the exchange with the least round trip of the last 16)
// and shows it in GET /v1/cluster and as cameo_peer_clock_offset_seconds.
//
// Two actors per node take the cluster's messages: cameo-cluster deploys,
// undeploys and fails parts; cameo-wire takes heartbeats and edge replies
// inline on the reader goroutine of the connection they came on
// (protoactor's synchronized dispatcher), so a slow deploy never delays a
// heartbeat and a reply costs no goroutine hand-off. The remote layer runs
// with fixed gRPC flow-control windows (1 MiB): gRPC's bandwidth-delay
// probing, on by default, sends PINGs that on protoactor's one-way
// connections never ride with data, and doubled the writes and reads of a
// lone envelope's round trip. With both, a round trip over the remote
// layer is within about 1.2× of the same exchange on a raw gRPC stream
// (BENCHMARKS.md).
//
// Failure: membership and failure detection are hashicorp/memberlist's
// (SWIM, gossip.go): a peer that stops answering its probes, direct or
// through another node, is suspect for PeerTimeout and then declared down
// (one that leaves, stopping, at once); every query that uses it fails
// with that reason (its sources stop; its parts on the other nodes are
// undeployed) and every other query goes on. A peer that comes back at its
// address (restarted) is up again once it rejoins and takes new parts; the queries that failed stay failed. A part that fails on a
// peer fails the query on its coordinator; a coordinator that disappears
// fails its parts on the peers. A message of a type a node does not handle is counted and
// dropped; bytes it cannot decode close that inbound stream (protoactor's
// deserializer panics on an unknown type name; a gRPC interceptor
// recovers) and are counted; neither crashes the node.
//
// # Watermarks, lateness and the invariant
//
// Processing-time streams are windowed by ingestion time: the Arrival a
// source stamps (a generator's schedule, a read line's clock time). A source
// sends its watermark with every batch (the arrival it has reached; on
// event time the largest event time minus the bounded out-of-orderness)
// and, when it has nothing to send, alone, so idle edges still progress. An
// instance's watermark is the minimum over its inputs (idle inputs aside,
// closed ones ignored); windows and joins fire when it passes their end
// plus the allowed lateness.
//
// The deadline mailbox may run a later message of an edge before an
// earlier one (a lower window id is more urgent). So that this never
// changes results, each edge numbers its messages and the receiver applies
// a message's watermark, idle and closed marks only when every earlier
// message of that edge has been processed. And lateness is judged by the
// event's own source watermark (query.Event.Watermark, stamped in source
// order) as well as the operator's: an event is late when its source had
// already passed its window, whatever the interleaving of other inputs.
// With both rules the results and the late count of every query are the
// same under every scheduler as a single-threaded reference computation
// (TestInvariantEveryScheduler). One exception by nature: an idle timeout
// lets windows fire on wall-clock time, so events after it may be late on
// one run and not on another.
//
// A result of a processing-time window is due from the window's end (its
// frontier input is the first input past the end); one of an event-time
// window or a join from the arrival of the message that moved the
// watermark past it. Output latency = emit time at the sink − that arrival.
//
// # Backpressure, drain and failure
//
// A query's messages queued or running are bounded (Config.MaxInFlight),
// between stages too: each message weighs what it can still become before
// a window, a join or the sink takes it in (the parallelism of the shuffles
// ahead), the messages an instance sends take their weight from the one it
// runs, and sources wait until a batch fits (query.go, Query.charge). So
// an overloaded query lags (and its latency shows it) rather than grows
// without bound. Nothing is dropped for load. A query whose shuffles would
// fan one source batch out past that bound is refused at submit
// (checkFanOut). Every event is accounted for
// (accounting.go): read = in + late + dropped, drops counted by reason,
// the first bad inputs kept with their lines, partial lateness of sliding
// windows and NaN/Inf from expressions counted; late events are optionally
// written to the late side sink.
//
// # Containment
//
// No spec or input takes the node down. A panic on a query's path (source,
// operator, expression, sink, user function) fails that query with its
// reason and logs its stack. A per-query memory budget (budget.go) fails
// a query whose window and join state and queued events outgrow it. Time
// arithmetic saturates (priority.AddSat). A node's files are confined to
// its --allow-files directory (files.go); its HTTP server bounds read,
// write and idle time, header size and connections (node.NodeConfig). Ended
// queries are forgotten past Config.KeepEnded. A node that stops while it
// runs part of a query another node coordinates asks the coordinator to
// drain that query (DrainPart) and exits cleanly. Bytes from peers are
// fuzzed (wire_fuzz_test.go); `cameo soak` runs a node under churn with a
// peer killed and restarted and checks it returns to its baseline
// (docs/robustness.md has the figures).
//
// Query.Cancel and Engine.Stop drain: sources stop and send a closed mark;
// when all of an instance's inputs are closed its windows flush and it
// closes its outputs; when the sink's inputs are closed the sink closes
// and the query is done. A panic in an operator or user function, or an
// error from a source or sink, fails the query with the reason (wrapping
// ErrQueryFailed); its actors stop, other queries go on.
//
// Config.Unpaced replays generators as fast as backpressure allows, with
// the same arrival stamps (so the same results); latencies are then not
// recorded. Benchmarks and the invariant tests use it.
//
// # Design choices
//
//   - Replies are published values read by senders, not messages (above).
//   - A query has one sink instance; Parallelism applies to the steps.
//   - Operator chaining (router.go, inline and fromSource): the sink or a
//     stateless step whose only sender is one local instance runs in that
//     sender's turn, the same order and one message less per hop; its time
//     is left out of the sender's cost profile (each step's own cost is
//     what the path costs sum) but counts in the sender's per-event cost
//     that sizes messages. A turn is not preempted, so a chained step runs
//     inline only while the outermost message stays within MessageWork
//     with the step's measured work added, and while the step has nothing
//     in its mailbox; past that its batches go to its mailbox, in order
//     (a window firing 500 results into a 20 µs step was one 10 ms
//     message). A source's step, which is not a turn, runs its
//     first step inline only on a worker, when that step has nothing
//     queued and the batch is small, and charges the time to the query's
//     share. Inline hops lend their events instead of copying them: a sink
//     must not keep the slice it is given (connector.Output).
//   - Sources are neither goroutines nor actors but timers in the engine's
//     one actors.Timers (source.go): each read is a step that never blocks
//     (connectors read without blocking; a broker's client fetches in a
//     goroutine of its own), run when the next event is due, when the
//     input's Ready fires, when the query gives credit back, or when it
//     stops. The workers run due steps between turns, and the timers'
//     goroutine when the pool is idle. A processing-time source keeps its
//     watermark moving with the clock (every SourceTick) only for
//     Plan.StateSpan after its last event: longer, no window can close.
//     So an idle query runs nothing between its due times: 400 queries of
//     1 event/s took 0.17 s of user CPU in 20 s instead of 5.1 s when each
//     source was a goroutine polling every millisecond, and a due source
//     no longer waits for a Go timer on a P whose thread is descheduled
//     (docs/architecture.md, experiment E15).
//   - Relative paths in a spec (jsonl inputs, file sinks, late sinks) are
//     resolved against the spec file's directory.
//   - In a cluster, a query's sources and sink stay on its coordinator;
//     placement applies to steps. Operator statistics of a step's remote
//     instances are on the node that runs them (its GET /v1/queries lists
//     the part under the same id). A join instance's frontier rule is
//     shared by the senders of one node only; senders on other nodes keep
//     their own (priorities only; results do not depend on it).
package runtime
