package runtime

import (
	"math"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/runtime/clusterpb"
)

// Membership: the peers a node knows; which are up, from memberlist's
// failure detection (gossip.go); heartbeats over the data path that carry
// backlogs and measure each peer's clock (NTP-style offsets and round
// trips); and what a node does when one goes down: it fails the queries
// that use it.

// peer is what a node knows of another.
type peer struct {
	name, addr string
	pid        *actor.PID

	mu     sync.Mutex
	up     bool
	seen   time.Time // the last Pong
	downs  int
	reason string
	// detected is how long after its last Pong the last down was declared
	// (the failure detector's delay as this node saw it).
	detected time.Duration
	// gossipDead: the membership protocol has it dead while it was kept
	// up for answering heartbeats (cluster.memberDead).
	gossipDead bool
	samples    []clockSample // the last 16 heartbeat exchanges
	offset     int64         // its clock minus ours, from the sample with the least RTT
	rtt        int64         // that sample's round trip
	lastRTT    int64
	hopRTT     int64 // moving average of envelope round trips minus the receiver's work
}
type clockSample struct{ offset, rtt int64 }

// clock returns the peer's clock offset (its clock minus ours) and half
// its least heartbeat round trip.
func (p *peer) clock() (offset, oneWay int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.offset, p.rtt / 2
}

// heartbeats sends each peer that is up, every Heartbeat, a Ping with the
// backlogs of the query parts this node runs for it; the Pong measures the
// data path's round trip and the peer's clock. Whether a peer is up is
// memberlist's to say (gossip.go), not the heartbeats'.
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
		for _, name := range c.names {
			if !c.isUp(name) {
				continue
			}
			p := c.peers[name]
			p.mu.Lock()
			silent := p.gossipDead && time.Since(p.seen) >= c.cfg.PeerTimeout/2
			p.mu.Unlock()
			if silent {
				c.memberDown(name, deadWhy)
				continue
			}
			c.e.sys.Root.Send(p.pid, &clusterpb.Ping{From: c.cfg.Name, SentNs: c.e.cfg.Clock.Now(), Backlog: backlog[name]})
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
func (c *cluster) onPing(m *clusterpb.Ping) {
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
	c.e.sys.Root.Send(p.pid, &clusterpb.Pong{From: c.cfg.Name, PingSentNs: m.GetSentNs(), ReceivedNs: recv, SentNs: c.e.cfg.Clock.Now()})
}
func (c *cluster) onPong(m *clusterpb.Pong) {
	p := c.peers[m.GetFrom()]
	if p == nil {
		c.unknown.Add(1)
		return
	}
	s := clockSampleOf(m.GetPingSentNs(), m.GetReceivedNs(), m.GetSentNs(), c.e.cfg.Clock.Now())
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = time.Now()
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

// Info returns the node's view of the cluster.
func (c *cluster) info() ClusterInfo {
	now := time.Now()
	ci := ClusterInfo{Name: c.cfg.Name, Address: c.addr, Gossip: c.gossip, DetectionMs: float64(c.detection.Microseconds()) / 1000, UnknownMessages: c.unknown.Load(), BadStreams: c.badStreams.Load(), StrayEnvelopes: c.badEnv.Load(), GossipDisagreed: c.gossipDisagreed.Load()}
	for _, name := range c.names {
		p := c.peers[name]
		p.mu.Lock()
		pi := PeerInfo{Name: p.name, Address: p.addr, Up: p.up, LastSeenMs: -1, ClockOffsetMs: nsToMs(p.offset), RTTMs: nsToMs(p.rtt),
			LastRTTMs: nsToMs(p.lastRTT), HopRTTMs: nsToMs(p.hopRTT), Downs: p.downs, Reason: p.reason,
			Gossip: c.peerGossip[p.name], DetectedAfterMs: float64(p.detected.Microseconds()) / 1000}
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
