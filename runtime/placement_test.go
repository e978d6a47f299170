package runtime

import (
	"errors"
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
		return s
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
