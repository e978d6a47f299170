package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/hashicorp/memberlist"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/actors/actorspb"
	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/runtime/clusterpb"
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
// (gRPC, protobuf). Every node lists the others; which of them are up is
// the membership protocol's to say (hashicorp/memberlist, gossip.go).
type ClusterConfig struct {
	// Name is this node's name (letters, digits, '-' and '_'); specs
	// place operators by it. Required.
	Name string
	// Address is host:port the remote layer listens on. Default
	// DefaultRemote. Port 0 picks a free port (a node alone).
	Address string
	// Gossip is host:port the membership protocol listens on, UDP and
	// TCP. Default: Address's host and the next port (a free port when
	// Address's port is 0).
	Gossip string
	// Peers maps the other nodes' names to their remote addresses.
	Peers map[string]string
	// PeerGossip maps peers' names to their gossip addresses, for those
	// not at the port after their remote address.
	PeerGossip map[string]string
	// Heartbeat is how often the node probes a peer for the membership
	// protocol and pings each peer over the data path (backlogs, clocks).
	// Default 100 ms.
	Heartbeat time.Duration
	// PeerTimeout is how long a peer that stopped answering probes stays
	// suspect before it is declared down, failing the queries that use it.
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
	if c.Gossip == "" {
		c.Gossip = defaultGossip(c.Address)
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
	if err := checkHostPort(c.Gossip); err != nil {
		errs = append(errs, fmt.Errorf("cluster: gossip address (default: the port after the remote address's): %w", err))
	} else if c.Gossip == c.Address && !strings.HasSuffix(c.Address, ":0") {
		errs = append(errs, fmt.Errorf("cluster: gossip address %s is the remote address: give each its own port", c.Gossip))
	}
	// Every node's remote and gossip ports are distinct: the gossip's
	// default (the next port) must not be another node's remote.
	used := map[string]string{}
	claim := func(addr, what string) {
		if addr == "" || strings.HasSuffix(addr, ":0") {
			return
		}
		if other, dup := used[addr]; dup {
			errs = append(errs, fmt.Errorf("cluster: %s and %s are both %s (a gossip address is the remote port + 1 unless given)", other, what, addr))
		}
		used[addr] = what
	}
	claim(c.Address, "this node's remote address")
	claim(c.Gossip, "this node's gossip address")
	for _, name := range sortedNames(c.Peers) {
		claim(c.Peers[name], "peer "+name+"'s remote address")
		g := c.PeerGossip[name]
		if g == "" {
			g = defaultGossip(c.Peers[name])
		}
		claim(g, "peer "+name+"'s gossip address")
	}
	for name, g := range c.PeerGossip {
		if _, ok := c.Peers[name]; !ok {
			errs = append(errs, fmt.Errorf("cluster: gossip address for %q, which is not a peer", name))
		} else if err := checkHostPort(g); err != nil || strings.HasSuffix(g, ":0") {
			errs = append(errs, fmt.Errorf("cluster: peer %s: gossip address %q: want host:port, port not 0", name, g))
		}
	}
	for _, name := range sortedNames(c.Peers) {
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
		} else if _, given := c.PeerGossip[name]; !given && defaultGossip(addr) == "" {
			errs = append(errs, fmt.Errorf("cluster: peer %s: no port after %s for its gossip: give its gossip address", name, addr))
		}
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

// ParsePeers reads the CLI's --peer values: name=host:port (its remote
// address; its gossip at the next port) or name=host:port,gossip=host:port.
func ParsePeers(list []string) (peers, gossip map[string]string, err error) {
	peers, gossip = map[string]string{}, map[string]string{}
	for _, p := range list {
		name, rest, ok := strings.Cut(p, "=")
		addr, g, hasGossip := strings.Cut(rest, ",")
		if !ok || name == "" || addr == "" {
			return nil, nil, fmt.Errorf("peer %q: want name=host:port or name=host:port,gossip=host:port", p)
		}
		if _, dup := peers[name]; dup {
			return nil, nil, fmt.Errorf("peer %q given twice", name)
		}
		peers[name] = addr
		if hasGossip {
			ga, ok := strings.CutPrefix(g, "gossip=")
			if !ok || ga == "" {
				return nil, nil, fmt.Errorf("peer %q: after the remote address, want ,gossip=host:port", p)
			}
			gossip[name] = ga
		}
	}
	return peers, gossip, nil
}

// cluster is a node's remote layer and control actor.
type cluster struct {
	e     *Engine
	cfg   ClusterConfig
	rem   *remote.Remote
	addr  string // the remote layer's address (the port is known after listening)
	peers map[string]*peer
	names []string // peers' names, sorted

	ml         *memberlist.Memberlist
	gossip     string            // this node's gossip address (its port known after listening)
	peerGossip map[string]string // each peer's
	detection  time.Duration     // how long a silent peer takes to be declared down, at most
	// gossipDisagreed counts the times the membership protocol had a peer
	// dead that still answered heartbeats (it was kept up).
	gossipDisagreed atomic.Int64

	unknown    atomic.Int64 // messages of a type the control actor does not handle
	badStreams atomic.Int64 // inbound streams closed on a message that could not be read
	badEnv     atomic.Int64 // envelopes for an instance or query this node does not run

	stop chan struct{}
	wg   sync.WaitGroup
}

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
	c.peerGossip = map[string]string{}
	for name, addr := range cfg.Peers {
		c.peers[name] = &peer{name: name, addr: addr, pid: actor.NewPID(addr, wireActor)}
		c.names = append(c.names, name)
		c.peerGossip[name] = cfg.PeerGossip[name]
		if c.peerGossip[name] == "" {
			c.peerGossip[name] = defaultGossip(addr)
		}
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
	if err := c.startGossip(); err != nil {
		c.rem.Shutdown(false)
		return nil, err
	}
	c.wg.Add(1)
	go c.heartbeats()
	return c, nil
}

// shutdown stops the heartbeats and the remote layer.
func (c *cluster) shutdown() {
	c.stopGossip()
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

// receive is the control actor.
func (c *cluster) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) { // Message unwraps a MessageEnvelope
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
	case *clusterpb.Deploy:
		res := &clusterpb.DeployResult{QueryId: m.GetQueryId(), Node: c.cfg.Name}
		if err := c.onDeploy(m); err != nil {
			res.Error = err.Error()
		}
		ctx.Respond(res)
	case *clusterpb.Undeploy:
		if q, ok := c.e.Query(m.GetQueryId()); ok {
			q.quiet.Store(true)
			if m.GetReason() != "" {
				q.fail("%s", m.GetReason())
			} else {
				q.finish(nil)
			}
		}
	case *clusterpb.PartFailed:
		if q, ok := c.e.Query(m.GetQueryId()); ok {
			q.fail("its part on node %s failed: %s", m.GetNode(), m.GetReason())
		}
	case *clusterpb.DrainPart:
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
	case *clusterpb.Ping:
		c.onPing(m)
	case *clusterpb.Pong:
		c.onPong(m)
	case *clusterpb.EdgeReply:
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

// onReply takes a receiver's costs back to the instance that stands for
// it here, and releases the message from the query's backlog.
func (c *cluster) onReply(m *clusterpb.EdgeReply) {
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
	x.reply.store(rep)
	q.release(1, 0)
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
	c.e.sys.Root.Send(from.pid, &clusterpb.EdgeReply{
		QueryId: x.q.id, Receiver: x.id, Reply: actors.ReplyToProto(rep),
		SentNs: env.GetSentNs(), StartedNs: started, RepliedNs: c.e.cfg.Clock.Now(),
	})
}

// send is the remote transport: a batch to an instance on another node,
// as an envelope.
func (c *cluster) send(q *Query, sender string, to *instance, b *batch) {
	env, err := c.envelopeOf(b, to.id, sender)
	if err != nil {
		q.fail("%s → %s: %v", sender, to.id, err)
		return
	}
	c.e.sys.Root.Send(to.pid, env)
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
