package runtime

import (
	"math"
	"math/bits"
)

// latencyHist is a query's histogram of output latencies (ns): log-linear
// buckets, latencySub per power of two (the layout of an HDR histogram at
// about two significant digits), kept a power of two at a time and made
// only when a value reaches it. A query whose latencies span 0.1–50 ms
// holds 10 such octaves (5 KB) where a dense HDR histogram of 1 µs–1 h at
// three digits holds 196 KB whatever it records, and one with no results
// holds nothing: that is what lets a node host thousands of queries
// (experiment E15). A quantile is read at its bucket's middle, so it is
// within 1/(2·latencySub) (0.8 %) of the recorded value of that rank
// (TestLatencyHistQuantiles). The zero value is empty and ready; not safe
// for concurrent use.
type latencyHist struct {
	octaves []*latencyOctave // octaves[i] is octave base+i; nil: none recorded there
	base    int
	count   uint64
	sum     float64 // ns, for the mean
	min     int64
	max     int64
}

const (
	latencySubBits = 6
	latencySub     = 1 << latencySubBits // buckets per power of two
)

// latencyOctave counts the values of one power of two:
// [latencySub<<o, latencySub<<(o+1)) in buckets of width 1<<o.
type latencyOctave [latencySub]uint64

// latencyIndex returns the octave and bucket of v (clamped to at least
// latencySub).
func latencyIndex(v int64) (octave, sub int) {
	u := uint64(max(v, latencySub))
	o := bits.Len64(u) - latencySubBits - 1
	return o, int(u>>o) - latencySub
}

// latencyValue is the middle of bucket sub of octave o.
func latencyValue(o, sub int) int64 {
	lo := uint64(sub+latencySub) << o
	return int64(lo + (uint64(1)<<o)/2)
}

// record counts n values of v (ns, >= 0).
func (h *latencyHist) record(v int64, n uint64) {
	if n == 0 {
		return
	}
	o, sub := latencyIndex(v)
	h.octave(o)[sub] += n
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.count += n
	h.sum += float64(v) * float64(n)
}

// octave returns octave o's counts, making it (and widening the slice) on
// first use.
func (h *latencyHist) octave(o int) *latencyOctave {
	switch {
	case h.octaves == nil:
		h.base = o
		h.octaves = make([]*latencyOctave, 1, 4)
	case o < h.base:
		grown := make([]*latencyOctave, h.base-o+len(h.octaves))
		copy(grown[h.base-o:], h.octaves)
		h.octaves, h.base = grown, o
	case o-h.base >= len(h.octaves):
		h.octaves = append(h.octaves, make([]*latencyOctave, o-h.base-len(h.octaves)+1)...)
	}
	c := h.octaves[o-h.base]
	if c == nil {
		c = new(latencyOctave)
		h.octaves[o-h.base] = c
	}
	return c
}

// total returns the number of values recorded.
func (h *latencyHist) total() uint64 { return h.count }

// mean returns the mean value; 0 when empty.
func (h *latencyHist) mean() float64 {
	if h.count == 0 {
		return 0
	}
	return h.sum / float64(h.count)
}

// quantile returns the value at percentile p (0–100): the middle of the
// bucket holding the value of rank ceil(p/100·count), clamped to the
// smallest and largest recorded; p >= 100 is the largest. 0 when empty.
func (h *latencyHist) quantile(p float64) int64 {
	if h.count == 0 {
		return 0
	}
	if p >= 100 {
		return h.max
	}
	rank := uint64(math.Ceil(max(p, 0) / 100 * float64(h.count)))
	rank = min(max(rank, 1), h.count)
	var seen uint64
	for i, c := range h.octaves {
		if c == nil {
			continue
		}
		for sub, n := range c {
			if seen += n; n > 0 && seen >= rank {
				return min(max(latencyValue(h.base+i, sub), h.min), h.max)
			}
		}
	}
	return h.max
}

// quantileOf is quantile over the union of hs, read in place: what
// merging them into one histogram and asking it would return, without
// making one (a node lists thousands of queries' recent figures a second).
func quantileOf(hs []*latencyHist, p float64) int64 {
	var count uint64
	lo, hi := math.MaxInt, math.MinInt
	var mn, mx int64
	for _, h := range hs {
		if h.count == 0 {
			continue
		}
		if count == 0 || h.min < mn {
			mn = h.min
		}
		mx = max(mx, h.max)
		count += h.count
		lo, hi = min(lo, h.base), max(hi, h.base+len(h.octaves))
	}
	if count == 0 {
		return 0
	}
	if p >= 100 {
		return mx
	}
	rank := uint64(math.Ceil(max(p, 0) / 100 * float64(count)))
	rank = min(max(rank, 1), count)
	var seen uint64
	for o := lo; o < hi; o++ {
		for sub := range latencySub {
			var n uint64
			for _, h := range hs {
				if i := o - h.base; h.count > 0 && i >= 0 && i < len(h.octaves) && h.octaves[i] != nil {
					n += h.octaves[i][sub]
				}
			}
			if seen += n; n > 0 && seen >= rank {
				return min(max(latencyValue(o, sub), mn), mx)
			}
		}
	}
	return mx
}

// merge adds o's values to h.
func (h *latencyHist) merge(o *latencyHist) {
	if o.count == 0 {
		return
	}
	for i, c := range o.octaves {
		if c == nil {
			continue
		}
		dst := h.octave(o.base + i)
		for sub, n := range c {
			dst[sub] += n
		}
	}
	if h.count == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.count += o.count
	h.sum += o.sum
}

// reset empties h; it keeps the octaves it made, for the values to come.
func (h *latencyHist) reset() {
	for _, c := range h.octaves {
		if c != nil {
			*c = latencyOctave{}
		}
	}
	h.count, h.sum, h.min, h.max = 0, 0, 0, 0
}

// bytes is the memory h holds.
func (h *latencyHist) bytes() int {
	n := 8 * cap(h.octaves)
	for _, c := range h.octaves {
		if c != nil {
			n += int(len(c)) * 8
		}
	}
	return n
}
