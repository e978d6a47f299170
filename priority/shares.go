package priority

import (
	"fmt"
	"math"
)

// Defaults of ShareConfig.
const (
	// DefaultSlack is how far, in nanoseconds of service divided by weight,
	// a group may run ahead of its least-served busy sibling and still be
	// picked by deadline. 5 ms: CoDel's target delay. Smaller isolates more
	// tightly and departs from the flat deadline order sooner; larger is the
	// other way round.
	DefaultSlack int64 = 5_000_000
	// DefaultDeferAfter is how long a leaf's work must have been served
	// more than its latency target late before the leaf is deferred:
	// CoDel's interval, 100 ms.
	DefaultDeferAfter int64 = 100_000_000
)

// ShareConfig configures a ShareQueue. The zero value of a field means its
// default; use -1 for DeferAfter to switch deferral off.
type ShareConfig struct {
	// Slack bounds, in ns of weighted service, how far a group may run
	// ahead of its least-served busy sibling and stay eligible.
	Slack int64
	// DeferAfter is how long a leaf's served work must stay later than the
	// leaf's latency target before the leaf is deferred; -1: never. Only
	// meaningful when keys are times (the deadline policies).
	DeferAfter int64
}

func (c *ShareConfig) fill() {
	if c.Slack == 0 {
		c.Slack = DefaultSlack
	}
	if c.DeferAfter == 0 {
		c.DeferAfter = DefaultDeferAfter
	}
}

// Validate reports what is wrong with c; zero fields mean their defaults.
func (c ShareConfig) Validate() error {
	if c.Slack < 0 {
		return fmt.Errorf("%w: share slack %d ns must be > 0", ErrBadConfig, c.Slack)
	}
	if c.DeferAfter < -1 {
		return fmt.Errorf("%w: defer-after %d ns must be >= 0, or -1 for never", ErrBadConfig, c.DeferAfter)
	}
	return nil
}

// Band is the class of a leaf's work: feasible work is served before
// deferred work among the groups eligible by their shares.
type Band uint8

// The bands, in the order they are served.
const (
	Feasible Band = iota
	Deferred
)

func (b Band) String() string {
	if b == Deferred {
		return "deferred"
	}
	return "feasible"
}

// rank is what a group would run next: its band, then the key and queue
// order of the entry at its head. Without deferral and with every group
// eligible, comparing ranks is comparing (key, seq) across all entries:
// the flat RunQueue's order.
type rank struct {
	band Band
	key  int64
	seq  uint64
}

func (a rank) less(b rank) bool {
	if a.band != b.band {
		return a.band < b.band
	}
	if a.key != b.key {
		return a.key < b.key
	}
	return a.seq < b.seq
}

// Group is a node of a ShareQueue: the root, an inner group (a tenant) or a
// leaf (a query) whose entries are actors. Siblings share their parent's
// service in proportion to their weights.
type Group[T any] struct {
	q      *ShareQueue[T]
	parent *Group[T]
	name   string
	weight float64
	leaf   bool

	// Standing among the siblings.
	vtime    float64 // weighted service: ns charged / weight, lifted to the parent's virtual time when it becomes busy
	served   int64   // ns charged
	running  int     // entries of the group popped and not yet Done
	busy     bool    // queued or running entries: in the parent's byVtime or waiting
	eligible bool    // within Slack of the least-served busy sibling
	head     rank    // valid while the group has queued entries
	kIdx     int     // in the parent's byRank, -1 when absent
	vIdx     int     // in the parent's byVtime (eligible) or waiting, -1 when absent
	wIdx     int     // in the parent's spare, -1 when absent

	// Inner groups: the busy children.
	byRank  groupHeap[T] // eligible children with queued entries, by head rank
	byVtime groupHeap[T] // eligible busy children, by vtime
	waiting groupHeap[T] // ineligible busy children, by vtime
	spare   groupHeap[T] // ineligible children with queued entries, by vtime: served only when byRank is empty
	pv      float64      // virtual time: the least vtime among busy children, never decreasing

	// Leaves.
	rq         RunQueue[T]
	target     int64 // latency target, for deferral
	late       bool  // the last entry served was more than target late
	lateSince  int64 // since when, while late
	deferred   bool
	deferrals  uint64
	bestEffort bool // always in the Deferred band
}

