//go:build !race

package runtime

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/actors/actorspb"
	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime/clusterpb"
)

// benchEnvelope is a realistic message: 16 events with three fields and a
// full scheduling context.
func benchEnvelope(b *testing.B) *actorspb.Envelope {
	events := make([]query.Event, 16)
	for i := range events {
		events[i] = query.Event{Arrival: int64(i), EventTime: int64(i), Watermark: query.NoWatermark, Key: "k" + strconv.Itoa(i),
			Fields: query.MakeFields(map[string]any{"level": "error", "latency_ms": i * 7, "ratio": 0.5})}
	}
	c := &cluster{cfg: ClusterConfig{Name: "a"}}
	env, err := c.envelopeOf(&batch{ctx: priority.PriorityContext{QueryID: "a.q1", Tenant: "t", LatencyTarget: 5e7, Global: 1e9, Local: 1e9}, events: events, wm: 3}, "a.q1/1/0", "a.q1/0/0")
	if err != nil {
		b.Fatal(err)
	}
	return env
}

var benchReply = &clusterpb.EdgeReply{QueryId: "a.q1", Receiver: "a.q1/1/0", Reply: &actorspb.Reply{From: "a.q1/1/0", CostNs: 1000, PathCostNs: 2000}}

// remotePair starts two actor systems with remotes on loopback, set up
// as a node's (remoteOptions): an echo actor on the second answers every
// Envelope with an EdgeReply to an actor on the first, which signals got.
// With inline both actors run on the connection's reader goroutine, as
// the node's wire actor does and as the raw gRPC handler does; without,
// each message is handed to a goroutine of protoactor's default
// dispatcher first.
// With stock, the remote layer keeps protoactor's own settings instead.
func remotePair(b *testing.B, inline, stock bool) (send func(any), got chan struct{}, stop func()) {
	ropts := remoteOptions()
	if stock {
		ropts = []remote.ConfigOption{remote.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials()))}
	}
	newSys := func() (*actor.ActorSystem, *remote.Remote) {
		sys := actors.NewActorSystem(nil)
		r := remote.NewRemote(sys, remote.Configure("127.0.0.1", 0, ropts...))
		r.Start()
		return sys, r
	}
	var opts []actor.PropsOption
	if inline {
		opts = append(opts, actor.WithDispatcher(actor.NewSynchronizedDispatcher(300)))
	}
	sa, ra := newSys()
	sb, rb := newSys()
	got = make(chan struct{}, 1<<16)
	sink, err := sa.Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*clusterpb.EdgeReply); ok {
			got <- struct{}{}
		}
	}, opts...), "sink")
	if err != nil {
		b.Fatal(err)
	}
	echo, err := sb.Root.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*actorspb.Envelope); ok {
			c.Send(sink, benchReply)
		}
	}, opts...), "echo")
	if err != nil {
		b.Fatal(err)
	}
	target := actor.NewPID(sb.ProcessRegistry.Address, echo.Id)
	return func(m any) { sa.Root.Send(target, m) }, got, func() {
		ra.Shutdown(false)
		rb.Shutdown(false)
		sa.Shutdown()
		sb.Shutdown()
	}
}

// hopService is the raw gRPC baseline: a bidirectional stream whose server
// answers every Envelope with an EdgeReply, with the same protobuf codec
// and the same flow-control windows as a node's remote layer.
var hopService = grpc.ServiceDesc{
	ServiceName: "cameo.bench.Hop",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName: "Hop", ServerStreams: true, ClientStreams: true,
		Handler: func(_ any, s grpc.ServerStream) error {
			for {
				env := new(actorspb.Envelope)
				if err := s.RecvMsg(env); err != nil {
					if err == io.EOF {
						return nil
					}
					return err
				}
				if err := s.SendMsg(benchReply); err != nil {
					return err
				}
			}
		},
	}},
}

// grpcPair opens one such stream; a goroutine reads the replies and
// signals got, as the sink actor does on the protoactor side.
func grpcPair(b *testing.B) (send func(any), got chan struct{}, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(grpc.InitialWindowSize(remoteWindow), grpc.InitialConnWindowSize(remoteWindow))
	srv.RegisterService(&hopService, struct{}{})
	go srv.Serve(ln) //nolint:errcheck // ends with Stop
	conn, err := grpc.Dial(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(remoteWindow), grpc.WithInitialConnWindowSize(remoteWindow))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := conn.NewStream(ctx, &hopService.Streams[0], "/cameo.bench.Hop/Hop")
	if err != nil {
		b.Fatal(err)
	}
	got = make(chan struct{}, 1<<16)
	go func() {
		for {
			if err := st.RecvMsg(new(clusterpb.EdgeReply)); err != nil {
				return
			}
			got <- struct{}{}
		}
	}()
	send = func(m any) {
		if err := st.SendMsg(m); err != nil {
			panic(err)
		}
	}
	return send, got, func() {
		cancel()
		conn.Close()
		srv.Stop()
	}
}

// BenchmarkRemoteHop: one envelope (16 events) to an actor on another
// actor system over protoactor-go remote and its EdgeReply back, against
// the same exchange on a raw gRPC stream with the same codec. roundtrip
// waits for each reply (latency); pipelined64 keeps up to 64 in flight
// (throughput). protoactor is the transport as a node uses it, receivers
// inline; protoactor-goroutine adds protoactor's default hand-off to a
// goroutine at each receiver; protoactor-stock is that with protoactor's
// own transport settings too (what remoteOptions changes).
func BenchmarkRemoteHop(b *testing.B) {
	env := benchEnvelope(b)
	pairs := []struct {
		name string
		pair func(*testing.B) (func(any), chan struct{}, func())
	}{
		{"protoactor", func(b *testing.B) (func(any), chan struct{}, func()) { return remotePair(b, true, false) }},
		{"protoactor-goroutine", func(b *testing.B) (func(any), chan struct{}, func()) { return remotePair(b, false, false) }},
		{"protoactor-stock", func(b *testing.B) (func(any), chan struct{}, func()) { return remotePair(b, false, true) }},
		{"grpc", grpcPair},
	}
	for _, window := range []int{1, 64} {
		name := "roundtrip"
		if window > 1 {
			name = fmt.Sprintf("pipelined%d", window)
		}
		for _, p := range pairs {
			b.Run(name+"/"+p.name, func(b *testing.B) {
				send, got, stop := p.pair(b)
				defer stop()
				for range 100 { // connect and warm up
					send(env)
					<-got
				}
				b.ReportAllocs()
				b.ResetTimer()
				inflight := 0
				for range b.N {
					if inflight == window {
						<-got
						inflight--
					}
					send(env)
					inflight++
				}
				for ; inflight > 0; inflight-- {
					<-got
				}
			})
		}
	}
}
