package runtime

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime/clusterpb"
)

// Placement: where each instance of a query runs. placeQuery decides it
// for a query submitted here (pure, from the addresses and the nodes up);
// placementOf reads and checks the placement a coordinator sends.

// placement is where each instance of a query runs.
type placement struct {
	coordinator string            // runs the sources and the sink
	nodes       [][]string        // per stage (steps, then the sink), per instance
	addrs       map[string]string // every node's remote address
	others      []string          // the nodes other than the coordinator that run instances
	lookahead   bool              // the coordinator's frontiers: !Config.PaperFrontiers
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
	addrs := map[string]string{c.cfg.Name: c.addr}
	for name, p := range c.peers {
		addrs[name] = p.addr
	}
	return placeQuery(spec, c.cfg.Name, addrs, c.up(), !c.e.cfg.PaperFrontiers)
}

// placeQuery decides where each instance of a query submitted on node self
// runs, from the cluster's addresses (every node, self included) and the
// nodes up now (sorted): steps with nodes run instance i on Nodes[i mod
// len]; the others are spread, step i's instance j on up[(i+j) mod
// len(up)]; the sink stays on self. nil: everything runs on self. Pure.
func placeQuery(spec *query.Spec, self string, addrs map[string]string, up []string, lookahead bool) (*placement, error) {
	known := sorted(slices.Collect(maps.Keys(addrs)))
	pl := &placement{coordinator: self, addrs: addrs, lookahead: lookahead}
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
				errs = append(errs, &query.Error{File: spec.File, Pos: op.NodesPos, Field: field, Msg: fmt.Sprintf("node %q is not in the cluster (nodes: %s)", n, strings.Join(known, ", "))})
			case !slices.Contains(up, n):
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
	pl.nodes = append(pl.nodes, []string{self}) // the sink
	for _, st := range pl.nodes {
		for _, n := range st {
			if n != self && !slices.Contains(pl.others, n) {
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

// placementOf reads a Deploy from a peer: the spec (parsed and validated
// as any submitted spec) and where each instance runs, checked against it.
func placementOf(d *clusterpb.Deploy) (*query.Plan, *placement, error) {
	plan, err := query.Parse(d.GetSpecFile(), d.GetSpec())
	if err != nil {
		return nil, nil, fmt.Errorf("the spec does not parse here: %w", err)
	}
	spec := plan.Spec()
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
	return plan, pl, nil
}
