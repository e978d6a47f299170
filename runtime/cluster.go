package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/actors/actorspb"
	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
)

// ErrCluster wraps every failure of the cluster layer: a placement that
// names an unknown or unreachable node, a peer that refused a query's part.
var ErrCluster = errors.New("runtime: cluster")

// DefaultRemote is the address of a node's remote layer unless told
// otherwise.
const DefaultRemote = "127.0.0.1:7800"

// clusterActor is the name of each node's control actor: deploys,
// undeploys and failures of parts. wireActor takes the frequent small
// messages — heartbeats and edge replies — inline on the connection's
// reader goroutine (a synchronized dispatcher), so a slow deploy never
// delays a heartbeat and a reply costs no goroutine hand-off.
const (
	clusterActor = "cameo-cluster"
	wireActor    = "cameo-wire"
)

// Settings of the remote layer's transport (runtime/BENCHMARKS.md,
// BenchmarkRemoteHop, measures them).
const (
	// remoteWindow fixes gRPC's per-stream and per-connection flow-control
	// windows. A fixed window turns gRPC's bandwidth-delay probing off:
	// protoactor sends each direction on its own connection, so the probe's
	// PINGs and their acks never ride along with data, and one envelope
	// sent alone cost four writes and eight reads a round trip instead of
	// two and four (measured with strace), about a sixth of its latency.
	remoteWindow = 1 << 20
	// remoteWriterQueue is the initial length of protoactor's per-peer
	// writer queue, which grows on demand. Its default, 10^6 slots, is
	// 16 MB per peer held from the first message on.
	remoteWriterQueue = 4096
)

// remoteOptions are the remote layer's settings; server adds to the gRPC
// server's options.
// remoteDialTimeout bounds one connect to a peer.
const remoteDialTimeout = time.Second

func remoteOptions(server ...grpc.ServerOption) []remote.ConfigOption {
	return []remote.ConfigOption{
		remote.WithEndpointWriterQueueSize(remoteWriterQueue),
		remote.WithServerOptions(append([]grpc.ServerOption{grpc.InitialWindowSize(remoteWindow), grpc.InitialConnWindowSize(remoteWindow)}, server...)...),
		// The dial blocks until connected, for at most remoteDialTimeout:
		// protoactor's endpoint writer retries a failed connect without
		// closing the connection it dialled before, which leaks that
		// connection's goroutines once per retry while a peer is down; a
		// blocking dial that fails closes its connection itself.
		// One attempt per endpoint writer: a writer retries inside its
		// Started handler (a dial, then a 2 s sleep, five times by default),
		// where it cannot be stopped; heartbeats respawn a writer for a
		// peer that is still wanted, so retries cost nothing.
		func(c *remote.Config) { c.MaxRetryCount = 1 },
		remote.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(remoteWindow), grpc.WithInitialConnWindowSize(remoteWindow),
			grpc.WithBlock(), grpc.WithTimeout(remoteDialTimeout)), //nolint:staticcheck // grpc 1.60's way to bound a blocking Dial, which protoactor calls
	}
}

// ClusterConfig makes an engine one node of a cluster: its operators may
// run on other nodes and theirs on it, over protoactor-go's remote layer
// (gRPC, protobuf). The membership is static: every node lists the others.
type ClusterConfig struct {
	// Name is this node's name (letters, digits, '-' and '_'); specs
	// place operators by it. Required.
	Name string
	// Address is host:port the remote layer listens on. Default
	// DefaultRemote. Port 0 picks a free port (a node alone).
	Address string
	// Peers maps the other nodes' names to their remote addresses.
	Peers map[string]string
	// Heartbeat is how often the node pings each peer. Default 100 ms.
	Heartbeat time.Duration
	// PeerTimeout is how long a peer that answered before may stay silent
	// before it is declared down, failing the queries that use it.
	// Default 2 s; at least three heartbeats.
	PeerTimeout time.Duration
	// DeployTimeout bounds placing a query's part on a peer. Default 10 s.
	DeployTimeout time.Duration
}

// WithCluster sets Config.Cluster.
func WithCluster(c ClusterConfig) Option { return func(cfg *Config) { cfg.Cluster = &c } }

