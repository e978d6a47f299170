package runtime

import (
	"math"
	"math/big"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cameo-go/cameo/actors/actorspb"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime/clusterpb"
)

// The decoders of what peers send. Bytes from the network must never
// panic a node: an envelope decodes into a batch or an error, a Deploy into
// a placement checked against its spec or an error, and heartbeat times
// never wrap. The seeds run as ordinary tests; fuzz with
// go test ./runtime -run XXX -fuzz FuzzEnvelope (or FuzzDeploy, FuzzClockSample).

func envelopeSeeds(f *testing.F) {
	evs := []query.Event{
		{Arrival: 1, EventTime: 2, Watermark: query.NoWatermark, Key: "k", Fields: query.MakeFields(map[string]any{"i": 1, "l": int64(2), "f": 1.5, "s": "x", "b": true, "n": nil,
			"list": []any{1, "a", []any{2.5}}, "map": map[string]any{"z": map[string]any{"y": false}}})},
		{Arrival: math.MaxInt64, EventTime: math.MinInt64, Key: ""},
	}
	env := &actorspb.Envelope{Input: 1, Seq: 7, WatermarkNs: math.MinInt64, Idle: true, Closed: true}
	for i := range evs {
		pe, err := eventToProto(&evs[i])
		if err != nil {
			f.Fatal(err)
		}
		env.Events = append(env.Events, pe)
	}
	b, err := proto.Marshal(env)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
}

func FuzzEnvelope(f *testing.F) {
	envelopeSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var env actorspb.Envelope
		if proto.Unmarshal(data, &env) != nil {
			return
		}
		b, err := batchOf(&env)
		if err != nil {
			return
		}
		if len(b.events) != len(env.GetEvents()) {
			t.Fatalf("%d events from %d", len(b.events), len(env.GetEvents()))
		}
		// What was decoded encodes again: a node can forward it.
		for i := range b.events {
			if _, err := eventToProto(&b.events[i]); err != nil {
				t.Fatalf("event %d decoded but does not encode: %v", i, err)
			}
		}
	})
}

func FuzzDeploy(f *testing.F) {
	ok := &clusterpb.Deploy{QueryId: "a.q1", Coordinator: "a", SpecFile: "s.yaml", Scheduler: "cameo",
		Spec:      []byte("name: q\nlatency_target: 1s\nsources: [{name: s, generator: {rate: 10}}]\npipeline: [{filter: 'true'}]\n"),
		Addresses: map[string]string{"a": "127.0.0.1:1", "b": "127.0.0.1:2"},
		Stages:    []*clusterpb.StagePlacement{{Nodes: []string{"b"}}, {Nodes: []string{"a"}}}}
	b, err := proto.Marshal(ok)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	bad := proto.Clone(ok).(*clusterpb.Deploy)
	bad.Stages = []*clusterpb.StagePlacement{{Nodes: []string{"zz"}}}
	b, _ = proto.Marshal(bad)
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var d clusterpb.Deploy
		if proto.Unmarshal(data, &d) != nil {
			return
		}
		plan, pl, err := placementOf(&d)
		if err != nil {
			return
		}
		spec := plan.Spec()
		if len(pl.nodes) != len(spec.Pipeline)+1 || pl.addrs[pl.coordinator] == "" {
			t.Fatalf("accepted a placement of %d stages for %d steps", len(pl.nodes), len(spec.Pipeline))
		}
		for _, st := range pl.nodes {
			for _, n := range st {
				if pl.addrs[n] == "" {
					t.Fatalf("accepted node %q without an address", n)
				}
			}
		}
	})
}

func FuzzClockSample(f *testing.F) {
	f.Add(int64(0), int64(5), int64(6), int64(10))
	f.Add(int64(math.MinInt64), int64(math.MaxInt64), int64(math.MinInt64), int64(math.MaxInt64))
	f.Add(int64(math.MaxInt64), int64(math.MinInt64), int64(math.MaxInt64), int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, t0, t1, t2, t3 int64) {
		s := clockSampleOf(t0, t1, t2, t3)
		if s.rtt < 0 {
			t.Fatalf("negative round trip %d", s.rtt)
		}
		// The offset is the exact one where it fits int64, else saturated
		// on the same side: never wrapped.
		b := func(x int64) *big.Int { return big.NewInt(x) }
		d1, d2 := new(big.Int).Sub(b(t1), b(t0)), new(big.Int).Sub(b(t2), b(t3))
		exact := new(big.Int).Add(d1, d2)
		if exact.Sign() != 0 && s.offset != 0 && (exact.Sign() > 0) != (s.offset > 0) {
			t.Fatalf("offset %d has the wrong sign (exact sum of differences %s)", s.offset, exact)
		}
	})
}
