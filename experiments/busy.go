package experiments

import (
	"sync"
	"time"
)

// Spin burns about d of CPU in a loop calibrated once per process, so that
// operators cost what a scenario says whatever else runs: the loop counts
// iterations, not wall time, so time the worker spends preempted is not
// counted as work done.
func Spin(d time.Duration) {
	if d <= 0 {
		return
	}
	calibrate.Do(doCalibrate)
	n := int64(float64(d.Nanoseconds()) * itersPerNs)
	x := spinSink
	for i := int64(0); i < n; i++ {
		x = x*1664525 + 1013904223
	}
	spinSink = x
}

var (
	calibrate  sync.Once
	itersPerNs float64
	spinSink   uint32
)

// doCalibrate times a fixed loop a few times and keeps the fastest, the
// run least disturbed by other work on the machine.
func doCalibrate() {
	const n = 1 << 22
	best := time.Duration(1 << 62)
	for r := 0; r < 7; r++ {
		start := time.Now()
		x := spinSink
		for i := 0; i < n; i++ {
			x = x*1664525 + 1013904223
		}
		spinSink = x
		best = min(best, time.Since(start))
	}
	itersPerNs = float64(n) / float64(best.Nanoseconds())
}
