// Package actors runs Cameo's scheduling on protoactor-go. It supplies a
// deadline Mailbox (an actor.Mailbox) and a worker-pool Dispatcher (an
// actor.Dispatcher), so operators are ordinary protoactor actors spawned
// with the options of Dispatcher.PropsOptions; the baselines the paper
// compares against; and the protobuf envelope (package actorspb) that
// carries a batch of events and its scheduling context, in process and on
// the wire.
//
// # How it fits protoactor
//
// protoactor calls Mailbox.PostUserMessage from the sender's goroutine. The
// deadline mailbox reads the message's context (ContextOf: an
// *actorspb.Envelope or anything with GetContext, also inside a protoactor
// *actor.MessageEnvelope), queues it in a priority.ActorQueue and, if the
// actor was idle, puts it in the dispatcher's run queue under its key. The
// run queue is a priority.ShareQueue: every actor belongs to a Group (its
// tenant and query, from Dispatcher.PropsOptionsIn; PropsOptions puts it in
// a default group), tenants and queries hold weighted shares, and deadlines
// decide among the groups within their shares. N workers (default
// GOMAXPROCS) take the next actor, run a turn by the priority.TurnConfig
// rules, charge the turn's time to its groups and put it back. No goroutine per actor,
// no slot per operator. System messages (start, stop, supervision) go to the
// run queue's system lane, ahead of every key. A panic in a message goes to
// protoactor's EscalateFailure, whose Suspend arrives before the actor's
// next user message; the actor's other messages stay queued and run after
// the supervisor resumes or restarts it. On a dispatcher that is not ours
// (protoactor's synchronized one, in tests) the mailbox drains itself in
// local order, as protoactor's default mailbox does.
//
// # Concurrency
//
// Locks, in order: Mailbox.mu, Dispatcher.mu, Mailbox.in. A mailbox's run
// state (idle, queued, running) is written under Dispatcher.mu, and leaving
// running also holds Mailbox.mu. A post first appends to the mailbox's inbox
// (its own short lock), then reads the state: to a running actor that is
// all it does, so senders to a busy operator never touch the mailbox or
// dispatcher locks. The worker that ends a turn stores the new state and
// then looks at the inbox again; with both sides sequentially consistent, a
// message is either seen by that look or its poster sees the new state and
// queues the actor itself. Ending a turn and taking the next actor is one
// critical section. Between turns a worker calls runtime.Gosched: a
// goroutine the worker woke (a sender that waited on a lock, a sink fed by a
// channel) sits in the worker's P's runnext slot and would otherwise wait
// for sysmon to preempt a busy worker, 10 ms later. An execution trace
// showed exactly that; the probe's maximum wait fell from 7–15 ms to under
// 1 ms (BENCHMARKS.md). Inside a long turn a worker also yields every 32
// messages or 500 µs (yieldEvery, yieldInterval), without ending the turn,
// so that sources and senders get a P while every worker is busy.
//
// A worker that runs out of work spins before it parks (Config.Spin,
// worker.spin): it polls the published head of the run queue and the
// timers, yielding its P each round, for up to 250 µs, and only while
// most of its recent idle spells ended that soon and it has spin time
// banked, earned as half its busy time. A post claims a spinner (under
// Dispatcher.mu, Dispatcher.mu.spinners) instead of waking a parked
// worker; a spinner that finds more work than it takes wakes one. What it
// saves is the wake-up of a parked worker's OS thread, which on a machine
// whose cores are all busy the kernel may leave queued for a tick: an
// execution trace of the E4 mix showed a latency-sensitive message
// waiting 4 ms for it while a P stood idle.
//
// # Timers
//
// Timers is a process's shared timer service (a priority.TimerQueue behind
// a lock): the engine arms one Timer per query source. A Dispatcher given
// WithTimers runs up to eight due timers between turns (and at the yields
// inside long turns), before it takes the next actor; their time counts as
// busy and is charged to no group. The service's own goroutine sleeps
// until the earliest due time, wakes an idle worker to run it, and runs
// what is due itself only when no worker ran any of it for 500 µs (or no
// dispatcher serves it): while the workers are busy and serve the timers
// between turns it leaves them the timers, so that a node's sources never
// take a P from its workers. A timer function runs on one goroutine
// at a time; At and Wake while it runs are honoured when it returns.
//
// # Schedulers by name (NewScheduler)
//
//   - cameo, llf, edf, sjf, fair: the deadline Dispatcher with tenant and
//     query shares; senders stamp contexts with that priority.Policy. cameo,
//     llf and edf defer a query whose work runs later than its target (their
//     keys are times); sjf and fair do not.
//   - fifo: the same worker pool in OrderFIFO: messages keyed by the order
//     they were posted, one global FIFO of messages that keeps actor
//     semantics; every group always eligible, so no shares.
//   - protoactor: unmodified protoactor-go, its default mailbox and goroutine
//     dispatcher (a goroutine per busy mailbox, FIFO inside): the paper's
//     "simple actor system".
//   - slots: each group (a query) gets a dedicated FIFO pool of WithWorkers
//     workers (default 1), as slot-based engines give each task slots of
//     its own. Groups × workers may exceed the cores; Go and the OS then
//     time-slice them, as over-subscribed slots would be.
//
// # Design choices
//
//   - Conversions between priority.PriorityContext and the protobuf context
//     live here (ToProto, FromProto), not in priority: priority imports
//     nothing of ours, and the protobuf types belong to this layer.
//   - The fifo scheduler keys by post order rather than by the fifo policy's
//     send-time stamps: exact FIFO whatever the clock's resolution.
//   - Dispatcher.Stop stops the workers; it does not drain. Draining is the
//     engine's job (stop sources, flush windows, then stop the dispatcher);
//     Stop returns ErrAbandoned, with counts, if user messages were left.
//   - A user message with no context joins the actor's current window and is
//     keyed as urgent as the actor already is, or as the work the dispatcher
//     took last ("due now"), like the prototype's remapping.
//
// # Designs tried and rejected
//
//   - Idle workers spinning before they park, ungated, with the spinner
//     taking work as it saw it: it stole each hop of a ping-pong from the
//     worker that posted it, and the idle hop went from 0.4 µs to 1.9 µs.
//     Spinning now claims through the dispatcher's lock and only where
//     spells are short and work paid for it; BenchmarkIdleHop, FanIn and
//     Overhead measured unchanged beside the tree without it.
//   - All posts under the mailbox lock: four senders and the worker
//     contended for it; the inbox keeps senders off it.
//   - A goroutine per actor with priorities in the mailbox only: Go's
//     scheduler is FIFO with 10 ms slices, so a tight-deadline actor waits
//     behind every busy one (protoactor's numbers in BENCHMARKS.md).
package actors