var nodeName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (c *ClusterConfig) fill() {
	if c.Address == "" {
		c.Address = DefaultRemote
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 100 * time.Millisecond
	}
	if c.PeerTimeout == 0 {
		c.PeerTimeout = 2 * time.Second
	}
	if c.DeployTimeout == 0 {
		c.DeployTimeout = 10 * time.Second
	}
}

// validate reports every problem of a filled configuration, joined.
func (c *ClusterConfig) validate() error {
	var errs []error
	if !nodeName.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("cluster: node name %q: want 1 to 64 letters, digits, '-' or '_'", c.Name))
	}
	if err := checkHostPort(c.Address); err != nil {
		errs = append(errs, fmt.Errorf("cluster: address: %w", err))
	}
	names := make([]string, 0, len(c.Peers))
	for name := range c.Peers {
		names = append(names, name)
	}
	sort.Strings(names)
	seen := map[string]string{c.Address: c.Name}
	for _, name := range names {
		addr := c.Peers[name]
		switch {
		case !nodeName.MatchString(name):
			errs = append(errs, fmt.Errorf("cluster: peer name %q: want 1 to 64 letters, digits, '-' or '_'", name))
		case name == c.Name:
			errs = append(errs, fmt.Errorf("cluster: peer %q has this node's own name", name))
		}
		if err := checkHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("cluster: peer %s: %w", name, err))
		} else if strings.HasSuffix(addr, ":0") {
			errs = append(errs, fmt.Errorf("cluster: peer %s: address %q has port 0", name, addr))
		} else if other, dup := seen[addr]; dup {
			errs = append(errs, fmt.Errorf("cluster: peer %s has the address of %s (%s)", name, other, addr))
		}
		seen[addr] = name
	}
	if c.Heartbeat <= 0 {
		errs = append(errs, fmt.Errorf("cluster: heartbeat %v: want > 0", c.Heartbeat))
	}
	if c.PeerTimeout < 3*c.Heartbeat {
		errs = append(errs, fmt.Errorf("cluster: peer timeout %v: want at least three heartbeats (%v)", c.PeerTimeout, 3*c.Heartbeat))
	}
	if c.DeployTimeout <= 0 {
		errs = append(errs, fmt.Errorf("cluster: deploy timeout %v: want > 0", c.DeployTimeout))
	}
	return errors.Join(errs...)
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port", addr)
	}
	if host == "" {
		return fmt.Errorf("%q: no host", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port %q is not 0 to 65535", addr, port)
	}
	return nil
}

// ParsePeers reads name=host:port pairs (the CLI's --peer values).
func ParsePeers(list []string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range list {
		name, addr, ok := strings.Cut(p, "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("peer %q: want name=host:port", p)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("peer %q given twice", name)
		}
		out[name] = addr
	}
	return out, nil
}

// cluster is a node's remote layer and control actor.
type cluster struct {
	e     *Engine
	cfg   ClusterConfig
	rem   *remote.Remote
	addr  string // the remote layer's address (the port is known after listening)
	peers map[string]*peer
	names []string // peers' names, sorted

	unknown    atomic.Int64 // messages of a type the control actor does not handle
	badStreams atomic.Int64 // inbound streams closed on a message that could not be read
	badEnv     atomic.Int64 // envelopes for an instance or query this node does not run

	stop chan struct{}
	wg   sync.WaitGroup
}

// peer is what a node knows of another.
type peer struct {
	name, addr string
	pid        *actor.PID

	mu      sync.Mutex
	up      bool
	seen    time.Time // the last Pong
	downs   int
	reason  string
	samples []clockSample // the last 16 heartbeat exchanges
	offset  int64         // its clock minus ours, from the sample with the least RTT
	rtt     int64         // that sample's round trip
	lastRTT int64
	hopRTT  int64 // moving average of envelope round trips minus the receiver's work
}

type clockSample struct{ offset, rtt int64 }

