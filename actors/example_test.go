package actors_test

import (
	"context"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/actors/actorspb"
	"github.com/cameo-go/cameo/priority"
)

// An operator runs on the shared dispatcher; its sender stamps each batch
// with the query's policy.
func Example() {
	d, err := actors.NewDispatcher(actors.WithWorkers(2))
	if err != nil {
		panic(err)
	}
	defer d.Stop(context.Background())
	sys := actors.NewActorSystem(nil)
	defer sys.Shutdown()

	done := make(chan string)
	op := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if e, ok := c.Message().(*actorspb.Envelope); ok {
			ctx := actors.FromProto(e.GetContext())
			done <- fmt.Sprintf("%s: %d events, latest start %d", ctx.QueryID, len(e.GetEvents()), ctx.Global)
		}
	}, d.PropsOptions()...))

	q := priority.Query{ID: "alerts", Tenant: "ops", LatencyTarget: 50_000_000} // 50 ms
	now := int64(1_000_000_000)
	hop := priority.Hop{Frontier: priority.Stateless{}.Next(priority.Stamp{Arrival: now}), Cost: 200_000}
	ctx := priority.Cameo{}.BuildAtSource(now, q, now, hop)
	sys.Root.Send(op, actors.NewEnvelope(ctx, &actorspb.Event{ArrivalNs: now, Key: "k1"}))
	fmt.Println(<-done)
	// Output: alerts: 1 events, latest start 1049800000
}
