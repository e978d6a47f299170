package actors

import (
	"fmt"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/actors/actorspb"
	"github.com/cameo-go/cameo/priority"
)

// costly is a recorder whose every message takes cost on a manual clock.
type costly struct {
	recorder
	clk  *ManualClock
	cost int64
}

func (c *costly) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*actorspb.Envelope); ok {
		c.clk.Advance(c.cost)
	}
	c.recorder.Receive(ctx)
}

func (f *fixture) spawnIn(g Group, p actor.Producer) *actor.PID {
	f.t.Helper()
	opts, err := f.d.PropsOptionsIn(g)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.sys.Root.Spawn(actor.PropsFromProducer(p, opts...))
}

// A tenant whose keys are all more urgent gets its share of the worker and
// no more: with one worker, 4 ms messages and a 5 ms slack, the two
// tenants alternate two messages at a time. The flat order (every group
// eligible) runs all of greedy's first.
func TestDispatcherSharesBetweenTenants(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shares priority.ShareConfig
		want   string
	}{
		{"shares", priority.ShareConfig{Slack: 5_000_000}, "g-1000 g-999 s100 s101 g-998 g-997 s102 g-996"},
		{"flat", priority.ShareConfig{Slack: 1 << 60}, "g-1000 g-999 g-998 g-997 g-996 s100 s101 s102"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := NewManualClock(1e18)
			f := newFixture(t, WithClock(clk), WithShares(tc.shares))
			l := newLog(8)
			g := f.spawnIn(Group{Tenant: "greedy", Query: "g"}, func() actor.Actor {
				return &costly{recorder: recorder{name: "g", log: l}, clk: clk, cost: 4_000_000}
			})
			s := f.spawnIn(Group{Tenant: "steady", Query: "s"}, func() actor.Actor {
				return &costly{recorder: recorder{name: "s", log: l}, clk: clk, cost: 4_000_000}
			})
			for k := int64(-1000); k <= -996; k++ {
				f.sys.Root.Send(g, msg("g", k, 0))
			}
			for k := int64(100); k <= 102; k++ {
				f.sys.Root.Send(s, msg("s", k, 0))
			}
			close(f.g.release)
			wait(t, l.done, "eight messages")
			if got := l.String(); got != tc.want {
				t.Errorf("order %q, want %q", got, tc.want)
			}
			var served []string
			for _, sh := range f.d.Shares() {
				served = append(served, fmt.Sprintf("%s/%s %d ms", sh.Tenant, sh.Query, sh.ServedNs/1e6))
			}
			t.Logf("served: %v, yields %v", served, f.since().Yields)
		})
	}
}

func TestDispatcherGroupsAreValidated(t *testing.T) {
	if _, err := NewDispatcher(WithTenantWeights(map[string]float64{"a": -1}, 0)); err == nil {
		t.Error("a negative tenant weight was accepted")
	}
	d, err := NewDispatcher(WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop(t.Context())
	if _, err := d.PropsOptionsIn(Group{Tenant: "a", Query: "q", Weight: 1e9}); err == nil {
		t.Error("a query weight of 1e9 was accepted")
	}
	if err := d.SetTenantWeight("b", 0); err == nil {
		t.Error("a zero tenant weight was accepted")
	}
	if err := d.SetTenantWeight("b", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := d.PropsOptionsIn(Group{Tenant: "b", Query: "q"}); err != nil {
		t.Fatal(err)
	}
	sh := d.Shares()
	if len(sh) != 2 || sh[1].Tenant != "b" || sh[1].TenantWeight != 3 {
		t.Errorf("shares %+v", sh)
	}
	d.ReleaseGroup("b", "q")
	if sh := d.Shares(); len(sh) != 1 {
		t.Errorf("after release: %+v", sh)
	}
}