// Name returns the group's name.
func (g *Group[T]) Name() string { return g.name }

// Weight returns the group's weight.
func (g *Group[T]) Weight() float64 { return g.weight }

// GroupStats is a snapshot of a group's scheduling figures.
type GroupStats struct {
	Served     int64 // ns of worker time charged to the group
	Deferred   bool  // the leaf is deferred now
	Deferrals  uint64
	Queued     int // entries queued in the leaf
	Running    int // entries popped and not yet Done
	BestEffort bool
}

// Stats returns the group's figures.
func (g *Group[T]) Stats() GroupStats {
	return GroupStats{Served: g.served, Deferred: g.deferred, Deferrals: g.deferrals, Queued: g.rq.Len(), Running: g.running, BestEffort: g.bestEffort}
}

// hasWork reports whether entries are queued under g.
func (g *Group[T]) hasWork() bool {
	if g.leaf {
		return g.rq.Len() > 0
	}
	return len(g.byRank.h) > 0 || len(g.spare.h) > 0
}

// next returns the child g picks: the eligible child with the best head,
// else (work-conserving) the least-served ineligible child with work.
func (g *Group[T]) next() *Group[T] {
	if len(g.byRank.h) > 0 {
		return g.byRank.h[0]
	}
	return g.spare.h[0]
}

func (g *Group[T]) computeHead() rank {
	if g.leaf {
		e := g.rq.heap[0]
		return rank{band: g.Band(), key: e.key, seq: e.seq}
	}
	return g.next().head
}

// Band returns the band of a leaf's work: Deferred while it is deferred or
// if it is best effort.
func (g *Group[T]) Band() Band {
	if g.deferred || g.bestEffort {
		return Deferred
	}
	return Feasible
}

// SetBestEffort makes leaf g's work always Deferred: it runs after the
// feasible work of the eligible groups, within its share (a query
// admitted while the node was full).
func (q *ShareQueue[T]) SetBestEffort(g *Group[T], on bool) {
	if !g.leaf {
		panic("priority: SetBestEffort of a group that is not a leaf")
	}
	g.bestEffort = on
	q.changed(g) // its head's band, and so its rank, may differ now
}

// ShareQueue is the level-1 queue of the scheduler with tenant shares: a
// tree of groups (root → tenants → queries) whose leaves hold the runnable
// actors, behind a FIFO lane for actors with system work. It chooses the
// next actor from the root down: at each level, among the busy children
// whose weighted service is within Slack of the least-served busy sibling
// (the eligible ones), the one whose head is feasible before deferred, then
// smallest key, then longest queued; if no eligible child has queued work,
// the least-served child that has. Inside a leaf the order is the
// RunQueue's. So:
//
//   - with no contention every busy group is eligible and the order is the
//     flat RunQueue's over all actors;
//   - a group that takes more than its weighted share becomes ineligible
//     until its siblings have caught up, however urgent its keys: no
//     target, however small, buys more than the share;
//   - work-conserving: a worker never idles while an entry is queued;
//   - a group is busy while it has queued or running entries; one that
//     becomes busy again comes back at its siblings' virtual time, so no
//     credit is banked while idle (start-time fair queueing's rule);
//   - a leaf whose served work stays more than its latency target late for
//     DeferAfter is deferred: its work yields to feasible work of the
//     eligible groups, but keeps its share, so it is not starved.
//
// The owner reports service with Charge and the end of a popped entry's run
// with Done (after requeueing it, if it has more work). ShareQueue is a
// plain data structure: not safe for concurrent use, no clock.
type ShareQueue[T any] struct {
	cfg    ShareConfig
	root   *Group[T]
	system []*Entry[T]
	sysOff int
	seq    uint64
	n      int
}

