package actors

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/priority"
)

const (
	stateIdle uint32 = iota
	stateQueued
	stateRunning
)

// Mailbox is the deadline mailbox: it implements protoactor's actor.Mailbox
// and keeps an actor's pending messages ordered by local priority, then
// arrival (priority.ActorQueue). The global and local priority of a message
// come from its scheduling context (ContextOf), looked up through a
// protoactor MessageEnvelope when the sender wrapped it; a message with no
// context joins the actor's current window and is keyed as due now.
//
// On a *Dispatcher the mailbox is one entry of the dispatcher's run queue,
// keyed by its most urgent message. On any other dispatcher (protoactor's
// synchronized one in tests, for instance) it drains itself in local order
// the way protoactor's default mailbox does. System messages bypass the
// order in both cases; suspension keeps user messages queued until resumed.
type Mailbox struct {
	invoker     actor.MessageInvoker
	d           *Dispatcher      // nil on a foreign dispatcher
	foreign     actor.Dispatcher // set when d is nil
	middlewares []actor.MailboxMiddleware
	entry       *priority.Entry[*Mailbox]

	mu struct {
		sync.Mutex // before Dispatcher.mu
		user       priority.ActorQueue[any]
		sys        []any
		suspended  bool
	}
	// state (idle, queued, running) is written under d.mu, and leaving
	// stateRunning also holds mu. A post reads it without a lock, after
	// counting its message in inN (see PostUserMessage).
	state     atomic.Uint32
	userCount atomic.Int32 // for UserMessageCount without the lock

	// in is where posts to an actor on a *Dispatcher land: a short append
	// under a lock of its own, so that senders to a running actor never
	// touch mu or the dispatcher's lock. The worker moves it into
	// mu.user in batches (drainLocked). inN counts what in holds.
	in struct {
		sync.Mutex // after mu when both are held
		buf, spare []inboxItem
	}
	inN      atomic.Int32
	draining atomic.Bool // foreign dispatchers only
}

var _ actor.Mailbox = (*Mailbox)(nil)

// NewMailbox returns a producer of deadline mailboxes.
func NewMailbox(mw ...actor.MailboxMiddleware) actor.MailboxProducer {
	return func() actor.Mailbox {
		m := &Mailbox{middlewares: mw}
		m.entry = priority.NewEntry(m)
		return m
	}
}

// RegisterHandlers implements actor.Mailbox.
func (m *Mailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker = invoker
	if d, ok := dispatcher.(*Dispatcher); ok {
		m.d = d
		if m.entry.Group() == nil {
			m.entry = priority.NewEntryIn(m, d.mu.deflt) // set once in NewDispatcher
		}
	} else {
		m.foreign = dispatcher
	}
}

// Start implements actor.Mailbox.
func (m *Mailbox) Start() {
	for _, mw := range m.middlewares {
		mw.MailboxStarted()
	}
}

// UserMessageCount implements actor.Mailbox.
func (m *Mailbox) UserMessageCount() int { return int(m.userCount.Load()) }

type inboxItem struct {
	msg           any
	local, global int64
	keyed         bool // false: no context, keyed when drained
}

// PostUserMessage implements actor.Mailbox.
func (m *Mailbox) PostUserMessage(msg any) {
	for _, mw := range m.middlewares {
		mw.MessagePosted(msg)
	}
	it := inboxItem{msg: msg, keyed: true}
	if m.d != nil && m.d.cfg.Order == OrderFIFO {
		it.global = m.d.fifoSeq.Add(1)
	} else if p, ok := msg.(Prioritized); ok {
		it.local, it.global = p.Priorities()
	} else if c := ContextOf(msg); c != nil {
		it.local, it.global = c.GetLocalPriority(), c.GetGlobalPriority()
	} else {
		it.keyed = false
	}
	m.userCount.Add(1)
	if m.d == nil {
		m.mu.Lock()
		m.pushLocked(it)
		m.mu.Unlock()
		m.scheduleForeign()
		return
	}
	m.in.Lock()
	m.in.buf = append(m.in.buf, it)
	m.inN.Add(1)
	m.in.Unlock()
	// The worker of a running actor stores a new state before it looks at
	// inN for the last time (requeueLocked); inN was raised before state is
	// read here. Both are sequentially consistent, so either this post sees
	// the new state or the worker sees the message: it is never stranded.
	if m.state.Load() == stateRunning {
		return
	}
	m.mu.Lock()
	m.drainLocked()
	var w *worker
	if !m.mu.suspended && m.mu.user.Len() > 0 {
		w = m.d.readyLocked(m)
	}
	m.mu.Unlock()
	w.signal()
}