// startCluster starts the remote layer on e's actor system, the control
// actor and the heartbeats.
func startCluster(e *Engine, cfg ClusterConfig) (c *cluster, err error) {
	host, portS, _ := net.SplitHostPort(cfg.Address)
	port, _ := strconv.Atoi(portS)
	c = &cluster{e: e, cfg: cfg, peers: map[string]*peer{}, stop: make(chan struct{})}
	// A peer may send bytes this node cannot decode (a type it does not
	// know: protoactor's deserializer then panics). The guard turns that
	// into a closed stream and a count instead of a crash.
	rc := remote.Configure(host, port, remoteOptions(grpc.ChainStreamInterceptor(c.guardStream), grpc.ChainUnaryInterceptor(c.guardUnary))...)
	c.rem = remote.NewRemote(e.sys, rc)
	func() {
		defer func() {
			if r := recover(); r != nil { // remote.Start panics when it cannot listen
				err = fmt.Errorf("%w: cluster: remote layer on %s: %v", ErrBadConfig, cfg.Address, r)
			}
		}()
		c.rem.Start()
	}()
	if err != nil {
		return nil, err
	}
	c.addr = e.sys.ProcessRegistry.Address
	for name, addr := range cfg.Peers {
		c.peers[name] = &peer{name: name, addr: addr, pid: actor.NewPID(addr, wireActor)}
		c.names = append(c.names, name)
	}
	sort.Strings(c.names)
	if _, err := e.sys.Root.SpawnNamed(actor.PropsFromFunc(c.receive), clusterActor); err != nil {
		c.rem.Shutdown(false)
		return nil, fmt.Errorf("%w: cluster: control actor: %w", ErrBadConfig, err)
	}
	inline := actor.WithDispatcher(actor.NewSynchronizedDispatcher(300))
	if _, err := e.sys.Root.SpawnNamed(actor.PropsFromFunc(c.receiveWire, inline), wireActor); err != nil {
		c.rem.Shutdown(false)
		return nil, fmt.Errorf("%w: cluster: wire actor: %w", ErrBadConfig, err)
	}
	c.wg.Add(1)
	go c.heartbeats()
	return c, nil
}

// shutdown stops the heartbeats and the remote layer.
func (c *cluster) shutdown() {
	close(c.stop)
	c.wg.Wait()
	c.rem.Shutdown(false)
}

func (c *cluster) guardStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.badStreams.Add(1)
			c.e.cfg.Logger.Warn("remote: closed an inbound stream on a message this node cannot read", "method", info.FullMethod, "err", fmt.Sprint(r))
			err = status.Errorf(codes.InvalidArgument, "cameo: cannot read a message: %v", r)
		}
	}()
	return h(srv, ss)
}

func (c *cluster) guardUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.badStreams.Add(1)
			err = status.Errorf(codes.InvalidArgument, "cameo: cannot read a request: %v", r)
		}
	}()
	return h(ctx, req)
}

// Info returns the node's view of the cluster.
func (c *cluster) info() ClusterInfo {
	now := time.Now()
	ci := ClusterInfo{Name: c.cfg.Name, Address: c.addr, UnknownMessages: c.unknown.Load(), BadStreams: c.badStreams.Load(), StrayEnvelopes: c.badEnv.Load()}
	for _, name := range c.names {
		p := c.peers[name]
		p.mu.Lock()
		pi := PeerInfo{Name: p.name, Address: p.addr, Up: p.up, LastSeenMs: -1, ClockOffsetMs: nsToMs(p.offset), RTTMs: nsToMs(p.rtt),
			LastRTTMs: nsToMs(p.lastRTT), HopRTTMs: nsToMs(p.hopRTT), Downs: p.downs, Reason: p.reason}
		if !p.seen.IsZero() {
			pi.LastSeenMs = float64(now.Sub(p.seen).Microseconds()) / 1000
		}
		p.mu.Unlock()
		ci.Peers = append(ci.Peers, pi)
	}
	return ci
}

func nsToMs(ns int64) float64 { return float64(ns) / 1e6 }

// address returns a node's remote address ("" when unknown).
func (c *cluster) address(node string) string {
	if node == c.cfg.Name {
		return c.addr
	}
	if p := c.peers[node]; p != nil {
		return p.addr
	}
	return ""
}

// clock returns the peer's clock offset (its clock minus ours) and half
// its least heartbeat round trip.
func (p *peer) clock() (offset, oneWay int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.offset, p.rtt / 2
}