// NewShareQueue returns an empty queue with a root group.
func NewShareQueue[T any](cfg ShareConfig) (*ShareQueue[T], error) {
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	q := &ShareQueue[T]{cfg: cfg}
	q.root = &Group[T]{q: q, name: "", weight: 1}
	q.root.init()
	return q, nil
}

// Config returns the queue's configuration with defaults filled in.
func (q *ShareQueue[T]) Config() ShareConfig { return q.cfg }

func (g *Group[T]) init() {
	g.kIdx, g.vIdx, g.wIdx = -1, -1, -1
	g.byRank.kind, g.byVtime.kind, g.waiting.kind, g.spare.kind = byRankHeap, byVtimeHeap, byVtimeHeap, spareHeap
}

// Root returns the root group.
func (q *ShareQueue[T]) Root() *Group[T] { return q.root }

// NewGroup adds an inner group (a tenant) under parent (nil: the root).
func (q *ShareQueue[T]) NewGroup(parent *Group[T], name string, weight float64) (*Group[T], error) {
	return q.newGroup(parent, name, weight, false, 0)
}

// NewLeaf adds a leaf (a query) under parent (nil: the root); its entries
// are made with NewEntryIn. target is the latency target that deferral
// measures lateness against (0: never deferred).
func (q *ShareQueue[T]) NewLeaf(parent *Group[T], name string, weight float64, target int64) (*Group[T], error) {
	return q.newGroup(parent, name, weight, true, target)
}

func (q *ShareQueue[T]) newGroup(parent *Group[T], name string, weight float64, leaf bool, target int64) (*Group[T], error) {
	if parent == nil {
		parent = q.root
	}
	if parent.q != q || parent.leaf {
		return nil, fmt.Errorf("%w: group %q: parent %q is a leaf or of another queue", ErrBadConfig, name, parent.name)
	}
	if err := CheckWeight(weight); err != nil {
		return nil, fmt.Errorf("group %q: %w", name, err)
	}
	if target < 0 {
		return nil, fmt.Errorf("%w: group %q: latency target %d ns must be >= 0", ErrBadConfig, name, target)
	}
	g := &Group[T]{q: q, parent: parent, name: name, weight: weight, leaf: leaf, target: target}
	g.init()
	return g, nil
}

// MaxWeight bounds a group's weight: with weights from 1/MaxWeight to
// MaxWeight, weighted service stays exact in float64 for centuries.
const MaxWeight = 1e6

// CheckWeight reports whether w is a valid weight of a group.
func CheckWeight(w float64) error {
	if !(w >= 1/MaxWeight && w <= MaxWeight) {
		return fmt.Errorf("%w: weight %v out of range [%g, %g]", ErrBadConfig, w, 1/MaxWeight, float64(MaxWeight))
	}
	return nil
}

// SetWeight changes g's weight for the service charged from now on.
func (q *ShareQueue[T]) SetWeight(g *Group[T], weight float64) error {
	if err := CheckWeight(weight); err != nil {
		return fmt.Errorf("group %q: %w", g.name, err)
	}
	g.weight = weight
	return nil
}

// Len returns the number of queued entries.
func (q *ShareQueue[T]) Len() int { return q.n + len(q.system) - q.sysOff }

// Push queues e, whose group must be a leaf of q, with key.
func (q *ShareQueue[T]) Push(e *Entry[T], key int64) {
	g := q.leafOf(e)
	q.seq++
	g.rq.pushSeq(e, key, q.seq)
	q.n++
	q.changed(g)
}

// Rekey changes the key of a queued entry, keeping its place among equal
// keys. Entries in the system lane only record the key.
func (q *ShareQueue[T]) Rekey(e *Entry[T], key int64) {
	if !e.queued {
		panic("priority: ShareQueue.Rekey of an entry not queued")
	}
	if e.system {
		e.key = key
		return
	}
	g := q.leafOf(e)
	g.rq.Rekey(e, key)
	q.changed(g)
}

