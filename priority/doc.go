// Package priority is the pure scheduling core of Cameo for Go: what a
// message's priority is, and in which order a dispatcher runs messages. It
// has no goroutines, reads no clock (time arrives as an argument, `now`, in
// Unix nanoseconds) and imports neither protoactor nor any other package of
// this module. Two shells drive it: the real worker pool in package actors,
// and the discrete-event simulator Sim in this package.
//
// # Priorities (the paper's slide 26)
//
// Every message carries a PriorityContext. Its Global priority orders work
// across actors, smaller first; its Local priority orders the messages of
// one actor (the window index). The default policy, Cameo, sets
//
//	Global = t_MF + L − C_oM − C_path
//
// the latest time the message may start and still let its output meet the
// query's latency target L: t_MF is the frontier time (FrontierRule), C_oM
// the profiled cost of the message at its operator (CostProfile) and C_path
// the most expensive path from there to the sink (PathCosts, fed by
// Reply contexts travelling upstream). The Policy interface has the four
// hooks of the paper's context converter; LLF, EDF, SJF, FIFO and Fair are
// the other built-in policies, and a user policy is any value implementing
// Policy.
//
// # Frontiers
//
// Stateless operators: t_MF is the message's own arrival. Processing-time
// tumbling and sliding windows (WindowFrontier): the end of the earliest
// window that holds the message; the first message past a boundary carries
// the frontier of the earliest window it closes (the prototype's
// BoundaryBasedEDF rule). One departure: when the message carries the
// sender's watermark, "past a boundary" is the watermark's position, not
// the events'. Behind a shuffle a sender forwards events of the next window
// while its watermark (the minimum over its inputs) is still in the current
// one, and the message that finally moves it, often a mark without events,
// is the one that fires the window; keyed by events, it took the next
// window's deadline and waited (runtime's doc has the measurement).
// Event-time windows (EventTimeFrontier): the wall time at which the
// watermark is expected to pass the window's end plus the allowed lateness, assuming event time advances with wall time from the
// message's arrival, corrected by the sender's observed watermark. Joins
// (JoinFrontier): the later of the two sides' frontiers. The paper's text on
// event time and joins was not available to us: these two estimators are
// our design, as specified here.
//
// # The two-level scheduler
//
// Level 1, RunQueue: runnable actors ordered by key, ties in the order they
// were queued, behind a FIFO lane for actors with system messages. Level 2,
// ActorQueue: an actor's pending messages in order of local priority, then
// arrival. An actor's key is the smallest Global of its pending messages.
// Turn and TurnConfig are the worker's turn rules: the first message of a
// turn always runs; the worker then keeps the actor only while the actor's
// key is ≤ the run queue head's key, and yields at a window boundary, after
// a quantum (default 100 ms, Orleans' activation quantum) or after a maximum
// number of messages. There is no preemption inside a message.
//
// # Shares above deadlines (ShareQueue)
//
// The deadline order alone lets whoever declares the most urgent keys take
// the pool: a tenant with 1 ms targets, or one whose backlog is older than
// its target (every message of a hopeless backlog outranks every new
// message: the domino effect of deadline order). The dispatcher's level-1
// queue is therefore a ShareQueue: a tree root → tenants → queries whose
// leaves are RunQueues of actors. Each group has a weight and a virtual
// time, its charged worker time divided by its weight (start-time fair
// queueing's); a group is eligible while its virtual time is within Slack
// (default 5 ms) of the least-served busy sibling's. From the root down
// the queue takes, among eligible children, the one whose head is best by
// (band, key, queue order), so:
//
//   - deadlines decide among tenants and queries that stay within their
//     shares: with no contention the order is the flat RunQueue's;
//   - a group ahead of its share waits, however urgent its keys, until its
//     siblings catch up; its share is all a target can buy;
//   - a group is busy while it has queued or running actors, and comes back
//     from idle at its siblings' virtual time: no credit banked;
//   - work-conserving: if no eligible group has queued work, the
//     least-served ineligible one runs (Head.Spare), but cannot cut a
//     running turn short by its key;
//   - overload: a leaf whose served work stays more than its latency
//     target late for DeferAfter (CoDel's 100 ms interval) is Deferred: it
//     yields to Feasible work among the eligible groups but keeps its share,
//     so hopeless work never outranks feasible work and is not starved;
//   - Budget bounds a turn while another group waits (Turn.LimitShare,
//     decision Share), so one actor cannot hold a worker for a quantum
//     while its tenant is over its share.
//
// Designs weighed for the shares: CockroachDB's admission WorkQueue (a heap
// of tenants by usage above each tenant's priority/create-time heap) serves
// the least-used tenant first, which breaks the deadline order even when
// nothing is contended; deficit round robin needs a quantum per round and
// gives no order inside one; a weight folded into the key (the Fair
// policy) is one more way to game keys. Eligibility within a slack keeps
// deadlines in charge until a share is exceeded, like Linux's EEVDF keeps
// virtual deadlines among eligible tasks.
//
// # Designs considered and rejected
//
//   - Keying an actor by the message that runs next (the head of its local
//     order), as the prototype does. The message that closes a window sits
//     behind the window's earlier messages in local order, yet it carries
//     the urgent deadline; keyed by the head, the actor would not look urgent
//     until the lax messages before it had run. Keying by the minimum makes
//     those messages inherit the urgency, which is what the boundary rule
//     intends.
//   - One global priority queue of messages. It cannot keep actor semantics
//     (one message at a time per actor, local order inside an actor) without
//     skipping blocked entries, and skipping breaks the priority order.
//   - A pair of heaps for ActorQueue (by local, by global). Correct, but
//     O(log n) with poor locality: under a fan-in backlog of millions of
//     messages its sifting was 60% of the CPU profile. Messages arrive in
//     local order almost always, so FIFO buckets per local priority with a
//     monotonic min-deque each are amortised O(1).
//   - Quantising priorities (the prototype's PRIORITY_GRANULARITY_TICKS,
//     1 tick in its last version): not done; priorities are nanoseconds.
//     Coarser granularity is an experiment knob (experiment E10), not a
//     default.
//
// # Usage
//
//	p := priority.Cameo{}
//	rule := priority.NewWindowFrontier(priority.Tumbling(int64(time.Second)))
//	fr := rule.Next(priority.Stamp{Arrival: now, Time: now, Watermark: priority.NoWatermark})
//	ctx := p.BuildAtSource(now, q, now, priority.Hop{Frontier: fr, Cost: cost.Mean(), PathCost: paths.Max()})
//
// MotivatingExample runs the paper's example on the simulator; `go run
// ./cmd/cameo motivating` prints it.
package priority
