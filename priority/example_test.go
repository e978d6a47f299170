package priority_test

import (
	"fmt"

	"github.com/cameo-go/cameo/priority"
)

// The paper's motivating example under three policies.
func ExampleMotivatingExample() {
	for _, p := range []priority.Policy{priority.FIFO{}, priority.LLF{}, priority.Cameo{}} {
		out, _ := priority.MotivatingExample(p, nil)
		fmt.Printf("%s: %s\n", p.Name(), out)
	}
	// Output:
	// fifo: order M1 M2 M3 M4; misses: M2 M4
	// llf: order M2 M1 M4 M3; misses: M4
	// cameo: order M2 M4 M1 M3; misses: none
}

// A message of a 1 s tumbling window gets the window's end as its frontier;
// the first message of the next window closes it and carries its deadline.
func ExampleWindowFrontier() {
	const s = int64(1e9)
	rule := priority.NewWindowFrontier(priority.Tumbling(s))
	q := priority.Query{ID: "bulk", LatencyTarget: 2 * s}
	for _, at := range []int64{100_000_000, 900_000_000, 1_000_000_001} {
		fr := rule.Next(priority.Stamp{Arrival: at, Time: at, Watermark: priority.NoWatermark})
		c := priority.Cameo{}.BuildAtSource(at, q, at, priority.Hop{Frontier: fr})
		fmt.Printf("arrival %.3fs: window %d, closing %v, latest start %.3fs\n", float64(at)/1e9, fr.Local, fr.Closing, float64(c.Global)/1e9)
	}
	// Output:
	// arrival 0.100s: window 0, closing false, latest start 3.000s
	// arrival 0.900s: window 0, closing false, latest start 3.000s
	// arrival 1.000s: window 1, closing true, latest start 3.000s
}
