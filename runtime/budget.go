package runtime

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cameo-go/cameo/priority"
)

// The per-query memory budget. A query's memory is what its spec and its
// input make it hold: the open groups of its windows (one per window and
// key), the events its joins buffer, the events of its messages queued or
// running on this node (bounded in messages by MaxInFlight, not in
// events), and what its connectors hold (connector.Env.Bytes: a broker's
// records fetched ahead, results on their way to a broker or endpoint). Each is estimated from counts the state machines keep
// (query.WindowAgg.StateBytes, query.JoinOp.StateBytes, eventBytes per
// queued event), so checking costs two atomic loads per message. A query
// over Config.QueryMemory fails with the figures, its actors stop and its
// state is freed: no spec or input can take the process's memory. Failing
// is the policy (shedding, where a spec allows it, drops late events, not
// state); the estimate is an estimate (TestStateBytesTracksHeap keeps it
// within 2× of the heap).

// DefaultQueryMemory is Config.QueryMemory's default: 512 MiB.
const DefaultQueryMemory = 512 << 20

// queuedEventBytes estimates one event in a queued message.
const queuedEventBytes = 256

// memoryBytes returns the query's estimated memory now.
func (q *Query) memoryBytes() int64 {
	return q.stateBytes.Load() + q.backlogEvents.Load()*queuedEventBytes + q.connBytes.Load()
}

// holdBytes counts n more (or fewer) bytes the query's connectors hold
// (connector.Env.Bytes); over the query's budget the query fails.
func (q *Query) holdBytes(n int64) {
	m := q.connBytes.Add(n)
	if n <= 0 {
		return
	}
	if b := q.eng.cfg.QueryMemory; b > 0 && q.memoryBytes() > b {
		q.fail("memory budget: its connectors hold about %d MiB (records read ahead, results not yet acknowledged) beside about %d MiB of state and queued events, over the query's budget of %d MiB",
			m>>20, (q.memoryBytes()-m)>>20, b>>20)
	}
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

// The node's memory budget (Config.NodeMemory). Each query's budget bounds
// what one query holds; many queries within theirs can still hold more
// than the machine has. So the engine sums the estimates of its running
// queries every Config.MemoryCheck (no cost on the message path), refuses
// new queries while the sum is at the admission threshold of the budget,
// and over the budget fails queries until the sum is back under it: from
// the tenant holding the most for its weight, that tenant's largest query.
// No tenant can take the node's memory, and the queries of tenants within
// their part go on. TestNodeMemoryBudget shows the choice.

// nodeMemoryShare is the part of the memory the process may use that the
// default node budget takes: the rest is the runtime's, the heap's slack
// between collections, and the estimate's error.
const nodeMemoryShare = 0.75

// fallbackNodeMemory is the default node budget when the machine's memory
// cannot be read: 4 GiB.
const fallbackNodeMemory = 4 << 30

// DefaultNodeMemory returns Config.NodeMemory's default: three quarters
// of the memory the process may use (its cgroup's limit, else the
// machine's memory), or 4 GiB when neither can be read.
func DefaultNodeMemory() int64 {
	if m := systemMemory(); m > 0 {
		return int64(float64(m) * nodeMemoryShare)
	}
	return fallbackNodeMemory
}

// SystemMemory returns the memory the process may use: the cgroup v2 or
// v1 limit when one is set, else the machine's memory; 0 when unknown.
func SystemMemory() int64 { return systemMemory() }

// systemMemory returns the memory the process may use: the cgroup v2 or v1
// limit when one is set, else MemTotal of /proc/meminfo; 0 when unknown.
func systemMemory() int64 {
	var total int64
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if len(f) == 2 && f[1] == "kB" {
					if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
						total = kb << 10
					}
				}
			}
		}
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			return n // "max", or v1's huge "no limit", do not parse or are above the total
		}
	}
	return total
}

// NodeMemory returns the estimated memory of the node's running queries at
// the last check, and the budget (0: none).
func (e *Engine) NodeMemory() (held, budget int64) {
	return e.nodeMem.Load(), max(0, e.cfg.NodeMemory)
}

// watchMemory checks the node's budget every Config.MemoryCheck until the
// engine stops. Owned by the engine: started by New, ended by Stop.
func (e *Engine) watchMemory() {
	defer e.memWatch.Done()
	t := time.NewTicker(e.cfg.MemoryCheck)
	defer t.Stop()
	for {
		select {
		case <-e.memStop:
			return
		case <-t.C:
			e.checkMemory()
		}
	}
}

