package experiments

import (
	"fmt"
	"time"

	"github.com/cameo-go/cameo/query"
)

// Query classes of the paper's multi-tenant experiments.
const (
	LS = "LS" // latency-sensitive: stateless or small windows, tight targets
	BA = "BA" // bulk analytics: large windows, lax targets, high volume
)

// Shapes of the synthetic queries.
const (
	// ShapeFilter: source → work per event → sink (stateless).
	ShapeFilter = "filter"
	// ShapeWindow: source → work per event → key_by → window (count, sum)
	// → work per result → sink.
	ShapeWindow = "window"
	// ShapeStages: source → work → key_by → work → window → work per
	// result → sink: the multi-stage aggregation of E2/E3.
	ShapeStages = "stages"
)

// QuerySpec is one query of a scenario, built from the engine's own
// sources and operators with calibrated CPU costs (Spin).
type QuerySpec struct {
	Name, Tenant, Class string
	Shape               string
	Target              time.Duration
	Rate                float64       // events per second
	Poisson             bool          // exponential gaps instead of evenly spaced events
	Bursts              []query.Burst // on the source's rate
	Keys                int
	Window, Slide       time.Duration // ShapeWindow, ShapeStages
	CostPerEvent        time.Duration // at the first stage (and the second, for stages)
	CostPerResult       time.Duration // downstream of the window
	Parallelism         int
	Start               time.Duration // submitted this long after the run starts
	Stop                time.Duration // cancelled this long after the run starts; 0: runs to the end
	Weight              float64       // share under fair
}

// Build returns the query's spec with sink as its sink.
func (q QuerySpec) Build(seed uint64, sink func([]query.Event) error) (*query.Plan, error) {
	b := query.NewBuilder(q.Name).Tenant(q.Tenant).LatencyTarget(q.Target).Parallelism(max(1, q.Parallelism))
	if q.Weight > 0 {
		b.Weight(q.Weight)
	}
	arrivals := "steady"
	if q.Poisson {
		arrivals = "poisson"
	}
	b.Generator("in", query.Generator{Rate: q.Rate, Arrivals: arrivals, Seed: seed, Bursts: q.Bursts,
		Keys:   query.Keys{Count: max(1, q.Keys)},
		Fields: []query.Field{{Name: "v", Uniform: []float64{0, 100}}}})
	work := func(label string, cost time.Duration) {
		b.Process(label, func(ev query.Event, out []query.Event) ([]query.Event, error) {
			Spin(cost)
			return append(out, ev), nil
		})
	}
	switch q.Shape {
	case ShapeFilter:
		work("work", q.CostPerEvent)
	case ShapeWindow, ShapeStages:
		work("work", q.CostPerEvent)
		b.KeyBy("key")
		if q.Shape == ShapeStages {
			work("work2", q.CostPerEvent)
		}
		aggs := []query.Aggregate{query.Count("n"), query.Sum("s", "v")}
		if q.Slide > 0 {
			b.Sliding(q.Window, q.Slide, aggs...)
		} else {
			b.Tumbling(q.Window, aggs...)
		}
		work("emit", q.CostPerResult)
	default:
		return nil, fmt.Errorf("experiments: query %s: unknown shape %q", q.Name, q.Shape)
	}
	return b.SinkFunc(sink).Build()
}
