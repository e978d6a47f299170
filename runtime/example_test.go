package runtime_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// A Go service embeds the engine: it builds a query with its own source
// (here, orders it receives) and sink (here, a slice), submits it, and
// reads the results once the source ends and the query drains.
func Example() {
	eng, err := runtime.New(runtime.WithWorkers(2)) // one worker pool for every query
	if err != nil {
		panic(err)
	}
	defer eng.Stop(context.Background())

	orders := func(ctx context.Context, emit func(query.Event) error) error {
		for i := 0; i < 6; i++ {
			ev := query.Event{Fields: query.MakeFields(map[string]any{
				"shop":   []string{"north", "south"}[i%2],
				"amount": 10 * (i + 1),
				"ts":     1_700_000_000_000 + 400*i, // event time, ms: 0.4 s apart
			})}
			if err := emit(ev); err != nil {
				return err
			}
		}
		return nil
	}
	var mu sync.Mutex
	var lines []string
	plan, err := query.NewBuilder("revenue").Tenant("shop").LatencyTarget(100*time.Millisecond).
		SourceFunc("orders", orders, &query.EventTime{Field: "ts"}).
		KeyBy("shop").
		Tumbling(time.Second, query.Count("orders"), query.Sum("revenue", "amount")).
		SinkFunc(func(results []query.Event) error {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range results {
				lines = append(lines, fmt.Sprintf("%s %d: %d orders, revenue %d",
					r.Key, r.Fields.Get("window_start").(int64)/1e9, r.Fields.Get("orders"), r.Fields.Get("revenue")))
			}
			return nil
		}).
		Build()
	if err != nil {
		panic(err)
	}
	q, err := eng.Submit(context.Background(), plan)
	if err != nil {
		panic(err)
	}
	if err := q.Wait(context.Background()); err != nil {
		panic(err)
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Println("events in:", q.Stats().EventsIn, "state:", q.State())
	// Output:
	// north 1700000000: 2 orders, revenue 40
	// north 1700000001: 1 orders, revenue 50
	// south 1700000000: 1 orders, revenue 20
	// south 1700000001: 1 orders, revenue 40
	// south 1700000002: 1 orders, revenue 60
	// events in: 6 state: done
}
