package priority

import (
	"container/heap"
	"fmt"
	"io"
)

// SimConfig configures a Sim.
type SimConfig struct {
	Workers int // > 0
	Turn    TurnConfig
	// Shares configures the share queue; its zero value means the
	// defaults. Actors added with AddActor share one leaf: the flat order.
	Shares ShareConfig
	// Trace, when non-nil, receives one line per scheduling event: every
	// start, finish and end of turn, with the virtual time.
	Trace io.Writer
}

// ActorID names an actor of a Sim.
type ActorID int

// GroupID names a group of a Sim's share queue; SimRoot is the root.
type GroupID int

// SimRoot is the root group of every Sim.
const SimRoot GroupID = 0

// SimMessage is one message of a simulation: a context (whose Global and
// Local order it), a virtual execution cost, and an optional continuation
// run when it finishes (to send messages downstream).
type SimMessage struct {
	Name   string
	Ctx    PriorityContext
	Cost   int64
	OnDone func(s *Sim, now int64, r SimResult)
}

// SimResult is what happened to one message.
type SimResult struct {
	Name   string
	Actor  ActorID
	Worker int
	Ctx    PriorityContext
	Sent   int64
	Start  int64
	Finish int64
}

// Sim is a discrete-event simulator of one dispatcher: Workers virtual
// workers over the same RunQueue, ActorQueue and turn rules as the real
// dispatcher, with virtual costs and a virtual clock. Events at the same
// time are applied together, arrivals before completions, and only then are
// idle workers given work, so a result never depends on map order or timing.
type Sim struct {
	cfg     SimConfig
	now     int64
	seq     uint64
	events  simEvents
	rq      *ShareQueue[*simActor]
	groups  []*Group[*simActor] // by GroupID
	deflt   GroupID             // the leaf of AddActor
	actors  []*simActor
	workers []simWorker
	results []SimResult
}

type simActor struct {
	id    ActorID
	name  string
	q     ActorQueue[simPending]
	entry *Entry[*simActor]
	busy  bool
}

type simPending struct {
	m    SimMessage
	sent int64
}

type simWorker struct {
	actor *simActor
	turn  Turn
	cur   simPending
	start int64
	local int64
	// limited: a group on the actor's path had a busy sibling when it
	// was taken, so the share budget applies from the start.
	limited bool
}

type simEvent struct {
	at     int64
	kind   int // 0 arrival, 1 completion
	seq    uint64
	actor  *simActor
	m      SimMessage
	worker int
}

type simEvents []simEvent

func (h simEvents) Len() int { return len(h) }
func (h simEvents) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.seq < b.seq
}
func (h simEvents) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *simEvents) Push(x any)   { *h = append(*h, x.(simEvent)) }
func (h *simEvents) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// NewSim returns a simulator at virtual time 0.
func NewSim(cfg SimConfig) (*Sim, error) {
	if cfg.Workers <= 0 {
		return nil, fmt.Errorf("%w: sim workers %d must be > 0", ErrBadConfig, cfg.Workers)
	}
	if err := cfg.Turn.Validate(); err != nil {
		return nil, err
	}
	rq, err := NewShareQueue[*simActor](cfg.Shares)
	if err != nil {
		return nil, err
	}
	s := &Sim{cfg: cfg, rq: rq, groups: []*Group[*simActor]{rq.Root()}, workers: make([]simWorker, cfg.Workers)}
	s.cfg.Shares = rq.Config()
	if s.deflt, err = s.AddLeaf(SimRoot, "", 1, 0); err != nil {
		return nil, err
	}
	return s, nil
}

// AddGroup adds an inner group (a tenant) of weight under parent.
func (s *Sim) AddGroup(parent GroupID, name string, weight float64) (GroupID, error) {
	g, err := s.rq.NewGroup(s.group(parent), name, weight)
	return s.addGroup(g, err)
}

// AddLeaf adds a leaf group (a query) of weight and latency target under
// parent; actors join it with AddActorIn.
func (s *Sim) AddLeaf(parent GroupID, name string, weight float64, target int64) (GroupID, error) {
	g, err := s.rq.NewLeaf(s.group(parent), name, weight, target)
	return s.addGroup(g, err)
}

func (s *Sim) addGroup(g *Group[*simActor], err error) (GroupID, error) {
	if err != nil {
		return 0, err
	}
	s.groups = append(s.groups, g)
	return GroupID(len(s.groups) - 1), nil
}

func (s *Sim) group(id GroupID) *Group[*simActor] {
	if id < 0 || int(id) >= len(s.groups) {
		panic(fmt.Sprintf("priority: Sim has no group %d", id))
	}
	return s.groups[id]
}

// GroupStats returns the figures of a group.
func (s *Sim) GroupStats(id GroupID) GroupStats { return s.group(id).Stats() }

// AddActor adds an actor to the default leaf and returns its id.
func (s *Sim) AddActor(name string) ActorID { return s.AddActorIn(name, s.deflt) }