// PushSystem queues e in the system lane, or moves it there from its leaf;
// a no-op for an entry already in the system lane. The system lane is
// served before every group and charged to no one.
func (q *ShareQueue[T]) PushSystem(e *Entry[T]) {
	if e.queued && e.system {
		return
	}
	if e.queued {
		g := q.leafOf(e)
		g.rq.remove(e.index)
		q.n--
		q.changed(g)
	}
	q.seq++
	e.seq, e.queued, e.system, e.index = q.seq, true, true, -1
	q.system = append(q.system, e)
}

// Each calls f for every queued entry, in no particular order.
func (q *ShareQueue[T]) Each(f func(*Entry[T])) {
	for _, e := range q.system[q.sysOff:] {
		f(e)
	}
	q.root.each(f)
}

func (g *Group[T]) each(f func(*Entry[T])) {
	if g.leaf {
		g.rq.Each(f)
		return
	}
	for _, c := range g.byRank.h {
		c.each(f)
	}
	for _, c := range g.spare.h {
		c.each(f)
	}
}

// Head describes the entry Pop would return.
type Head[T any] struct {
	Key   int64
	Band  Band
	Group *Group[T] // its leaf; nil for the system lane
	// Spare reports that the head was chosen only to keep the pool busy:
	// a group on its path is ineligible (ahead of its share) and no
	// eligible group has work queued. Its key must not preempt a running
	// turn.
	Spare bool
}

// Peek returns what Pop would return next: SystemKey for the system lane;
// ok false when the queue is empty.
func (q *ShareQueue[T]) Peek() (h Head[T], ok bool) {
	if q.sysOff < len(q.system) {
		return Head[T]{Key: SystemKey}, true
	}
	if !q.root.hasWork() {
		return h, false
	}
	g := q.root
	for !g.leaf {
		h.Spare = h.Spare || len(g.byRank.h) == 0
		g = g.next()
	}
	h.Key, h.Band, h.Group = g.head.key, g.head.band, g
	return h, true
}

// Pop removes and returns the head at now: the oldest system entry, else
// the entry chosen from the root down, which counts as running in its
// groups until Done. now is when it starts, for its leaf's deferral.
func (q *ShareQueue[T]) Pop(now int64) (e *Entry[T], system, ok bool) {
	if q.sysOff < len(q.system) {
		e = q.system[q.sysOff]
		q.system[q.sysOff] = nil
		q.sysOff++
		if q.sysOff == len(q.system) {
			q.system, q.sysOff = q.system[:0], 0
		}
		e.queued, e.system = false, false
		return e, true, true
	}
	if !q.root.hasWork() {
		return nil, false, false
	}
	g := q.root
	for !g.leaf {
		g = g.next()
	}
	e, _, _ = g.rq.Pop()
	q.n--
	for a := g; a != nil; a = a.parent {
		a.running++
	}
	g.observe(now, e.key, q.cfg.DeferAfter)
	q.changed(g)
	return e, false, true
}

// Done records that e, popped by Pop, no longer runs. Requeue e before
// Done when it has more work, so that its groups stay busy throughout.
func (q *ShareQueue[T]) Done(e *Entry[T]) {
	g := q.leafOf(e)
	if g.running <= 0 {
		panic("priority: ShareQueue.Done of an entry that is not running")
	}
	for a := g; a != nil; a = a.parent {
		a.running--
	}
	q.changed(g)
}

// observe updates a leaf's deferral with the key of the entry it starts at
// now: served work more than the target late for deferAfter defers the
// leaf; feasible work ends it.
func (g *Group[T]) observe(now, key int64, deferAfter int64) {
	if g.target <= 0 || deferAfter < 0 {
		return
	}
	if SubSat(now, key) <= g.target {
		g.late, g.deferred = false, false
		return
	}
	switch {
	case !g.late:
		g.late, g.lateSince = true, now
	case !g.deferred && now-g.lateSince >= deferAfter:
		g.deferred = true
		g.deferrals++
	}
}

