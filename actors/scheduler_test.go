package actors

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/cameo-go/cameo/actors/actorspb"
)

// Every scheduler delivers every message to actors of two groups.
func TestSchedulersDeliver(t *testing.T) {
	for _, name := range SchedulerNames() {
		t.Run(name, func(t *testing.T) {
			s, err := NewScheduler(name, WithWorkers(2))
			if err != nil {
				t.Fatal(err)
			}
			if s.Name() != name || s.Policy() == nil {
				t.Fatalf("name %q policy %v", s.Name(), s.Policy())
			}
			sys := NewActorSystem(nil)
			const per = 100
			var wg sync.WaitGroup
			wg.Add(2 * per)
			for _, group := range []string{"q1", "q2"} {
				opts, err := s.PropsOptions(Group{Tenant: "t-" + group, Query: group})
				if err != nil {
					t.Fatal(err)
				}
				pid := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
					if _, ok := c.Message().(*actorspb.Envelope); ok {
						wg.Done()
					}
				}, opts...))
				for i := range per {
					sys.Root.Send(pid, msg(group, int64(i), 0))
				}
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			wait(t, done, "all messages")
			sys.Shutdown()
			if err := s.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := s.Stop(context.Background()); err != nil {
				t.Fatalf("second Stop: %v", err)
			}
		})
	}
}

func TestSlotsGiveEachGroupItsOwnPool(t *testing.T) {
	s, err := NewScheduler(SchedulerSlots, WithWorkers(3))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	for _, g := range []string{"a", "b", "a"} {
		if _, err := s.PropsOptions(Group{Query: g}); err != nil {
			t.Fatal(err)
		}
	}
	ds := s.Dispatchers()
	if len(ds) != 2 {
		t.Fatalf("%d pools for two groups", len(ds))
	}
	for _, d := range ds {
		if c := d.Config(); c.Workers != 3 || c.Order != OrderFIFO {
			t.Errorf("pool config %+v, want 3 FIFO workers", c)
		}
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PropsOptions(Group{Query: "c"}); err == nil {
		t.Error("a stopped slots scheduler made a new pool")
	}
}

func TestUnknownScheduler(t *testing.T) {
	_, err := NewScheduler("round-robin")
	if !errors.Is(err, ErrUnknownScheduler) || !strings.Contains(err.Error(), "valid: cameo, llf, edf, sjf, fifo, fair, protoactor, slots") {
		t.Errorf("err = %v", err)
	}
}

func TestEnvelopeConversions(t *testing.T) {
	c := FromProto(nil)
	if c.QueryID != "" || c.Global != 0 {
		t.Errorf("nil context: %+v", c)
	}
	e := msg("q", 7, 3)
	if got := FromProto(ToProto(FromProto(e.GetContext()))); got.Global != 7 || got.Local != 3 || got.QueryID != "q" {
		t.Errorf("round trip: %+v", got)
	}
	if ContextOf("plain") != nil || ContextOf(&actor.MessageEnvelope{Message: 42}) != nil {
		t.Error("a message without context has one")
	}
	r := ReplyFromProto(ReplyToProto(ReplyFromProto(&actorspb.Reply{From: "d", CostNs: 1, PathCostNs: 2, QueueingNs: 3, NetworkNs: 4})))
	if r.Total() != 10 || r.From != "d" {
		t.Errorf("reply round trip: %+v", r)
	}
}
