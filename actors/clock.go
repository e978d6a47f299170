package actors

import (
	"sync/atomic"
	"time"
)

// Clock is the one source of scheduling time: Unix nanoseconds.
type Clock interface {
	Now() int64
}

// SystemClock reads the wall clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() int64 { return time.Now().UnixNano() }

// ManualClock is a Clock that moves only when told; safe for concurrent use.
type ManualClock struct{ t atomic.Int64 }

// NewManualClock returns a clock reading t.
func NewManualClock(t int64) *ManualClock {
	c := &ManualClock{}
	c.t.Store(t)
	return c
}

// Now implements Clock.
func (c *ManualClock) Now() int64 { return c.t.Load() }

// Set sets the time.
func (c *ManualClock) Set(t int64) { c.t.Store(t) }

// Advance moves the time forward by d nanoseconds and returns the new time.
func (c *ManualClock) Advance(d int64) int64 { return c.t.Add(d) }

var (
	_ Clock = SystemClock{}
	_ Clock = (*ManualClock)(nil)
)
