package runtime

import (
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Membership and failure detection run on hashicorp/memberlist (SWIM with
// Lifeguard's refinements, as Consul and Nomad use): each node listens on
// its gossip address (UDP and TCP), probes its peers in turn, asks others
// to probe one that does not answer, and declares it dead once it stayed
// suspect for the peer timeout. A node's memberlist name is its cluster
// name and its metadata its remote address, which must match what this
// node was told (ClusterConfig.Peers), so a stranger, or a peer started at
// another address, is not taken for a peer.
//
// The membership is still what each node is configured with: memberlist
// says which of those peers are alive; it does not add nodes to the
// cluster. A node that cannot reach a peer keeps trying to join it.

// gossipLabel keeps cameo's gossip apart from any other memberlist on the
// same network.
const gossipLabel = "cameo-cluster"

// defaultGossip is the gossip address of a node whose remote layer is at
// remote: the same host, the next port (0 stays 0: a free port).
func defaultGossip(remote string) string {
	host, portS, err := net.SplitHostPort(remote)
	if err != nil {
		return ""
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port >= 65535 {
		return ""
	}
	if port == 0 {
		return net.JoinHostPort(host, "0")
	}
	return net.JoinHostPort(host, strconv.Itoa(port+1))
}

// gossipTimings derives memberlist's timings from the cluster's heartbeat
// and peer timeout: a peer is probed every heartbeat, or every fifth of
// the peer timeout if that is longer; a probe waits half of that (a probe
// timeout of a few ms declared live peers suspect on a loaded machine);
// and a peer that did not answer stays suspect for the peer timeout before
// it is declared dead. detection is how long after its
// last heartbeat a silent peer of a cluster of n nodes should be declared
// down (later when the machine is loaded: it is not a hard bound).
func gossipTimings(mc *memberlist.Config, heartbeat, peerTimeout time.Duration, n int) (detection time.Duration) {
	mc.ProbeInterval = max(heartbeat, peerTimeout/5)
	mc.ProbeTimeout = mc.ProbeInterval / 2
	mc.GossipInterval = heartbeat
	// suspicion timeout = SuspicionMult × max(1, log10 n) × ProbeInterval
	mc.SuspicionMult = max(1, int(math.Ceil(float64(peerTimeout)/float64(mc.ProbeInterval))))
	// Lifeguard lengthens the suspicion up to this multiple until other
	// nodes confirm it; with few nodes there is no one to confirm, so it
	// would always wait the longest. The peer timeout is the bound.
	mc.SuspicionMaxTimeoutMult = 1
	mc.PushPullInterval = max(10*peerTimeout, 5*time.Second)
	mc.TCPTimeout = min(time.Second, peerTimeout)
	mc.DeadNodeReclaimTime = peerTimeout // a restarted peer may come back at another port
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	suspicion := time.Duration(float64(mc.SuspicionMult) * scale * float64(mc.ProbeInterval))
	// Counted from the peer's last answered heartbeat: up to a heartbeat
	// until it is silent, up to n-1 probe rounds until its turn, the
	// failed round, then the suspicion.
	return max(heartbeat+time.Duration(max(1, n-1))*mc.ProbeInterval+mc.ProbeInterval+suspicion, peerTimeout/2)
}

// startGossip starts this node's memberlist and the goroutine that joins
// the peers it does not see.
func (c *cluster) startGossip() error {
	host, portS, _ := net.SplitHostPort(c.cfg.Gossip)
	port, _ := strconv.Atoi(portS)
	mc := memberlist.DefaultLocalConfig()
	mc.Name = c.cfg.Name
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = host, port
	mc.Label = gossipLabel
	mc.Events = gossipEvents{c}
	mc.Delegate = gossipMeta{c}
	mc.Logger = log.New(io.Discard, "", 0)
	c.detection = gossipTimings(mc, c.cfg.Heartbeat, c.cfg.PeerTimeout, len(c.peers)+1)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("%w: cluster: membership on %s: %w", ErrBadConfig, c.cfg.Gossip, err)
	}
	c.ml = ml
	ln := ml.LocalNode()
	c.gossip = net.JoinHostPort(ln.Addr.String(), strconv.Itoa(int(ln.Port)))
	c.wg.Add(1)
	go c.joinPeers(max(5*c.cfg.Heartbeat, 250*time.Millisecond))
	return nil
}

// stopGossip tells the peers this node leaves (they fail the queries that
// use it at once rather than after the peer timeout), then stops.
func (c *cluster) stopGossip() {
	if c.ml == nil {
		return
	}
	_ = c.ml.Leave(min(c.cfg.PeerTimeout, time.Second))
	_ = c.ml.Shutdown()
}

// joinPeers joins, every period, the configured peers memberlist does not
// have alive: at start (they may start later), and after one came back.
func (c *cluster) joinPeers(period time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		var missing []string
		alive := map[string]bool{}
		for _, m := range c.ml.Members() {
			alive[m.Name] = true
		}
		for _, name := range c.names {
			if !alive[name] {
				missing = append(missing, c.peerGossip[name])
			}
		}
		if len(missing) > 0 {
			_, _ = c.ml.Join(missing) // who answers is known by NotifyJoin; the rest are tried again
		}
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

// gossipMeta gives memberlist this node's remote address as its metadata.
type gossipMeta struct{ c *cluster }

func (g gossipMeta) NodeMeta(limit int) []byte {
	if len(g.c.addr) > limit {
		return nil
	}
	return []byte(g.c.addr)
}
func (gossipMeta) NotifyMsg([]byte)                           {}
func (gossipMeta) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (gossipMeta) LocalState(join bool) []byte                { return nil }
func (gossipMeta) MergeRemoteState(buf []byte, join bool)     {}

// gossipEvents turns memberlist's joins and leaves into peers up and down.
// memberlist calls it from one goroutine at a time.
type gossipEvents struct{ c *cluster }

func (g gossipEvents) NotifyJoin(n *memberlist.Node)   { g.c.memberUp(n) }
func (g gossipEvents) NotifyUpdate(n *memberlist.Node) { g.c.memberUp(n) }
func (g gossipEvents) NotifyLeave(n *memberlist.Node) {
	if n.State == memberlist.StateLeft {
		g.c.memberDown(n.Name, "left the cluster (it is stopping)")
		return
	}
	g.c.memberDead(n.Name)
}

// deadWhy is the reason of a peer the membership protocol found dead.
const deadWhy = "failed: it did not answer the membership protocol's probes, direct or through other nodes, nor heartbeats"

// memberDead takes the membership protocol's verdict that a peer is dead
// only when the data path agrees: a peer that answered a heartbeat within
// half the peer timeout stays up (a probe lost on a loaded machine is not
// a dead node), and is declared down by the heartbeats if it then falls
// silent while the protocol still has it dead.
func (c *cluster) memberDead(name string) {
	p := c.peers[name]
	if p == nil {
		return
	}
	p.mu.Lock()
	p.gossipDead = true
	fresh := !p.seen.IsZero() && time.Since(p.seen) < c.cfg.PeerTimeout/2
	p.mu.Unlock()
	if fresh {
		c.gossipDisagreed.Add(1)
		c.e.cfg.Logger.Warn("cluster: the membership protocol has a peer dead that answers heartbeats; kept up", "peer", name)
		return
	}
	c.memberDown(name, deadWhy)
}

// memberUp marks a peer up when memberlist has it alive at the remote
// address this node knows it by.
func (c *cluster) memberUp(n *memberlist.Node) {
	if n.Name == c.cfg.Name {
		return
	}
	p := c.peers[n.Name]
	if p == nil {
		c.unknown.Add(1)
		c.e.cfg.Logger.Warn("cluster: a node that is not a peer joined the gossip", "node", n.Name, "gossip", n.Address())
		return
	}
	if got := string(n.Meta); got != p.addr {
		c.e.cfg.Logger.Warn("cluster: peer gossips another remote address than configured; not taken as up", "peer", n.Name, "configured", p.addr, "gossiped", got)
		c.memberDown(n.Name, fmt.Sprintf("gossips remote address %q, not the configured %q", got, p.addr))
		return
	}
	p.mu.Lock()
	was := p.up
	p.up, p.reason, p.gossipDead = true, "", false
	p.mu.Unlock()
	if !was {
		c.e.cfg.Logger.Info("peer up", "peer", p.name, "address", p.addr, "gossip", n.Address())
	}
}

// memberDown marks a peer down and fails the queries that use it.
func (c *cluster) memberDown(name, why string) {
	p := c.peers[name]
	if p == nil {
		return
	}
	p.mu.Lock()
	if !p.up {
		p.mu.Unlock()
		return
	}
	p.up, p.downs = false, p.downs+1
	after := "before it answered any heartbeat"
	if !p.seen.IsZero() {
		p.detected = time.Since(p.seen)
		after = fmt.Sprintf("%v after its last heartbeat", p.detected.Round(time.Millisecond))
	}
	p.reason = fmt.Sprintf("node %s (%s) %s; declared down %s (expected by the configuration: %v)", p.name, p.addr, why, after, c.detection.Round(time.Millisecond))
	reason := p.reason
	p.mu.Unlock()
	c.e.cfg.Logger.Error("peer down", "peer", name, "reason", reason)
	c.peerDown(name, reason)
}

// FreeNodeAddress returns a remote address on host whose port is free
// right now, and whose next port (the default gossip address) is free for
// UDP and TCP too: for tests and scripts that start nodes on free ports.
// The port is below Linux's ephemeral range (32768 up), where outgoing
// connections take their local ports: a node restarted on the same ports
// finds them free again.
func FreeNodeAddress(host string) (string, error) {
	for range 200 {
		port := 20000 + rand.IntN(12000)
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		if portFree(addr) && portFree(defaultGossip(addr)) {
			return addr, nil
		}
	}
	return "", fmt.Errorf("no free port with a free next port on %s after 200 tries", host)
}

// portFree reports whether addr can be listened on now, TCP and UDP.
func portFree(addr string) bool {
	t, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	t.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	return true
}
