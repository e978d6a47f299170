package actors

import (
	"testing"
	"time"
)

// TestSystemClockFollowsTheWallClock: SystemClock's reading stays within
// a millisecond of the wall clock's across re-anchorings (it counts on the
// monotonic clock between them), and it re-reads the wall clock once its
// anchor is older than anchorEvery.
func TestSystemClockFollowsTheWallClock(t *testing.T) {
	var c SystemClock
	for end := time.Now().Add(3 * anchorEvery); time.Now().Before(end); time.Sleep(time.Millisecond) {
		before := time.Now().UnixNano()
		got := c.Now()
		after := time.Now().UnixNano()
		if got < before-int64(time.Millisecond) || got > after+int64(time.Millisecond) {
			t.Fatalf("SystemClock read %d, the wall clock %d…%d", got, before, after)
		}
	}
	// An anchor older than anchorEvery is replaced.
	old := &anchor{at: time.Now().Add(-2 * anchorEvery), wall: 1}
	wallAnchor.Store(old)
	if got := c.Now(); got < time.Now().UnixNano()-int64(time.Second) {
		t.Fatalf("an old anchor was used: read %d", got)
	}
	if wallAnchor.Load() == old {
		t.Fatal("the old anchor was not replaced")
	}
}

// BenchmarkSystemClock is one reading, against time.Now's two clocks.
func BenchmarkSystemClock(b *testing.B) {
	var sink int64
	b.Run("clock=SystemClock", func(b *testing.B) {
		var c SystemClock
		for range b.N {
			sink += c.Now()
		}
	})
	b.Run("clock=time.Now", func(b *testing.B) {
		for range b.N {
			sink += time.Now().UnixNano()
		}
	})
	_ = sink
}