func (m *Mailbox) pushLocked(it inboxItem) {
	if !it.keyed {
		it.local, it.global = m.uncontextedLocked()
	}
	m.mu.user.Push(it.msg, it.local, it.global)
}

// drainLocked moves the inbox into the actor's queue. Called with mu held.
func (m *Mailbox) drainLocked() {
	if m.inN.Load() == 0 {
		return
	}
	m.in.Lock()
	items := m.in.buf
	m.in.buf, m.in.spare = m.in.spare[:0], nil
	m.inN.Store(0)
	m.in.Unlock()
	for i := range items {
		m.pushLocked(items[i])
		items[i] = inboxItem{}
	}
	m.in.Lock()
	if m.in.spare == nil {
		m.in.spare = items[:0]
	}
	m.in.Unlock()
}

// uncontextedLocked keys a message that carries no context: it joins the
// window that runs next and is as urgent as the actor already is, or as the
// work the dispatcher took last when the actor has nothing pending.
func (m *Mailbox) uncontextedLocked() (local, global int64) {
	if k, ok := m.mu.user.Key(); ok {
		l, _ := m.mu.user.PeekLocal()
		return l, k
	}
	if m.d != nil {
		return 0, m.d.lastKey.Load()
	}
	return 0, 0
}

// PostSystemMessage implements actor.Mailbox.
func (m *Mailbox) PostSystemMessage(msg any) {
	for _, mw := range m.middlewares {
		mw.MessagePosted(msg)
	}
	m.mu.Lock()
	m.mu.sys = append(m.mu.sys, msg)
	var w *worker
	if m.d != nil {
		w = m.d.readySystemLocked(m)
	}
	m.mu.Unlock()
	if m.d != nil {
		w.signal()
	} else {
		m.scheduleForeign()
	}
}

func (m *Mailbox) popSystemLocked() any {
	msg := m.mu.sys[0]
	m.mu.sys[0] = nil
	m.mu.sys = m.mu.sys[1:]
	if len(m.mu.sys) == 0 {
		m.mu.sys = nil
	}
	return msg
}

// runSystem handles one system message outside the lock.
func (m *Mailbox) runSystem(msg any) {
	switch msg.(type) {
	case *actor.SuspendMailbox:
		m.mu.Lock()
		m.mu.suspended = true
		m.mu.Unlock()
	case *actor.ResumeMailbox:
		m.mu.Lock()
		m.mu.suspended = false
		m.mu.Unlock()
	default:
		func() {
			defer func() {
				if r := recover(); r != nil {
					m.invoker.EscalateFailure(r, msg)
				}
			}()
			m.invoker.InvokeSystemMessage(msg)
		}()
	}
	for _, mw := range m.middlewares {
		mw.MessageReceived(msg)
	}
}

// runUser invokes one user message; a panic is escalated to the actor's
// supervisor (which suspends the mailbox) and reported as false.
func (m *Mailbox) runUser(msg any) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
			ok = false
		}
	}()
	m.invoker.InvokeUserMessage(msg)
	for _, mw := range m.middlewares {
		mw.MessageReceived(msg)
	}
	return true
}

// scheduleForeign and drainForeign run the mailbox on a dispatcher other
// than ours, as protoactor's default mailbox does.
func (m *Mailbox) scheduleForeign() {
	if m.draining.CompareAndSwap(false, true) {
		m.foreign.Schedule(m.drainForeign)
	}
}

func (m *Mailbox) drainForeign() {
	for {
		m.drainOnce()
		m.draining.Store(false)
		m.mu.Lock()
		more := len(m.mu.sys) > 0 || (!m.mu.suspended && m.mu.user.Len() > 0)
		m.mu.Unlock()
		if !more || !m.draining.CompareAndSwap(false, true) {
			break
		}
	}
	if m.userCount.Load() == 0 {
		for _, mw := range m.middlewares {
			mw.MailboxEmpty()
		}
	}
}

func (m *Mailbox) drainOnce() {
	throughput := m.foreign.Throughput()
	for i := 0; ; i++ {
		if throughput > 0 && i > 0 && i%throughput == 0 {
			runtime.Gosched()
		}
		m.mu.Lock()
		if len(m.mu.sys) > 0 {
			msg := m.popSystemLocked()
			m.mu.Unlock()
			m.runSystem(msg)
			continue
		}
		if m.mu.suspended || m.mu.user.Len() == 0 {
			m.mu.Unlock()
			return
		}
		msg, _, _, _ := m.mu.user.Pop()
		m.userCount.Add(-1)
		m.mu.Unlock()
		m.runUser(msg)
	}
}
