package runtime

import (
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/runtime/clusterpb"
)

// Deploy: the coordinator asks each node of a placement to run its part
// and waits for every answer; a node builds its part from the same spec
// text and checks the placement against its own view of the cluster.

// deploy places the query's parts on the other nodes; on any refusal it
// takes back the parts it placed.
func (c *cluster) deploy(q *Query) error {
	d := &clusterpb.Deploy{QueryId: q.id, Coordinator: c.cfg.Name, Spec: q.spec.Text, SpecFile: q.spec.File, Lookahead: !c.e.cfg.PaperFrontiers, Addresses: q.pl.addrs, Scheduler: c.e.cfg.Scheduler}
	for _, st := range q.pl.nodes {
		d.Stages = append(d.Stages, &clusterpb.StagePlacement{Nodes: st})
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
			case *clusterpb.DeployResult:
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
			c.e.sys.Root.Send(actor.NewPID(q.pl.addrs[node], clusterActor), &clusterpb.Undeploy{QueryId: q.id, Reason: "the query could not be placed"})
		}
		return fmt.Errorf("%w: placing query %s: %w", ErrCluster, q.spec.Name, errors.Join(errs...))
	}
	return nil
}

// onDeploy builds and registers this node's part of a query placed by a
// peer.
func (c *cluster) onDeploy(d *clusterpb.Deploy) error {
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
