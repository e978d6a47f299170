package priority

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// shareFixture is a ShareQueue of tenants × queries with one entry per
// actor, and a naive reference of the same rules: every group's rank
// recomputed by scanning all groups on every pop.
type shareFixture struct {
	q       *ShareQueue[int]
	leaves  []*Group[int]
	entries []*Entry[int]
	ref     naiveShares
}

type naiveShares struct {
	slack   float64
	seq     uint64
	groups  map[*Group[int]]*naiveGroup
	items   []naiveShareItem
	running map[int]*Group[int]  // popped, not done: entry id → leaf
	be      map[*Group[int]]bool // best-effort leaves
}

// rankLess orders items i and j as the queue must: feasible before best
// effort, then key, then queue order.
func (n *naiveShares) rankLess(i, j int) bool {
	a, b := n.items[i], n.items[j]
	if ba, bb := n.be[a.leaf], n.be[b.leaf]; ba != bb {
		return bb
	}
	return a.key < b.key || (a.key == b.key && a.seq < b.seq)
}

type naiveGroup struct {
	vtime float64
	busy  bool
	pv    float64 // of the group as a parent
}

type naiveShareItem struct {
	id     int
	leaf   *Group[int]
	key    int64
	seq    uint64
	system bool
}

func newShareFixture(t *testing.T, cfg ShareConfig, tenants, queries, actors int, r *rand.Rand) *shareFixture {
	t.Helper()
	q, err := NewShareQueue[int](cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &shareFixture{q: q, ref: naiveShares{slack: float64(q.Config().Slack), groups: map[*Group[int]]*naiveGroup{q.Root(): {}}, running: map[int]*Group[int]{}, be: map[*Group[int]]bool{}}}
	for ti := range tenants {
		tg, err := q.NewGroup(nil, fmt.Sprintf("t%d", ti), float64(1+r.IntN(4)))
		if err != nil {
			t.Fatal(err)
		}
		f.ref.groups[tg] = &naiveGroup{}
		for qi := range queries {
			lg, err := q.NewLeaf(tg, fmt.Sprintf("t%d/q%d", ti, qi), float64(1+r.IntN(3)), 0)
			if err != nil {
				t.Fatal(err)
			}
			f.ref.groups[lg] = &naiveGroup{}
			f.leaves = append(f.leaves, lg)
		}
	}
	for i := range actors {
		f.entries = append(f.entries, NewEntryIn(i, f.leaves[i%len(f.leaves)]))
	}
	return f
}

func (n *naiveShares) find(id int) int {
	return slices.IndexFunc(n.items, func(x naiveShareItem) bool { return x.id == id })
}

// refresh recomputes which groups are busy, lifting a group that becomes
// busy to its parent's virtual time, and advances the virtual times.
func (n *naiveShares) refresh(root *Group[int]) {
	var walk func(g *Group[int])
	walk = func(g *Group[int]) {
		if g.leaf {
			return
		}
		least := math.Inf(1)
		for c, nc := range n.groups {
			if c.parent == g {
				walk(c)
				if nc.busy {
					least = min(least, nc.vtime)
				}
			}
		}
		if !math.IsInf(least, 1) {
			n.groups[g].pv = max(n.groups[g].pv, least)
		}
	}
	// Activation lifts a group to its parent's virtual time before the
	// parent's virtual time moves: do it top-down on the old state.
	var lift func(g *Group[int])
	lift = func(g *Group[int]) {
		for c, nc := range n.groups {
			if c.parent != g {
				continue
			}
			busy := n.busy(c)
			if busy && !nc.busy {
				nc.vtime = max(nc.vtime, n.groups[g].pv)
			}
			nc.busy = busy
			lift(c)
		}
	}
	lift(root)
	walk(root)
}

func (n *naiveShares) busy(g *Group[int]) bool {
	for _, l := range n.running {
		if under(l, g) {
			return true
		}
	}
	return n.hasWork(g)
}

func (n *naiveShares) hasWork(g *Group[int]) bool {
	return slices.ContainsFunc(n.items, func(x naiveShareItem) bool { return !x.system && under(x.leaf, g) })
}

func under(leaf, g *Group[int]) bool {
	for a := leaf; a != nil; a = a.parent {
		if a == g {
			return true
		}
	}
	return false
}

// best returns the index of the item the rules pick under g, or -1.
func (n *naiveShares) best(g *Group[int]) int {
	if g.leaf {
		b := -1
		for i, x := range n.items {
			if x.system || x.leaf != g {
				continue
			}
			if b < 0 || n.rankLess(i, b) {
				b = i
			}
		}
		return b
	}
	least := math.Inf(1)
	for c, nc := range n.groups {
		if c.parent == g && nc.busy {
			least = min(least, nc.vtime)
		}
	}
	better := func(i, j int) bool { return j < 0 || n.rankLess(i, j) }
	b := -1
	for c, nc := range n.groups {
		if c.parent != g || !nc.busy || nc.vtime > least+n.slack {
			continue
		}
		if i := n.best(c); i >= 0 && better(i, b) {
			b = i
		}
	}
	if b >= 0 {
		return b
	}
	// Work-conserving: the least-served ineligible child with work.
	var bc *Group[int]
	for c, nc := range n.groups {
		if c.parent != g || !n.hasWork(c) {
			continue
		}
		if bc == nil || nc.vtime < n.groups[bc].vtime || (nc.vtime == n.groups[bc].vtime && better(n.best(c), n.best(bc))) {
			bc = c
		}
	}
	if bc == nil {
		return -1
	}
	return n.best(bc)
}

func (n *naiveShares) pop(root *Group[int]) (int, bool) {
	b := -1
	for i, x := range n.items {
		if x.system && (b < 0 || x.seq < n.items[b].seq) {
			b = i
		}
	}
	if b < 0 {
		b = n.best(root)
	}
	if b < 0 {
		return 0, false
	}
	id, system := n.items[b].id, n.items[b].system
	if !system {
		n.running[id] = n.items[b].leaf
	}
	n.items = slices.Delete(n.items, b, b+1)
	n.refresh(root)
	return id, true
}

func (n *naiveShares) charge(leaf *Group[int], ns int64) {
	for g := leaf; g.parent != nil; g = g.parent {
		n.groups[g].vtime += float64(ns) / g.weight
	}
	n.refresh(leafRoot(leaf))
}

func leafRoot(g *Group[int]) *Group[int] {
	for g.parent != nil {
		g = g.parent
	}
	return g
}

// drive runs random operations on the queue and the reference and fails at
// the first pop that differs.
var dbgStep = -1

func (f *shareFixture) drive(t *testing.T, r *rand.Rand, steps int, keys int64, label string) {
	t.Helper()
	q, ref := f.q, &f.ref
	for step := range steps {
		id := r.IntN(len(f.entries))
		e := f.entries[id]
		key := r.Int64N(keys)
		op := r.IntN(13)
		if dbgStep == step {
			fmt.Printf("step %d op %d entry %d (%s) queued=%v sys=%v key %d\n", step, op, id, e.Group().name, e.Queued(), e.System(), key)
		}
		_, running := ref.running[id]
		switch {
		case op < 4 && !e.Queued() && !running:
			q.Push(e, key)
			ref.seq++
			ref.items = append(ref.items, naiveShareItem{id: id, leaf: e.Group(), key: key, seq: ref.seq})
			ref.refresh(q.Root())
		case op < 6 && e.Queued():
			q.Rekey(e, key)
			if i := ref.find(id); !ref.items[i].system {
				ref.items[i].key = key
			}
		case op < 7 && !running:
			q.PushSystem(e)
			if i := ref.find(id); i < 0 || !ref.items[i].system {
				if i >= 0 {
					ref.items = slices.Delete(ref.items, i, i+1)
				}
				ref.seq++
				ref.items = append(ref.items, naiveShareItem{id: id, leaf: e.Group(), key: key, seq: ref.seq, system: true})
				ref.refresh(q.Root())
			}
		case op < 9 && running:
			// The run ends: charged, maybe requeued, done.
			ns := 1 + r.Int64N(3*q.Config().Slack)
			q.Charge(e, ns)
			ref.charge(e.Group(), ns)
			if r.IntN(2) == 0 {
				q.Push(e, key)
				ref.seq++
				ref.items = append(ref.items, naiveShareItem{id: id, leaf: e.Group(), key: key, seq: ref.seq})
				ref.refresh(q.Root())
			}
			q.Done(e)
			delete(ref.running, id)
			ref.refresh(q.Root())
		case op == 12:
			leaf := f.leaves[r.IntN(len(f.leaves))]
			ref.be[leaf] = !ref.be[leaf]
			q.SetBestEffort(leaf, ref.be[leaf])
		case op >= 9:
			got, _, ok := q.Pop(0)
			want, wok := ref.pop(q.Root())
			if ok != wok || (ok && got.Value != want) {
				var gv any = "none"
				if ok {
					gv = got.Value
				}
				t.Fatalf("%s step %d: pop = %v, want %v (ok %v)", label, step, gv, want, wok)
			}
		}
		if q.Len() != len(ref.items) {
			t.Fatalf("%s step %d: len %d want %d", label, step, q.Len(), len(ref.items))
		}
	}
}

// With every group eligible (an unbounded slack) the share queue pops in
// the flat RunQueue's order, whatever the charges.
func TestShareQueueIsFlatWithoutContention(t *testing.T) {
	for seed := uint64(0); seed < 100; seed++ {
		r := rand.New(rand.NewPCG(seed, 3))
		f := newShareFixture(t, ShareConfig{Slack: math.MaxInt64 / 4, DeferAfter: -1}, 3, 3, 24, r)
		var flat RunQueue[int]
		flatE := make([]*Entry[int], len(f.entries))
		for i := range flatE {
			flatE[i] = NewEntry(i)
		}
		for step := 0; step < 500; step++ {
			id := r.IntN(len(f.entries))
			e, fe := f.entries[id], flatE[id]
			key := r.Int64N(30)
			switch op := r.IntN(12); {
			case op < 4 && !e.Queued():
				f.q.Push(e, key)
				flat.Push(fe, key)
			case op < 6 && e.Queued():
				f.q.Rekey(e, key)
				flat.Rekey(fe, key)
			case op < 7:
				f.q.PushSystem(e)
				flat.PushSystem(fe)
			case op < 9:
				f.q.Charge(e, 1+r.Int64N(1e9))
			default:
				got, gs, ok := f.q.Pop(0)
				want, ws, wok := flat.Pop()
				if ok != wok || (ok && (got.Value != want.Value || gs != ws)) {
					t.Fatalf("seed %d step %d: share queue popped %v, flat %v", seed, step, got, want)
				}
			}
		}
	}
}

// The optimised tree of heaps makes the same choices as a naive scan of
// the rules, under charges that make groups ineligible and eligible again,
// runs that keep groups busy, and leaves turned best effort and back.
func TestShareQueueMatchesReference(t *testing.T) {
	for seed := uint64(0); seed < 150; seed++ {
		r := rand.New(rand.NewPCG(seed, 4))
		f := newShareFixture(t, ShareConfig{Slack: 1000, DeferAfter: -1}, 1+r.IntN(4), 1+r.IntN(3), 20, r)
		f.drive(t, r, 400, 40, fmt.Sprintf("seed %d", seed))
	}
}

// TestShareQueueTrace records the choices of the queue on a scripted
// scenario and compares them with testdata/shares.golden: tenant "greedy"
// (weight 1) keys everything as already late, tenant "steady" (weight 1)
// does not; then a leaf is deferred and recovers.
func TestShareQueueTrace(t *testing.T) {
	q, err := NewShareQueue[string](ShareConfig{Slack: 10, DeferAfter: 50})
	if err != nil {
		t.Fatal(err)
	}
	greedy, _ := q.NewGroup(nil, "greedy", 1)
	steady, _ := q.NewGroup(nil, "steady", 1)
	gq, _ := q.NewLeaf(greedy, "greedy/q", 1, 20)
	sq, _ := q.NewLeaf(steady, "steady/q", 1, 20)
	g1, g2 := NewEntryIn("g1", gq), NewEntryIn("g2", gq)
	s1 := NewEntryIn("s1", sq)
	var b strings.Builder
	now := int64(0)
	run := func(cost int64, push func()) {
		h, _ := q.Peek()
		e, _, ok := q.Pop(now)
		if !ok {
			fmt.Fprintf(&b, "t=%d empty\n", now)
			return
		}
		budget := "none"
		if b, limited := q.Budget(e); limited {
			budget = fmt.Sprint(b)
		}
		st := e.Group().Stats()
		fmt.Fprintf(&b, "t=%d run %s key=%d band=%s spare=%v budget=%s deferred=%v\n", now, e.Value, e.Key(), h.Band, h.Spare, budget, st.Deferred)
		now += cost
		q.Charge(e, cost)
		if push != nil {
			push()
		}
		q.Done(e)
	}
	// greedy's keys lie in the past; steady's are 100 ns out. Both start
	// at virtual time 0.
	q.Push(g1, -1000)
	q.Push(g2, -999)
	q.Push(s1, 100)
	run(8, func() { q.Push(g1, -998) })    // g1: greedy's key is the most urgent
	run(8, func() { q.Push(g2, -997) })    // g2: greedy at 8, within slack 10 of steady's 0
	run(8, func() { q.Push(s1, now+100) }) // s1: greedy at 16 is ineligible, however urgent
	run(8, nil)                            // g1: greedy 16, steady 8
	run(8, nil)                            // s1: greedy 24 > 8 + 10
	run(5, nil)                            // g2: steady has no work left: work-conserving
	run(5, nil)                            // empty
	fmt.Fprintf(&b, "served: greedy %d steady %d\n", greedy.Stats().Served, steady.Stats().Served)
	// Deferral: greedy's work has been served more than its target (20)
	// late for over 50: its leaf is deferred...
	for i := range 4 {
		q.Push(g1, int64(-900+i))
		run(6, nil)
	}
	// ...so steady's feasible work runs first, though greedy is eligible
	// and its key smaller.
	q.Push(s1, now+100)
	q.Push(g1, -800)
	run(1, nil)
	run(1, nil)
	// Feasible work ends the deferral.
	q.Push(g2, now+10)
	run(1, nil)
	fmt.Fprintf(&b, "greedy/q: %+v\n", gq.Stats())
	golden(t, "shares.golden", b.String())
}

func TestShareQueueRejectsBadGroups(t *testing.T) {
	q, _ := NewShareQueue[int](ShareConfig{})
	leaf, _ := q.NewLeaf(nil, "l", 1, 0)
	other, _ := NewShareQueue[int](ShareConfig{})
	for name, err := range map[string]error{
		"zero weight":  func() error { _, err := q.NewGroup(nil, "a", 0); return err }(),
		"NaN weight":   func() error { _, err := q.NewGroup(nil, "a", math.NaN()); return err }(),
		"inf weight":   func() error { _, err := q.NewGroup(nil, "a", math.Inf(1)); return err }(),
		"under a leaf": func() error { _, err := q.NewGroup(leaf, "a", 1); return err }(),
		"other queue":  func() error { _, err := q.NewLeaf(other.Root(), "a", 1, 0); return err }(),
		"neg target":   func() error { _, err := q.NewLeaf(nil, "a", 1, -1); return err }(),
		"set weight":   q.SetWeight(leaf, -2),
		"neg slack":    func() error { _, err := NewShareQueue[int](ShareConfig{Slack: -1}); return err }(),
		"defer -2":     func() error { _, err := NewShareQueue[int](ShareConfig{DeferAfter: -2}); return err }(),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// While the only eligible group's work is running, the ineligible group's
// queued work is still taken (work-conserving) but Peek marks it spare:
// it keeps a second worker busy and must not preempt by its key.
func TestShareQueueSpareHead(t *testing.T) {
	q, _ := NewShareQueue[string](ShareConfig{Slack: 10, DeferAfter: -1})
	a, _ := q.NewLeaf(nil, "a", 1, 0)
	b, _ := q.NewLeaf(nil, "b", 1, 0)
	a1, a2, b1 := NewEntryIn("a1", a), NewEntryIn("a2", a), NewEntryIn("b1", b)
	q.Push(a1, -100)
	q.Push(b1, 50)
	e, _, _ := q.Pop(0) // a1
	q.Charge(e, 30)     // a is 30 ahead of b: ineligible
	q.Push(a2, -99)
	q.Done(e)
	if h, _ := q.Peek(); h.Group != b || h.Spare {
		t.Fatalf("head %+v, want b, not spare", h)
	}
	e, _, _ = q.Pop(0) // b1 runs, b stays busy
	if e != b1 {
		t.Fatalf("popped %v", e.Value)
	}
	h, ok := q.Peek()
	if !ok || h.Group != a || !h.Spare || h.Key != -99 {
		t.Fatalf("head %+v, want a's a2, spare", h)
	}
	if e, _, _ := q.Pop(0); e != a2 {
		t.Fatalf("popped %v, want a2: a worker must not idle", e.Value)
	}
}

// A best-effort leaf's work goes after feasible work however urgent its
// keys, and is still taken when nothing feasible is queued.
func TestShareQueueBestEffort(t *testing.T) {
	q, _ := NewShareQueue[string](ShareConfig{Slack: 1000, DeferAfter: -1})
	be, _ := q.NewLeaf(nil, "be", 1, 0)
	ok, _ := q.NewLeaf(nil, "ok", 1, 0)
	b1, o1 := NewEntryIn("b1", be), NewEntryIn("o1", ok)
	q.Push(b1, -100)
	q.Push(o1, 50)
	if h, _ := q.Peek(); h.Group != be {
		t.Fatalf("before: head %v", h.Group.Name())
	}
	q.SetBestEffort(be, true)
	if h, _ := q.Peek(); h.Group != ok || h.Band != Feasible {
		t.Fatalf("after: head %v band %v", h.Group.Name(), h.Band)
	}
	e, _, _ := q.Pop(0)
	q.Done(e)
	if e, _, _ := q.Pop(0); e != b1 || !be.Stats().BestEffort {
		t.Fatalf("popped %v, want b1", e.Value)
	}
}