// AddActorIn adds an actor to the leaf group and returns its id.
func (s *Sim) AddActorIn(name string, leaf GroupID) ActorID {
	g := s.group(leaf)
	if !g.leaf {
		panic(fmt.Sprintf("priority: Sim group %d (%q) is not a leaf", leaf, g.name))
	}
	a := &simActor{id: ActorID(len(s.actors)), name: name}
	a.entry = NewEntryIn(a, g)
	s.actors = append(s.actors, a)
	return a.id
}

// Now returns the virtual time.
func (s *Sim) Now() int64 { return s.now }

// Send delivers m to actor at virtual time at (not before Now).
func (s *Sim) Send(at int64, actor ActorID, m SimMessage) {
	if at < s.now {
		panic(fmt.Sprintf("priority: Sim.Send at %d, before now %d", at, s.now))
	}
	s.seq++
	heap.Push(&s.events, simEvent{at: at, kind: 0, seq: s.seq, actor: s.actors[actor], m: m})
}

// Run processes events until none is left and returns the results in
// completion order.
func (s *Sim) Run() []SimResult { return s.RunUntil(1<<63 - 1) }

// RunUntil processes the events due at or before t.
func (s *Sim) RunUntil(t int64) []SimResult {
	for len(s.events) > 0 && s.events[0].at <= t {
		s.now = s.events[0].at
		for len(s.events) > 0 && s.events[0].at == s.now {
			ev := heap.Pop(&s.events).(simEvent)
			if ev.kind == 0 {
				s.arrive(ev)
			} else {
				s.complete(ev.worker)
			}
		}
		s.dispatch()
	}
	return s.results
}

// Results returns the results so far, in completion order.
func (s *Sim) Results() []SimResult { return s.results }

func (s *Sim) arrive(ev simEvent) {
	a := ev.actor
	a.q.Push(simPending{m: ev.m, sent: ev.at}, ev.m.Ctx.Local, ev.m.Ctx.Global)
	if a.busy {
		return
	}
	key, _ := a.q.Key()
	switch {
	case !a.entry.Queued():
		s.rq.Push(a.entry, key)
	case key < a.entry.Key():
		s.rq.Rekey(a.entry, key)
	}
}

func (s *Sim) dispatch() {
	for w := range s.workers {
		if s.workers[w].actor != nil {
			continue
		}
		e, _, ok := s.rq.Pop(s.now)
		if !ok {
			return
		}
		a := e.Value
		a.busy = true
		b, limited := s.shareBudget(e)
		s.workers[w] = simWorker{actor: a, turn: s.cfg.Turn.Begin(s.now), limited: limited}
		s.workers[w].turn.LimitShare(b)
		s.startNext(w)
	}
}

func (s *Sim) startNext(w int) {
	wk := &s.workers[w]
	p, local, global, _ := wk.actor.q.Pop()
	wk.cur, wk.start, wk.local = p, s.now, local
	s.tracef("t=%d w%d start %s %s key=%d local=%d", s.now, w, wk.actor.name, p.m.Name, global, local)
	s.seq++
	heap.Push(&s.events, simEvent{at: s.now + p.m.Cost, kind: 1, seq: s.seq, worker: w})
}

// shareBudget is the time a turn of e may run while another group waits:
// its share budget, at most the slack; limited reports that another group
// on its path is busy now.
func (s *Sim) shareBudget(e *Entry[*simActor]) (ns int64, limited bool) {
	b, ok := s.rq.Budget(e)
	if !ok {
		return s.cfg.Shares.Slack, false
	}
	return min(b, s.cfg.Shares.Slack), true
}

func (s *Sim) complete(w int) {
	wk := &s.workers[w]
	a := wk.actor
	s.rq.Charge(a.entry, s.now-wk.start)
	r := SimResult{Name: wk.cur.m.Name, Actor: a.id, Worker: w, Ctx: wk.cur.m.Ctx, Sent: wk.cur.sent, Start: wk.start, Finish: s.now}
	s.results = append(s.results, r)
	s.tracef("t=%d w%d finish %s %s", s.now, w, a.name, r.Name)
	wk.turn.Ran(wk.local)
	if done := wk.cur.m.OnDone; done != nil {
		done(s, s.now, r)
	}
	key, has := a.q.Key()
	local, _ := a.q.PeekLocal()
	head, hasHead := s.rq.Peek()
	contended := wk.limited || (hasHead && head.Group != nil && head.Group != a.entry.Group())
	if head.Spare {
		hasHead = false // cuts the turn by the share budget only, not by its key
	}
	d := wk.turn.Next(s.now, key, local, has, head.Key, hasHead, contended)
	if d == Continue {
		s.startNext(w)
		return
	}
	s.tracef("t=%d w%d yield %s %s", s.now, w, a.name, d)
	a.busy = false
	if has {
		s.rq.Push(a.entry, key)
	}
	s.rq.Done(a.entry)
	*wk = simWorker{}
}

func (s *Sim) tracef(format string, args ...any) {
	if s.cfg.Trace != nil {
		fmt.Fprintf(s.cfg.Trace, format+"\n", args...)
	}
}
