package priority

import "math"

// Time arithmetic saturates. Scheduling times are int64 nanoseconds, and
// some of their terms come from users: latency targets, event times,
// watermarks, window sizes. Specs bound each of them, but a deadline is a
// sum of several, and a sum that wrapped would turn the least urgent
// message on the node into the most urgent. So every sum and difference of
// times in this package goes through AddSat and SubSat: at the ends of
// int64 a time sticks, it never wraps.

// AddSat returns a+b, or math.MaxInt64 / math.MinInt64 where the sum
// overflows.
func AddSat(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// SubSat returns a−b, saturated like AddSat.
func SubSat(a, b int64) int64 {
	s := a - b
	switch {
	case a >= 0 && b < 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b > 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// MulSat returns a·b, saturated like AddSat.
func MulSat(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	p := a * b
	if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		if (a < 0) == (b < 0) {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return p
}
