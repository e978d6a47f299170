package query

import "time"

// Limits of a spec. A node is shared by tenants who do not trust each
// other's specs, so every number a spec can write is bounded here, where it
// is parsed, to what one node can hold: no value that passes validation
// reaches an int64 overflow, an allocation sized by the user, or a loop
// whose end the user chooses. Each bound is checked with an error that
// names the field, its position and the valid range.
//
// What the bounds do not cover — a query's memory at run time (window
// state, backlog) — is the engine's per-query memory budget.
const (
	// MaxParallelism bounds instances per step. The engine bounds it
	// further against its in-flight bound (a shuffle between two steps
	// of parallelism P can put P×P messages in flight).
	MaxParallelism = 1024
	// MaxSources bounds a query's sources; MaxSteps its pipeline.
	MaxSources = 64
	MaxSteps   = 256
	// MaxFields bounds a generator's fields, a map's outputs and a
	// window's aggregates.
	MaxFields = 256
	// MaxChoices bounds one choice field's values; MaxBursts a
	// generator's bursts; MaxNodes a step's placement list.
	MaxChoices = 10_000
	MaxBursts  = 1_000
	MaxNodes   = 1_024
	// MaxKeys bounds a generator's distinct keys.
	MaxKeys = 1_000_000
	// MinRate and MaxRate bound a generator's events per second, bursts
	// included: one event every 1,000 s at the least (a gap that still
	// fits int64 nanoseconds many times over) and ten million a second at
	// the most (more than one core can produce).
	MinRate = 0.001
	MaxRate = 10_000_000
	// MaxBurstFactor bounds a burst's rate multiplier.
	MaxBurstFactor = 1_000
	// MaxRunFor bounds a generator's duration and its bursts' times.
	MaxRunFor = 365 * 24 * time.Hour
	// MaxLatencyTarget bounds a query's latency target: deadlines are
	// arrival + target, far from int64's end.
	MaxLatencyTarget = 24 * time.Hour
	// MinShedAfter bounds overload.shed_after from below: shedding what
	// waited less than a millisecond sheds what a worker's turn delays.
	MinShedAfter = time.Millisecond
	// MaxTimeBound bounds a window's size, a join's window and the
	// event-time settings (max_out_of_order, allowed_lateness,
	// idle_timeout).
	MaxTimeBound = 7 * 24 * time.Hour
	// MaxWindowsPerEvent bounds size/slide of a sliding window: the
	// windows one event is added to.
	MaxWindowsPerEvent = 1_000
	// MaxExprBytes bounds one expression's source text.
	MaxExprBytes = 4_096
	// MaxNameBytes bounds a field, source or aggregate name.
	MaxNameBytes = 128
	// MinWeight and MaxWeight bound a query's fair-share weight.
	MinWeight = 0.001
	MaxWeight = 1_000
	// MaxGenInt bounds a generator's whole numbers (uniform ranges of
	// ints): 2^53, the largest range float64 holds exactly, so that every
	// int drawn is one the spec could have written. MaxGenFloat bounds
	// its other numbers, so that hi−lo and mean ± k·stddev stay finite.
	MaxGenInt   = 1 << 53
	MaxGenFloat = 1e300
	// MaxZipfS bounds a zipf exponent.
	MaxZipfS = 100
)
