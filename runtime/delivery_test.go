package runtime

import (
	"math"
	"testing"
	"time"

	"github.com/cameo-go/cameo/query"
)

type fakeAcker struct{ acked uint64 }

func (f *fakeAcker) Write([]query.Event) error { return nil }
func (f *fakeAcker) Close() error              { return nil }
func (f *fakeAcker) Acked() uint64             { return f.acked }

type plainOut struct{}

func (plainOut) Write([]query.Event) error { return nil }
func (plainOut) Close() error              { return nil }

// The frontier is the sink's watermark less the windows' and joins' sizes
// and lateness; with an asynchronous sink, only the watermarks whose
// results were all acknowledged count.
func TestDeliveryFrontier(t *testing.T) {
	spec := &query.Spec{Pipeline: []query.Operator{
		{Filter: "true"},
		{Window: &query.Window{Size: 100 * time.Millisecond}},
		{Join: &query.Join{Window: 10 * time.Millisecond}},
	}}
	if got, want := spanOf(spec, int64(5*time.Millisecond)), int64(120*time.Millisecond); got != want {
		t.Fatalf("span %d, want %d", got, want)
	}

	d := newDelivery(100, plainOut{})
	if f := d.frontier(); f != math.MinInt64 {
		t.Fatalf("nothing written: frontier %d", f)
	}
	d.wrote(3, 1000)
	if f := d.frontier(); f != 900 {
		t.Fatalf("synchronous sink at wm 1000: %d, want 900", f)
	}
	d.wrote(0, math.MaxInt64)
	if f := d.frontier(); f != math.MaxInt64 {
		t.Fatalf("drained: %d", f)
	}

	a := &fakeAcker{}
	d = newDelivery(0, a)
	d.wrote(2, 10) // results 1–2, then the mark 10
	d.wrote(0, 15) // no result in between: the same entry, wm 15
	d.wrote(3, 20) // results 3–5, then 20
	if f := d.frontier(); f != math.MinInt64 {
		t.Fatalf("nothing acknowledged: %d", f)
	}
	a.acked = 1
	if f := d.frontier(); f != math.MinInt64 {
		t.Fatalf("1 of the first 2 acknowledged: %d", f)
	}
	a.acked = 4
	if f := d.frontier(); f != 15 {
		t.Fatalf("the first 2 (and 2 more) acknowledged: %d, want 15", f)
	}
	a.acked = 5
	if f := d.frontier(); f != 20 {
		t.Fatalf("all acknowledged: %d, want 20", f)
	}
}
