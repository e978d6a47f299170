package query

import (
	"runtime"
	"strconv"
	"testing"
)

// The state estimates that the engine's memory budget charges stay within
// 2× of the heap the state really takes, measured.
func TestStateBytesTracksHeap(t *testing.T) {
	spec := mustParse(t, `name: q
latency_target: 1s
sources:
  - name: s
    generator: {rate: 1, fields: {v: {uniform: [0, 100]}}}
pipeline:
  - key_by: key
  - window: {tumbling: 1h}
    aggregate: {n: count(), s: sum(v)}
`)
	const n = 200_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	w, err := machineOf[*WindowAgg](spec, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		if _, err := w.Add(Event{Key: keys[i], EventTime: 1, Watermark: NoWatermark, Fields: MakeFields(map[string]any{"v": i})}); err != nil {
			t.Fatal(err)
		}
	}
	used := float64(heap() - before)
	est := float64(w.StateBytes())
	runtime.KeepAlive(w)
	t.Logf("estimate %.1f MB, heap %.1f MB", est/1e6, used/1e6)
	if r := est / used; r < 0.5 || r > 2 {
		t.Errorf("window state estimate %.1f MB, heap %.1f MB (ratio %.2f): want within 2×", est/1e6, used/1e6, r)
	}
	if w.Advance(1<<62, 0); w.StateBytes() != 0 {
		t.Errorf("after every window fired the estimate is %d bytes", w.StateBytes())
	}
}
