package experiments

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cameo-go/cameo/query"
)

func TestShapesBuild(t *testing.T) {
	for _, q := range append(append(mix(1, true), stages(0.5)), gaming()...) {
		if _, err := q.Build(1, func([]query.Event) error { return nil }); err != nil {
			t.Errorf("%s: %v", q.Name, err)
		}
	}
	if _, err := (QuerySpec{Name: "x", Tenant: "t", Shape: "spiral", Target: time.Second, Rate: 1}).Build(1, nil); err == nil || !strings.Contains(err.Error(), `unknown shape "spiral"`) {
		t.Fatalf("bad shape: %v", err)
	}
}

// E1 is exact: the paper's outcome, from the scheduling core.
func TestE1MatchesThePaper(t *testing.T) {
	rep, err := e1(context.Background(), Options{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2 [M2 M4]", "1 [M4]", "0 [], order [M2 M4 M1 M3]"}
	for i, f := range rep.Findings {
		if !strings.HasPrefix(f.Ours, want[i]) {
			t.Errorf("%s: %s, want %s…", f.Metric, f.Ours, want[i])
		}
	}
}

func TestSimulateSmall(t *testing.T) {
	fifo, err := simulate(4, 40, "fifo", 1e9)
	if err != nil {
		t.Fatal(err)
	}
	cameo, err := simulate(4, 40, "cameo", 1e9)
	if err != nil {
		t.Fatal(err)
	}
	if fifo.msgs != cameo.msgs || fifo.ls == 0 || cameo.ls != fifo.ls {
		t.Fatalf("same arrivals, different runs: %+v %+v", fifo, cameo)
	}
	if cameo.lsP99 > fifo.lsP99 {
		t.Errorf("LS p99: cameo %.2f ms above fifo %.2f ms", cameo.lsP99, fifo.lsP99)
	}
}