// checkMemory sums the running queries' estimates and, over the node's
// budget, fails queries until the sum is back under it: each time the
// largest query of the tenant holding the most for its weight. It runs
// every Config.MemoryCheck whatever the count of queries, so the common
// case (under the budget) is one pass over them, unsorted, into a slice
// it keeps: no allocation, no per-tenant grouping.
func (e *Engine) checkMemory() {
	e.memMu.Lock()
	defer e.memMu.Unlock()
	e.prune()
	e.mu.Lock()
	qs := e.memScratch[:0]
	for _, q := range e.mu.queries {
		qs = append(qs, q)
	}
	e.mu.Unlock()
	defer func() {
		clear(qs)
		e.memScratch = qs[:0]
	}()
	// Each query's estimate is read once: the choice and the figures in
	// the reason agree, though the queries run on.
	held := e.memHeld[:0]
	var total int64
	for _, q := range qs {
		if q.failed.Load() || q.State().Ended() {
			held = append(held, -1)
			continue
		}
		m := q.memoryBytes()
		total += m
		held = append(held, m)
	}
	e.memHeld = held[:0]
	e.nodeMem.Store(total)
	if b := e.cfg.NodeMemory; b > 0 && total > b {
		e.shedMemory(qs, held, total, b)
	}
}

// shedMemory fails queries of qs (held: each one's estimate, -1 for one
// not running) until total is under the budget b.
func (e *Engine) shedMemory(qs []*Query, held []int64, total, b int64) {
	type holding struct {
		q     *Query
		bytes int64
	}
	type use struct {
		bytes int64
		qs    []holding
	}
	byTenant := map[string]*use{}
	for i, q := range qs {
		if held[i] < 0 {
			continue
		}
		u := byTenant[q.spec.Tenant]
		if u == nil {
			u = &use{}
			byTenant[q.spec.Tenant] = u
		}
		u.bytes += held[i]
		u.qs = append(u.qs, holding{q, held[i]})
	}
	defer func() { e.nodeMem.Store(total) }()
	for total > b {
		var tenant string
		var worst float64
		for t, u := range byTenant {
			if len(u.qs) == 0 {
				continue
			}
			if r := float64(u.bytes) / e.tenantWeight(t); tenant == "" || r > worst || (r == worst && t < tenant) {
				tenant, worst = t, r
			}
		}
		if tenant == "" {
			return
		}
		u := byTenant[tenant]
		top := 0
		for i, h := range u.qs {
			if h.bytes > u.qs[top].bytes || (h.bytes == u.qs[top].bytes && compareIDs(h.q.id, u.qs[top].q.id) < 0) {
				top = i
			}
		}
		h := u.qs[top]
		h.q.fail("node memory budget: the node's queries held about %d MiB, over its budget of %d MiB; tenant %q held the most for its weight (%d MiB, weight %g), and this query the most of it (%d MiB)",
			total>>20, b>>20, tenant, u.bytes>>20, e.tenantWeight(tenant), h.bytes>>20)
		total -= h.bytes
		u.bytes -= h.bytes
		u.qs = append(u.qs[:top], u.qs[top+1:]...)
	}
}

// tenantWeight is a tenant's weight now: the scheduler's (it may have
// changed at run time) or the tenant file's.
func (e *Engine) tenantWeight(tenant string) float64 {
	if w := e.sched.TenantWeight(tenant); w > 0 {
		return w
	}
	if w := e.cfg.Tenants.Policy(tenant).Weight; w > 0 {
		return w
	}
	return 1
}

// memoryFull reports why a new query would not fit in the node's memory
// budget; "" when it fits.
func (e *Engine) memoryFull() string {
	b, below := e.cfg.NodeMemory, e.cfg.Admission.Below
	if b <= 0 {
		return ""
	}
	if below <= 0 {
		below = 1
	}
	if held := e.nodeMem.Load(); float64(held) >= below*float64(b) {
		return fmt.Sprintf("the node's queries hold about %d MiB of window and join state and queued events, %.0f %% of its memory budget of %d MiB (admission threshold %.0f %%)",
			held>>20, 100*float64(held)/float64(b), b>>20, 100*below)
	}
	return ""
}
