package actors

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/actors/actorspb"
	"github.com/cameo-go/cameo/priority"
)

// The real dispatcher and priority.Sim are two shells over the same run
// queue, actor queues and turn rules: for the same messages, queued before
// one worker starts, they run them in the same order. Global priorities are
// distinct so that no tie depends on when each actor first became runnable.
func TestDispatcherMatchesSimulator(t *testing.T) {
	for seed := uint64(0); seed < 40; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		turn := priority.TurnConfig{MaxMessages: r.IntN(4), YieldAtBoundary: r.IntN(2) == 0}
		const actors, msgs = 4, 14
		type m struct {
			actor         int
			global, local int64
		}
		perm := r.Perm(msgs)
		in := make([]m, msgs)
		for i := range in {
			in[i] = m{actor: r.IntN(actors), global: int64(perm[i]), local: r.Int64N(3)}
		}

		// The simulator's order.
		sim, err := priority.NewSim(priority.SimConfig{Workers: 1, Turn: turn})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]priority.ActorID, actors)
		for i := range ids {
			ids[i] = sim.AddActor(fmt.Sprint(i))
		}
		for _, x := range in {
			sim.Send(0, ids[x.actor], priority.SimMessage{
				Name: fmt.Sprintf("%d:%d", x.actor, x.global),
				Cost: 1,
				Ctx:  priority.PriorityContext{Global: x.global, Local: x.local},
			})
		}
		var want []string
		for _, res := range sim.Run() {
			want = append(want, res.Name)
		}

		// The dispatcher's order.
		f := newFixture(t, WithTurn(turn))
		l := newLog(msgs)
		pids := make([]*actor.PID, actors)
		for i := range pids {
			pids[i] = f.spawn(func() actor.Actor {
				return actor.ReceiveFunc(func(c actor.Context) {
					if e, ok := c.Message().(*actorspb.Envelope); ok {
						l.add(fmt.Sprintf("%d:%d", i, e.GetContext().GetGlobalPriority()))
					}
				})
			})
		}
		for _, x := range in {
			f.sys.Root.Send(pids[x.actor], msg("q", x.global, x.local))
		}
		close(f.g.release)
		wait(t, l.done, "all messages")
		if got := l.String(); got != strings.Join(want, " ") {
			t.Fatalf("seed %d (turn %+v):\ndispatcher %s\nsimulator  %s", seed, turn, got, strings.Join(want, " "))
		}
	}
}