func (c *cluster) heartbeats() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		backlog := c.backlogs()
		now := time.Now()
		for _, name := range c.names {
			p := c.peers[name]
			c.e.sys.Root.Send(p.pid, &actorspb.Ping{From: c.cfg.Name, SentNs: c.e.cfg.Clock.Now(), Backlog: backlog[name]})
			p.mu.Lock()
			silent := now.Sub(p.seen)
			down := p.up && silent > c.cfg.PeerTimeout
			if down {
				p.up, p.downs = false, p.downs+1
				p.reason = fmt.Sprintf("node %s (%s) stopped answering heartbeats: silent for %v (peer timeout %v)", p.name, p.addr, silent.Round(time.Millisecond), c.cfg.PeerTimeout)
			}
			reason := p.reason
			p.mu.Unlock()
			if down {
				c.e.cfg.Logger.Error("peer down", "peer", name, "reason", reason)
				c.peerDown(name, reason)
			}
		}
	}
}

// backlogs returns, per coordinating peer, the messages queued or running
// of each query part this node runs for it.
func (c *cluster) backlogs() map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for _, q := range c.e.Queries() {
		if q.pl == nil || q.pl.coordinator == c.cfg.Name {
			continue
		}
		m := out[q.pl.coordinator]
		if m == nil {
			m = map[string]int64{}
			out[q.pl.coordinator] = m
		}
		m[q.id] = q.inflight.Load()
	}
	return out
}

// peerDown fails every query that uses the node.
func (c *cluster) peerDown(node, reason string) {
	for _, q := range c.e.Queries() {
		if q.pl != nil && q.pl.uses(node) {
			q.fail("%s", reason)
		}
	}
}

// up returns this node and the peers that are up, sorted.
func (c *cluster) up() []string {
	out := []string{c.cfg.Name}
	for _, name := range c.names {
		p := c.peers[name]
		p.mu.Lock()
		if p.up {
			out = append(out, name)
		}
		p.mu.Unlock()
	}
	sort.Strings(out)
	return out
}

func (c *cluster) isUp(node string) bool {
	if node == c.cfg.Name {
		return true
	}
	p := c.peers[node]
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up
}

// receive is the control actor.
func (c *cluster) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) { // Message unwraps a MessageEnvelope
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
	case *actorspb.Deploy:
		res := &actorspb.DeployResult{QueryId: m.GetQueryId(), Node: c.cfg.Name}
		if err := c.onDeploy(m); err != nil {
			res.Error = err.Error()
		}
		ctx.Respond(res)
	case *actorspb.Undeploy:
		if q, ok := c.e.Query(m.GetQueryId()); ok {
			q.quiet.Store(true)
			if m.GetReason() != "" {
				q.fail("%s", m.GetReason())
			} else {
				q.finish(nil)
			}
		}
	case *actorspb.PartFailed:
		if q, ok := c.e.Query(m.GetQueryId()); ok {
			q.fail("its part on node %s failed: %s", m.GetNode(), m.GetReason())
		}
	case *actorspb.DrainPart:
		if q, ok := c.e.Query(m.GetQueryId()); ok && q.pl != nil && q.pl.coordinator == c.cfg.Name {
			c.e.cfg.Logger.Info("draining query: a node it runs on is shutting down", "id", q.id, "node", m.GetNode())
			q.drain("node " + m.GetNode() + " is shutting down")
		}
	default:
		c.ignore(m)
	}
}

// receiveWire runs on the reader goroutine of the connection the message
// came on; everything it does is short and never blocks.
func (c *cluster) receiveWire(ctx actor.Context) {
	switch m := ctx.Message().(type) { // Message unwraps a MessageEnvelope
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
	case *actorspb.Ping:
		c.onPing(m)
	case *actorspb.Pong:
		c.onPong(m)
	case *actorspb.EdgeReply:
		c.onReply(m)
	default:
		c.ignore(m)
	}
}

// ignore counts and logs a message of a type this node does not handle.
func (c *cluster) ignore(msg any) {
	c.unknown.Add(1)
	c.e.cfg.Logger.Warn("cluster: ignored a message of a type this node does not handle", "type", fmt.Sprintf("%T", msg))
}

func (c *cluster) onPing(m *actorspb.Ping) {
	p := c.peers[m.GetFrom()]
	if p == nil {
		c.unknown.Add(1)
		c.e.cfg.Logger.Warn("cluster: ping from a node that is not a peer", "from", m.GetFrom())
		return
	}
	recv := c.e.cfg.Clock.Now()
	for id, n := range m.GetBacklog() {
		if q, ok := c.e.Query(id); ok {
			q.setPeerBacklog(p.name, n)
		}
	}
	c.e.sys.Root.Send(p.pid, &actorspb.Pong{From: c.cfg.Name, PingSentNs: m.GetSentNs(), ReceivedNs: recv, SentNs: c.e.cfg.Clock.Now()})
}

