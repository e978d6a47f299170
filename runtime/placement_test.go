package runtime

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/cameo-go/cameo/query"
)

// placeQuery is pure: the same spec, addresses and nodes up give the same
// placement, and every refusal names the step, the field and the nodes.
func TestPlaceQuery(t *testing.T) {
	addrs := map[string]string{"a": "127.0.0.1:1", "b": "127.0.0.1:2", "c": "127.0.0.1:3"}
	spec := func(parallelism int, nodes ...string) *query.Spec {
		text := "name: q\nlatency_target: 1s\nparallelism: " + string(rune('0'+parallelism)) + "\nsources: [{name: s, generator: {rate: 10}}]\npipeline:\n  - key_by: key\n"
		if len(nodes) > 0 {
			text += "    nodes: [" + strings.Join(nodes, ", ") + "]\n"
		}
		text += "  - filter: 'true'\n"
		s, err := query.Parse("p.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return s.Spec()
	}
	for _, c := range []struct {
		name   string
		spec   *query.Spec
		up     []string
		stages [][]string // nil: all on a
		others []string
		err    string
	}{
		{name: "alone", spec: spec(2), up: []string{"a"}},
		{name: "spread over the nodes up", spec: spec(2), up: []string{"a", "b", "c"},
			stages: [][]string{{"a", "b"}, {"b", "c"}, {"a"}}, others: []string{"b", "c"}},
		{name: "spread skips a node down", spec: spec(2), up: []string{"a", "c"},
			stages: [][]string{{"a", "c"}, {"c", "a"}, {"a"}}, others: []string{"c"}},
		{name: "explicit, round robin", spec: spec(3, "b", "c"), up: []string{"a", "b", "c"},
			stages: [][]string{{"b", "c", "b"}, {"b", "c", "a"}, {"a"}}, others: []string{"b", "c"}},
		{name: "unknown node", spec: spec(1, "zz"), up: []string{"a", "b"}, err: `p.yaml:7:12: pipeline[0].nodes: node "zz" is not in the cluster (nodes: a, b, c)`},
		{name: "node down", spec: spec(1, "c"), up: []string{"a", "b"}, err: `pipeline[0].nodes: node "c" is not reachable now (up: a, b)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			pl, err := placeQuery(c.spec, "a", addrs, c.up, false)
			switch {
			case c.err != "":
				if !errors.Is(err, ErrCluster) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
			case err != nil:
				t.Fatal(err)
			case c.stages == nil:
				if pl != nil {
					t.Fatalf("placed %+v, want all here", pl.nodes)
				}
			default:
				if pl == nil || !reflect.DeepEqual(pl.nodes, c.stages) || !reflect.DeepEqual(pl.others, c.others) || pl.coordinator != "a" {
					t.Fatalf("placed %+v, want stages %v others %v", pl, c.stages, c.others)
				}
			}
		})
	}
	// A spec built in Go has no text to ship: placed on others explicitly
	// is refused, spread is kept here.
	built := spec(1, "b")
	built.Text = nil
	if _, err := placeQuery(built, "a", addrs, []string{"a", "b"}, false); err == nil || !strings.Contains(err.Error(), "cannot be shipped") {
		t.Fatalf("a built spec placed explicitly: %v", err)
	}
}

// The physical plan from a spec alone: each stage's partitioning, inputs,
// whether its stream is keyed or carries results, its window axis and the
// sources it brings in.
func TestPhysicalPlan(t *testing.T) {
	type row struct {
		kind           query.Kind
		in             partition
		inputs         int
		keyed, results bool
		window         int64 // size; 0: none
		extra          string
	}
	for _, c := range []struct {
		name, pipeline string
		parallelism    int
		want           []row
	}{
		{"one instance", "[{filter: 'true'}, {map: {v: key}}]", 1, []row{
			{query.KindFilter, single, 1, false, false, 0, ""},
			{query.KindMap, forward, 1, false, false, 0, ""},
			{query.KindSink, single, 1, false, false, 0, ""},
		}},
		{"shuffle into a window, results after it", "[{key_by: key}, {window: {sliding: {size: 2s, slide: 1s}}, aggregate: {n: count()}}, {filter: 'n > 1'}]", 3, []row{
			{query.KindKeyBy, roundRobin, 1, false, false, 0, ""},
			{query.KindWindow, hashKey, 3, true, false, 2e9, ""},
			{query.KindFilter, forward, 1, true, true, 0, ""},
			{query.KindSink, single, 3, true, true, 0, ""},
		}},
		{"join and union bring sources in", "[{key_by: key}, {join: {with: o, on: key, window: 1s}}, {union: [u]}]", 2, []row{
			{query.KindKeyBy, roundRobin, 1, false, false, 0, ""},
			{query.KindJoin, hashKey, 2, true, false, 1e9, "o"},
			{query.KindUnion, forward, 1, true, true, 0, "u"},
			{query.KindSink, single, 2, true, true, 0, ""},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sources := "[{name: s, generator: {rate: 10}}]"
			if strings.Contains(c.pipeline, "join") {
				sources = "[{name: s, generator: {rate: 10}}, {name: o, generator: {rate: 10}}, {name: u, generator: {rate: 10}}]"
			}
			spec, err := query.Parse("p.yaml", []byte(fmt.Sprintf("name: q\nlatency_target: 1s\nparallelism: %d\nsources: %s\npipeline: %s\n", c.parallelism, sources, c.pipeline)))
			if err != nil {
				t.Fatal(err)
			}
			var got []row
			for _, sp := range physicalPlan(spec.Spec()) {
				r := row{sp.kind, sp.in, sp.inputs, sp.keyed, sp.results, 0, strings.Join(sp.extra, ",")}
				if sp.window != nil {
					r.window = sp.window.Size
				}
				got = append(got, r)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("plan\n got %v\nwant %v", got, c.want)
			}
		})
	}
}