// Charge records that e's actor ran for ns nanoseconds: every group from
// its leaf up is charged, which may move it behind its siblings.
func (q *ShareQueue[T]) Charge(e *Entry[T], ns int64) { q.ChargeLeaf(q.leafOf(e), ns) }

// ChargeLeaf records ns nanoseconds of work done for leaf outside any of
// its entries' turns (a source's step that ran its first operator inline):
// every group from leaf up is charged, as by Charge.
func (q *ShareQueue[T]) ChargeLeaf(leaf *Group[T], ns int64) {
	if ns <= 0 || leaf == nil || leaf.q != q || !leaf.leaf {
		return
	}
	for g := leaf; g != q.root; g = g.parent {
		g.served += ns
		g.vtime += float64(ns) / g.weight
		if g.busy {
			if g.hasWork() {
				// A child was reseated in the step before.
				g.head = g.computeHead()
			}
			g.parent.reseat(g)
		}
	}
}

// Budget returns how much service e's actor, just popped, may take before
// one of its groups runs more than Slack ahead of a busy sibling: the turn
// budget under contention. ok is false when no group on its path has a
// busy sibling (no limit).
func (q *ShareQueue[T]) Budget(e *Entry[T]) (ns int64, ok bool) {
	ns = math.MaxInt64
	for g := q.leafOf(e); g != q.root; g = g.parent {
		p := g.parent
		others := len(p.byVtime.h) + len(p.waiting.h)
		if g.busy {
			others--
		}
		if others == 0 {
			continue
		}
		room := (p.pv + float64(q.cfg.Slack) - g.vtime) * g.weight
		b := int64(math.MaxInt64)
		if room < math.MaxInt64 {
			b = int64(max(room, 0))
		}
		ns, ok = min(ns, b), true
	}
	return ns, ok
}

func (q *ShareQueue[T]) leafOf(e *Entry[T]) *Group[T] {
	g := e.group
	if g == nil || g.q != q || !g.leaf {
		panic("priority: ShareQueue entry without a leaf group of this queue (use NewEntryIn)")
	}
	return g
}

// changed propagates a change of g's queued or running entries up to the
// root: each group's busy state, head and place among its siblings.
func (q *ShareQueue[T]) changed(g *Group[T]) {
	for g != q.root {
		p := g.parent
		work := g.hasWork()
		busy := work || g.running > 0
		var h rank
		if work {
			h = g.computeHead()
		}
		switch {
		case busy != g.busy:
			if busy && g.vtime < p.pv {
				g.vtime = p.pv // no credit for the time it was idle
			}
			g.busy, g.head = busy, h
			p.reseat(g)
		case work != (g.kIdx >= 0 || g.wIdx >= 0):
			g.head = h
			p.reseat(g)
		case work && h != g.head:
			g.head = h
			if g.kIdx >= 0 {
				p.byRank.fix(g.kIdx)
			}
			if g.wIdx >= 0 {
				p.spare.fix(g.wIdx)
			}
		default:
			return // nothing above changes
		}
		g = p
	}
}