func (c *cluster) onPong(m *actorspb.Pong) {
	p := c.peers[m.GetFrom()]
	if p == nil {
		c.unknown.Add(1)
		return
	}
	s := clockSampleOf(m.GetPingSentNs(), m.GetReceivedNs(), m.GetSentNs(), c.e.cfg.Clock.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.up {
		p.reason = ""
		c.e.cfg.Logger.Info("peer up", "peer", p.name, "address", p.addr)
	}
	p.up, p.seen = true, time.Now()
	p.lastRTT = s.rtt
	p.samples = append(p.samples, s)
	if len(p.samples) > 16 {
		p.samples = p.samples[1:]
	}
	best := p.samples[0]
	for _, x := range p.samples[1:] {
		if x.rtt < best.rtt {
			best = x
		}
	}
	p.offset, p.rtt = best.offset, best.rtt
}

// clockSampleOf is the NTP estimate from one ping (sent t0 here, received
// t1 and answered t2 by the peer, its pong received t3 here): the round
// trip less the peer's time, and the peer's clock offset. t1 and t2 come
// from the wire, so the arithmetic saturates.
func clockSampleOf(t0, t1, t2, t3 int64) clockSample {
	sub := priority.SubSat
	s := clockSample{rtt: max(0, sub(sub(t3, t0), sub(t2, t1)))}
	d1, d2 := sub(t1, t0), sub(t2, t3)
	if d1 != math.MaxInt64 && d1 != math.MinInt64 && d2 != math.MaxInt64 && d2 != math.MinInt64 {
		s.offset = priority.AddSat(d1, d2) / 2
		if d1 > 0 && d2 > 0 && s.offset == math.MaxInt64/2 || d1 < 0 && d2 < 0 && s.offset == math.MinInt64/2 {
			s.offset = d1/2 + d2/2 // the sum saturated, its halves do not
		}
		return s
	}
	// Times no clock gives: exact arithmetic, then saturate.
	b := func(x int64) *big.Int { return big.NewInt(x) }
	off := new(big.Int).Add(new(big.Int).Sub(b(t1), b(t0)), new(big.Int).Sub(b(t2), b(t3)))
	off.Quo(off, b(2))
	switch {
	case off.IsInt64():
		s.offset = off.Int64()
	case off.Sign() > 0:
		s.offset = math.MaxInt64
	default:
		s.offset = math.MinInt64
	}
	return s
}

// onReply takes a receiver's costs back to the instance that stands for
// it here, and releases the message from the query's backlog.
func (c *cluster) onReply(m *actorspb.EdgeReply) {
	q, ok := c.e.Query(m.GetQueryId())
	if !ok {
		return // the query ended here first
	}
	x := q.remote[m.GetReceiver()]
	if x == nil {
		c.badEnv.Add(1)
		return
	}
	rep := actors.ReplyFromProto(m.GetReply())
	x.reply.Store(&rep)
	q.release()
	if p := c.peers[x.node]; p != nil {
		rtt := max(0, priority.SubSat(priority.SubSat(c.e.cfg.Clock.Now(), m.GetSentNs()), priority.SubSat(m.GetRepliedNs(), m.GetStartedNs())))
		p.mu.Lock()
		if p.hopRTT == 0 {
			p.hopRTT = rtt
		} else {
			p.hopRTT += (rtt - p.hopRTT) / 16
		}
		p.mu.Unlock()
	}
}

// reply answers an envelope from another node with the receiver's costs.
// Its queueing is the delay from the sender's post to the start of the
// work, less the hop's one-way delay (half the least heartbeat round trip)
// and corrected by the measured clock offset; the one-way delay is the
// reply's network cost. The sender's policy adds both to C_path.
func (c *cluster) reply(x *instance, env *actorspb.Envelope, rep priority.Reply, started int64) {
	from := c.peers[env.GetSenderNode()]
	if from == nil || x.q.pl.addrs[from.name] == "" {
		c.badEnv.Add(1)
		return
	}
	offset, oneWay := from.clock()
	delay := started - (env.GetSentNs() - offset)
	rep.Queueing, rep.Network = max(0, delay-oneWay), oneWay
	c.e.sys.Root.Send(from.pid, &actorspb.EdgeReply{
		QueryId: x.q.id, Receiver: x.id, Reply: actors.ReplyToProto(rep),
		SentNs: env.GetSentNs(), StartedNs: started, RepliedNs: c.e.cfg.Clock.Now(),
	})
}

// placement is where each instance of a query runs.
type placement struct {
	coordinator string            // runs the sources and the sink
	nodes       [][]string        // per stage (steps, then the sink), per instance
	addrs       map[string]string // every node's remote address
	others      []string          // the nodes other than the coordinator that run instances
	lookahead   bool              // the coordinator's Config.Lookahead
}

func (p *placement) uses(node string) bool {
	return p.coordinator == node || slices.Contains(p.others, node)
}

// place decides where a query submitted here runs; nil: all here. Steps
// with nodes run instance i on Nodes[i mod len]; the others are spread
// over the nodes that are up, step i's instance j on node (i+j) mod n.
// Sources and the sink run here. A spec built in Go (no text to ship) runs
// here unless it places steps explicitly, which is an error.
func (c *cluster) place(spec *query.Spec) (*placement, error) {
	up := c.up()
	known := append([]string{c.cfg.Name}, c.names...)
	pl := &placement{coordinator: c.cfg.Name, addrs: map[string]string{c.cfg.Name: c.addr}, lookahead: c.e.cfg.Lookahead}
	for name, p := range c.peers {
		pl.addrs[name] = p.addr
	}
	var errs query.Errors
	explicit := false
	for i := range spec.Pipeline {
		op := &spec.Pipeline[i]
		nodes := make([]string, spec.Parallelism)
		field := fmt.Sprintf("pipeline[%d].nodes", i)
		for _, n := range op.Nodes {
			explicit = true
			switch {
			case !slices.Contains(known, n):
				errs = append(errs, &query.Error{File: spec.File, Pos: op.NodesPos, Field: field, Msg: fmt.Sprintf("node %q is not in the cluster (nodes: %s)", n, strings.Join(sorted(known), ", "))})
			case !c.isUp(n):
				errs = append(errs, &query.Error{File: spec.File, Pos: op.NodesPos, Field: field, Msg: fmt.Sprintf("node %q is not reachable now (up: %s)", n, strings.Join(up, ", "))})
			}
		}
		for j := range nodes {
			if len(op.Nodes) > 0 {
				nodes[j] = op.Nodes[j%len(op.Nodes)]
			} else {
				nodes[j] = up[(i+j)%len(up)]
			}
		}
		pl.nodes = append(pl.nodes, nodes)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrCluster, errs)
	}
	pl.nodes = append(pl.nodes, []string{c.cfg.Name}) // the sink
	for _, st := range pl.nodes {
		for _, n := range st {
			if n != c.cfg.Name && !slices.Contains(pl.others, n) {
				pl.others = append(pl.others, n)
			}
		}
	}
	sort.Strings(pl.others)
	if len(pl.others) == 0 {
		return nil, nil
	}
	if spec.Text == nil {
		if explicit {
			return nil, fmt.Errorf("%w: query %s places steps on other nodes, but a spec built in Go cannot be shipped to them (submit its YAML or JSON text)", ErrCluster, spec.Name)
		}
		return nil, nil
	}
	return pl, nil
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// deploy places the query's parts on the other nodes; on any refusal it
// takes back the parts it placed.
func (c *cluster) deploy(q *Query) error {
	d := &actorspb.Deploy{QueryId: q.id, Coordinator: c.cfg.Name, Spec: q.spec.Text, SpecFile: q.spec.File, Lookahead: c.e.cfg.Lookahead, Addresses: q.pl.addrs, Scheduler: c.e.cfg.Scheduler}
	for _, st := range q.pl.nodes {
		d.Stages = append(d.Stages, &actorspb.StagePlacement{Nodes: st})
	}
	type result struct {
		node string
		err  error
	}
	results := make(chan result, len(q.pl.others))
	for _, node := range q.pl.others {
		go func() {
			f := c.e.sys.Root.RequestFuture(actor.NewPID(q.pl.addrs[node], clusterActor), d, c.cfg.DeployTimeout)
			res, err := f.Result()
			switch r := res.(type) {
			case *actorspb.DeployResult:
				if r.GetError() != "" {
					err = errors.New(r.GetError())
				}
			default:
				if err == nil {
					err = fmt.Errorf("unexpected answer %T", res)
				}
			}
			results <- result{node, err}
		}()
	}
	var errs []error
	for range q.pl.others {
		r := <-results
		if r.err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", r.node, r.err))
		}
	}
	if len(errs) > 0 {
		for _, node := range q.pl.others {
			c.e.sys.Root.Send(actor.NewPID(q.pl.addrs[node], clusterActor), &actorspb.Undeploy{QueryId: q.id, Reason: "the query could not be placed"})
		}
		return fmt.Errorf("%w: placing query %s: %w", ErrCluster, q.spec.Name, errors.Join(errs...))
	}
	return nil
}

