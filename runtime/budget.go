package runtime

import "github.com/cameo-go/cameo/priority"

// The per-query memory budget. A query's memory is what its spec and its
// input make it hold: the open groups of its windows (one per window and
// key), the events its joins buffer, and the events of its messages
// queued or running on this node (bounded in messages by MaxInFlight, not
// in events). Each is estimated from counts the state machines keep
// (query.WindowAgg.StateBytes, query.JoinOp.StateBytes, eventBytes per
// queued event), so checking costs two atomic loads per message. A query
// over Config.QueryMemory fails with the figures, its actors stop and its
// state is freed: no spec or input can take the process's memory. There is
// no shedding yet, so failing is the policy; the estimate is an estimate
// (TestStateBytesTracksHeap keeps it within 2× of the heap).

// DefaultQueryMemory is Config.QueryMemory's default: 512 MiB.
const DefaultQueryMemory = 512 << 20

// queuedEventBytes estimates one event in a queued message.
const queuedEventBytes = 256

// memoryBytes returns the query's estimated memory now.
func (q *Query) memoryBytes() int64 {
	return q.stateBytes.Load() + q.backlogEvents.Load()*queuedEventBytes
}

// affordFiring checks, before windows fire at wm, that the results they
// would emit fit the query's budget beside what it holds; a join's output
// is the product of its sides per key, so one firing can ask for far more
// than its state. Over the budget the query fails with the figures.
func (x *instance) affordFiring(wm int64) bool {
	q := x.q
	b := q.eng.cfg.QueryMemory
	if b <= 0 {
		return true
	}
	n := x.machine.Output(wm)
	if n <= (b-q.memoryBytes())/queuedEventBytes {
		return true
	}
	q.fail("memory budget: %s would emit %d results at once (about %d MiB) beside about %d MiB held, over the query's budget of %d MiB",
		x.st.label, n, priority.MulSat(n, queuedEventBytes)>>20, q.memoryBytes()>>20, b>>20)
	return false
}

// chargeState records an instance's new state size and fails the query if
// it is over its budget.
func (x *instance) chargeState() {
	if !x.st.kind.Stateful() {
		return
	}
	n := x.machine.StateBytes()
	q := x.q
	q.stateBytes.Add(n - x.stateBytes)
	x.stateBytes = n
	if b := q.eng.cfg.QueryMemory; b > 0 {
		if m := q.memoryBytes(); m > b {
			q.fail("memory budget: about %d MiB of window and join state and %d queued events, over the query's budget of %d MiB (a key space or window this query's input makes too large for one node)",
				q.stateBytes.Load()>>20, q.backlogEvents.Load(), b>>20)
		}
	}
}