// reseat puts child c back in p's heaps after its busy state, queued work
// or vtime changed, then admits the waiting children the least vtime lets
// in.
func (p *Group[T]) reseat(c *Group[T]) {
	// The common case, a busy eligible child charged for a turn and still
	// within the slack: only its places move.
	if c.busy && c.eligible && c.hasWork() == (c.kIdx >= 0) && c.vtime <= p.pv+float64(p.q.cfg.Slack) {
		least := p.byVtime.h[0] == c
		p.byVtime.fix(c.vIdx)
		if c.kIdx >= 0 {
			p.byRank.fix(c.kIdx)
		}
		if least {
			p.admit() // the least vtime may have moved up
		}
		return
	}
	if c.kIdx >= 0 {
		p.byRank.remove(c.kIdx)
	}
	if c.wIdx >= 0 {
		p.spare.remove(c.wIdx)
	}
	if c.vIdx >= 0 {
		if c.eligible {
			p.byVtime.remove(c.vIdx)
		} else {
			p.waiting.remove(c.vIdx)
		}
	}
	c.eligible = false
	if !c.busy {
		p.admit() // the least vtime may have risen
		return
	}
	least := c.vtime
	if len(p.byVtime.h) > 0 {
		least = min(least, p.byVtime.h[0].vtime)
	}
	if len(p.waiting.h) > 0 {
		least = min(least, p.waiting.h[0].vtime)
	}
	old := p.pv
	p.pv = max(p.pv, least)
	if c.vtime <= p.pv+float64(p.q.cfg.Slack) {
		c.eligible = true
		p.byVtime.push(c)
		if c.hasWork() {
			p.byRank.push(c)
		}
	} else {
		p.waiting.push(c)
		if c.hasWork() {
			p.spare.push(c)
		}
	}
	if p.pv > old {
		p.admit() // waiting children may be within the slack now
	}
}

// admit advances the virtual time to the least vtime among the busy
// children and makes eligible the waiting ones within Slack of it.
func (p *Group[T]) admit() {
	least := math.Inf(1)
	if len(p.byVtime.h) > 0 {
		least = p.byVtime.h[0].vtime
	}
	if len(p.waiting.h) > 0 {
		least = min(least, p.waiting.h[0].vtime)
	}
	if math.IsInf(least, 1) {
		return
	}
	p.pv = max(p.pv, least)
	limit := p.pv + float64(p.q.cfg.Slack)
	for len(p.waiting.h) > 0 && p.waiting.h[0].vtime <= limit {
		c := p.waiting.h[0]
		p.waiting.remove(0)
		c.eligible = true
		p.byVtime.push(c)
		if c.wIdx >= 0 {
			p.spare.remove(c.wIdx)
			p.byRank.push(c)
		}
	}
}

// groupHeap is a binary heap of groups that keeps each group's index in it.
type groupHeap[T any] struct {
	h    []*Group[T]
	kind uint8
}

const (
	byRankHeap  uint8 = iota // by head rank, index kIdx
	byVtimeHeap              // by vtime, index vIdx
	spareHeap                // by vtime then head rank, index wIdx
)

func (h *groupHeap[T]) idx(g *Group[T]) *int {
	switch h.kind {
	case byRankHeap:
		return &g.kIdx
	case spareHeap:
		return &g.wIdx
	}
	return &g.vIdx
}

func (h *groupHeap[T]) less(i, j int) bool {
	a, b := h.h[i], h.h[j]
	switch {
	case h.kind == byRankHeap:
		return a.head.less(b.head)
	case a.vtime != b.vtime:
		return a.vtime < b.vtime
	case h.kind == spareHeap:
		return a.head.less(b.head)
	}
	return false
}

func (h *groupHeap[T]) swap(i, j int) {
	h.h[i], h.h[j] = h.h[j], h.h[i]
	*h.idx(h.h[i]) = i
	*h.idx(h.h[j]) = j
}

func (h *groupHeap[T]) push(g *Group[T]) {
	*h.idx(g) = len(h.h)
	h.h = append(h.h, g)
	h.up(len(h.h) - 1)
}

func (h *groupHeap[T]) remove(i int) {
	g := h.h[i]
	last := len(h.h) - 1
	if i != last {
		h.swap(i, last)
	}
	h.h[last] = nil
	h.h = h.h[:last]
	if i != last {
		h.fix(i)
	}
	*h.idx(g) = -1
}

func (h *groupHeap[T]) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *groupHeap[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *groupHeap[T]) down(i int) bool {
	start, n := i, len(h.h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			break
		}
		h.swap(i, m)
		i = m
	}
	return i > start
}