// onDeploy builds and registers this node's part of a query placed by a
// peer.
func (c *cluster) onDeploy(d *actorspb.Deploy) error {
	if d.GetScheduler() != c.e.cfg.Scheduler {
		return fmt.Errorf("the coordinator %s schedules with %q and this node with %q: the keys its messages carry cannot be ordered against this node's (run every node with the same --scheduler)",
			d.GetCoordinator(), d.GetScheduler(), c.e.cfg.Scheduler)
	}
	spec, pl, err := placementOf(d)
	if err != nil {
		return err
	}
	if pl.addrs[c.cfg.Name] != c.addr {
		return fmt.Errorf("the coordinator knows this node (%s) as %q, but it listens on %q", c.cfg.Name, pl.addrs[c.cfg.Name], c.addr)
	}
	for _, n := range append([]string{pl.coordinator}, pl.others...) {
		if n == c.cfg.Name {
			continue
		}
		if p := c.peers[n]; p == nil || p.addr != pl.addrs[n] {
			known := "is not a peer of this node"
			if p != nil {
				known = fmt.Sprintf("is %q to this node", p.addr)
			}
			return fmt.Errorf("the coordinator knows node %s as %q, but it %s", n, pl.addrs[n], known)
		}
	}
	return c.e.submitPart(d.GetQueryId(), spec, pl)
}

