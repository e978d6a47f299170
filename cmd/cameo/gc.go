package main

import (
	"fmt"
	"runtime/debug"

	"github.com/cameo-go/cameo/runtime"
)

// The collector's settings of the cameo binary (every command: a node, a
// run, the experiments). A node's heap is mostly small, long-lived
// structures of its queries, pointers to pointers; each collection marks
// all of it, and while it marks, the workers that allocate help it and
// messages wait. With 5,000 small queries on 2 workers (a 230 MB live
// heap) Go's default, GOGC=100, collected every 3–5 s for about 100 ms of
// marking, and the results of those 100 ms missed their 20 ms target:
// 99.0 % met. GOGC=400 collects a quarter as often: 99.4–100 % met in the
// same run, for a peak heap twice as large. So unless the environment says
// otherwise (GOGC, GOMEMLIMIT), the binary collects at 400 % growth, and
// sets a soft memory limit at 90 % of the memory the process may use (its
// cgroup's limit, else the machine's), under which the collector runs as
// often as it must: a large heap never goes past what the machine has
// because of the higher target. Embedders of package runtime choose their
// own settings.
const (
	defaultGCPercent  = 400
	memoryLimitShare  = 0.9
	gcPercentEnv      = "GOGC"
	memoryLimitEnvVar = "GOMEMLIMIT"
)

// gcSettings applies the defaults above where the environment (getenv)
// sets nothing, and describes what the collector runs with.
func gcSettings(getenv func(string) string) string {
	percent := "GOGC from the environment"
	if getenv(gcPercentEnv) == "" {
		debug.SetGCPercent(defaultGCPercent)
		percent = fmt.Sprintf("GOGC=%d", defaultGCPercent)
	}
	limit := "GOMEMLIMIT from the environment"
	if getenv(memoryLimitEnvVar) == "" {
		if m := runtime.SystemMemory(); m > 0 {
			l := int64(float64(m) * memoryLimitShare)
			debug.SetMemoryLimit(l)
			limit = fmt.Sprintf("memory limit %d MiB (%.0f %% of %d MiB)", l>>20, 100*memoryLimitShare, m>>20)
		} else {
			limit = "no memory limit (the machine's memory is unknown)"
		}
	}
	return percent + ", " + limit
}
