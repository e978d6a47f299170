package runtime

import (
	"fmt"
	"sort"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/actors/actorspb"
	"github.com/cameo-go/cameo/query"
)

// envelopeOf turns a batch bound for a remote instance into its wire form:
// the full scheduling context, the events with their Go field types, and
// the edge's ordering marks.
func (c *cluster) envelopeOf(b *batch, receiver, sender string) (*actorspb.Envelope, error) {
	env := &actorspb.Envelope{
		Context:     actors.ToProto(b.ctx),
		WatermarkNs: b.wm,
		Sender:      sender,
		Input:       uint32(b.input),
		Seq:         b.seq,
		Idle:        b.idle,
		Closed:      b.closed,
		SentNs:      b.sent,
		SenderNode:  c.cfg.Name,
		Receiver:    receiver,
	}
	if len(b.events) > 0 {
		env.Events = make([]*actorspb.Event, len(b.events))
		for i := range b.events {
			ev, err := eventToProto(&b.events[i])
			if err != nil {
				return nil, err
			}
			env.Events[i] = ev
		}
	}
	return env, nil
}

// batchOf is the inverse of envelopeOf.
func batchOf(env *actorspb.Envelope) (*batch, error) {
	b := &batch{
		ctx:    actors.FromProto(env.GetContext()),
		input:  int(env.GetInput()),
		seq:    env.GetSeq(),
		wm:     env.GetWatermarkNs(),
		idle:   env.GetIdle(),
		closed: env.GetClosed(),
		sent:   env.GetSentNs(),
	}
	if n := len(env.GetEvents()); n > 0 {
		b.events = make([]query.Event, n)
		for i, pe := range env.GetEvents() {
			if err := eventFromProto(pe, &b.events[i]); err != nil {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
		}
	}
	return b, nil
}

func eventToProto(ev *query.Event) (*actorspb.Event, error) {
	pe := &actorspb.Event{ArrivalNs: ev.Arrival, EventTimeNs: ev.EventTime, WatermarkNs: ev.Watermark, Key: ev.Key}
	if ev.Fields.Len() > 0 {
		pe.Fields = make(map[string]*actorspb.Value, ev.Fields.Len())
		for k, v := range ev.Fields.All() {
			pv, err := valueToProto(v)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", k, err)
			}
			pe.Fields[k] = pv
		}
	}
	return pe, nil
}

func eventFromProto(pe *actorspb.Event, ev *query.Event) error {
	*ev = query.Event{Arrival: pe.GetArrivalNs(), EventTime: pe.GetEventTimeNs(), Watermark: pe.GetWatermarkNs(), Key: pe.GetKey()}
	if len(pe.GetFields()) > 0 {
		m := make(map[string]any, len(pe.GetFields()))
		for k, pv := range pe.GetFields() {
			v, err := valueFromProto(pv)
			if err != nil {
				return fmt.Errorf("field %q: %w", k, err)
			}
			m[k] = v
		}
		ev.Fields = query.MakeFields(m)
	}
	return nil
}

// valueToProto converts the field types events carry: those of JSON input
// (int, float64, string, bool, nil, []any, map[string]any), of generators
// and expressions (int64 too). Any other Go type cannot cross nodes.
func valueToProto(v any) (*actorspb.Value, error) {
	switch x := v.(type) {
	case nil:
		return &actorspb.Value{Kind: &actorspb.Value_Null{Null: true}}, nil
	case int:
		return &actorspb.Value{Kind: &actorspb.Value_Int{Int: int64(x)}}, nil
	case int64:
		return &actorspb.Value{Kind: &actorspb.Value_Int64{Int64: x}}, nil
	case float64:
		return &actorspb.Value{Kind: &actorspb.Value_Float{Float: x}}, nil
	case string:
		return &actorspb.Value{Kind: &actorspb.Value_Str{Str: x}}, nil
	case bool:
		return &actorspb.Value{Kind: &actorspb.Value_Bool{Bool: x}}, nil
	case []any:
		l := &actorspb.List{Items: make([]*actorspb.Value, len(x))}
		for i, e := range x {
			pv, err := valueToProto(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l.Items[i] = pv
		}
		return &actorspb.Value{Kind: &actorspb.Value_List{List: l}}, nil
	case map[string]any:
		m := &actorspb.Map{Fields: make(map[string]*actorspb.Value, len(x))}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			pv, err := valueToProto(x[k])
			if err != nil {
				return nil, fmt.Errorf(".%s: %w", k, err)
			}
			m.Fields[k] = pv
		}
		return &actorspb.Value{Kind: &actorspb.Value_Map{Map: m}}, nil
	}
	return nil, fmt.Errorf("a value of Go type %T cannot cross nodes (int, int64, float64, string, bool, nil, lists and maps of them can)", v)
}

func valueFromProto(pv *actorspb.Value) (any, error) {
	switch k := pv.GetKind().(type) {
	case *actorspb.Value_Null:
		return nil, nil
	case *actorspb.Value_Int:
		return int(k.Int), nil
	case *actorspb.Value_Int64:
		return k.Int64, nil
	case *actorspb.Value_Float:
		return k.Float, nil
	case *actorspb.Value_Str:
		return k.Str, nil
	case *actorspb.Value_Bool:
		return k.Bool, nil
	case *actorspb.Value_List:
		out := make([]any, len(k.List.GetItems()))
		for i, e := range k.List.GetItems() {
			v, err := valueFromProto(e)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case *actorspb.Value_Map:
		out := make(map[string]any, len(k.Map.GetFields()))
		for name, e := range k.Map.GetFields() {
			v, err := valueFromProto(e)
			if err != nil {
				return nil, err
			}
			out[name] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("a value with no kind")
}