// placementOf reads a Deploy from a peer: the spec (parsed and validated
// as any submitted spec) and where each instance runs, checked against it.
func placementOf(d *actorspb.Deploy) (*query.Spec, *placement, error) {
	spec, err := query.Parse(d.GetSpecFile(), d.GetSpec())
	if err != nil {
		return nil, nil, fmt.Errorf("the spec does not parse here: %w", err)
	}
	pl := &placement{coordinator: d.GetCoordinator(), addrs: d.GetAddresses(), lookahead: d.GetLookahead()}
	if pl.addrs[pl.coordinator] == "" {
		return nil, nil, fmt.Errorf("the coordinator %q has no address", pl.coordinator)
	}
	for _, st := range d.GetStages() {
		pl.nodes = append(pl.nodes, st.GetNodes())
	}
	if len(pl.nodes) != len(spec.Pipeline)+1 {
		return nil, nil, fmt.Errorf("placement of %d stages for %d steps and a sink", len(pl.nodes), len(spec.Pipeline))
	}
	for i, st := range pl.nodes {
		want := spec.Parallelism
		if i == len(pl.nodes)-1 {
			want = 1
		}
		if len(st) != want {
			return nil, nil, fmt.Errorf("stage %d: placement of %d instances, want %d", i, len(st), want)
		}
		for _, n := range st {
			if pl.addrs[n] == "" {
				return nil, nil, fmt.Errorf("stage %d: node %q has no address", i, n)
			}
			if n != pl.coordinator && !slices.Contains(pl.others, n) {
				pl.others = append(pl.others, n)
			}
		}
	}
	return spec, pl, nil
}

// send is the remote transport: a batch to an instance on another node,
// as an envelope.
func (c *cluster) send(q *Query, sender string, to *instance, b *batch) {
	env, err := c.envelopeOf(b, to.id, sender)
	if err != nil {
		q.fail("%s → %s: %v", sender, to.id, err)
		return
	}
	q.inflight.Add(1)
	c.e.sys.Root.Send(to.pid, env)
}
