package priority

import "testing"

func st(arrival, time int64) Stamp {
	return Stamp{Arrival: arrival, Time: time, Watermark: NoWatermark}
}

func TestWindowEarliestAndEnd(t *testing.T) {
	for _, tc := range []struct {
		w      Window
		t      int64
		k, end int64
		start  int64
	}{
		{Tumbling(10), 0, 0, 10, 0},
		{Tumbling(10), 9, 0, 10, 0},
		{Tumbling(10), 10, 1, 20, 10},
		{Tumbling(10), -1, -1, 0, -10},
		{Sliding(10, 5), 0, -1, 5, -5}, // [-5,5) is the earliest window holding 0
		{Sliding(10, 5), 5, 0, 10, 0},
		{Sliding(10, 5), 12, 1, 15, 5},
		{Window{Size: 10, Slide: 10, Offset: 3}, 12, 0, 13, 3},
		{Window{Size: 10, Slide: 10, Offset: 3}, 13, 1, 23, 13},
	} {
		k := tc.w.Earliest(tc.t)
		if k != tc.k || tc.w.End(k) != tc.end || tc.w.Start(k) != tc.start {
			t.Errorf("%+v at %d: k=%d end=%d start=%d, want k=%d end=%d start=%d", tc.w, tc.t, k, tc.w.End(k), tc.w.Start(k), tc.k, tc.end, tc.start)
		}
		if !(tc.w.Start(k) <= tc.t && tc.t < tc.w.End(k)) {
			t.Errorf("%+v: window %d does not hold %d", tc.w, k, tc.t)
		}
	}
}

func TestWindowValidate(t *testing.T) {
	for _, w := range []Window{{Size: 0}, {Size: 10, Slide: -1}, {Size: 10, Slide: 20}} {
		if w.Validate() == nil {
			t.Errorf("%+v: no error", w)
		}
	}
	if err := Sliding(10, 5).Validate(); err != nil {
		t.Error(err)
	}
}

// The boundary rule (the paper's prototype, BoundaryBasedEDF): the first
// message past a boundary carries the closing window's deadline.
func TestWindowFrontierBoundaryRule(t *testing.T) {
	f := NewWindowFrontier(Tumbling(100))
	steps := []struct {
		at   int64
		want Frontier
	}{
		{5, Frontier{Time: 100, Local: 0}},
		{99, Frontier{Time: 100, Local: 0}},
		{100, Frontier{Time: 100, Local: 1, Closing: true}}, // closes window 0
		{150, Frontier{Time: 200, Local: 1}},
		{420, Frontier{Time: 200, Local: 4, Closing: true}}, // skips 2,3: the earliest closed is 1
		{430, Frontier{Time: 500, Local: 4}},
		{399, Frontier{Time: 400, Local: 3}}, // a straggler of window 3
	}
	for i, s := range steps {
		if got := f.Next(st(s.at, s.at)); got != s.want {
			t.Errorf("step %d at %d: %+v, want %+v", i, s.at, got, s.want)
		}
	}
}

// With a watermark (processing time, behind a shuffle), the message that
// moves the watermark past a boundary closes the window, with or without
// events; events of the next window sent while the watermark is still
// inside the current one do not.
func TestWindowFrontierClosesByWatermark(t *testing.T) {
	f := NewWindowFrontier(Tumbling(100))
	wm := func(at, w int64) Stamp { return Stamp{Arrival: at, Time: at, Watermark: w} }
	steps := []struct {
		s    Stamp
		want Frontier
	}{
		{wm(50, 40), Frontier{Time: 100, Local: 0}},
		// Events of window 1 from one input while another holds the
		// watermark at 95: due with window 1, they cannot close window 0.
		{wm(103, 95), Frontier{Time: 200, Local: 1}},
		{wm(110, 98), Frontier{Time: 200, Local: 1}},
		// A mark alone (Time = Watermark) moves it to 104: it closes window
		// 0 and carries its frontier, the end 100.
		{wm(104, 104), Frontier{Time: 100, Local: 1, Closing: true}},
		{wm(120, 115), Frontier{Time: 200, Local: 1}},
		// Events still of window 1 while the watermark jumps past 300:
		// windows 1 and 2 close; the earliest closed is 1.
		{wm(190, 310), Frontier{Time: 200, Local: 1, Closing: true}},
		{wm(320, 320), Frontier{Time: 400, Local: 3}},
	}
	for i, s := range steps {
		if got := f.Next(s.s); got != s.want {
			t.Errorf("step %d %+v: %+v, want %+v", i, s.s, got, s.want)
		}
	}
}

func TestSlidingFrontier(t *testing.T) {
	f := NewWindowFrontier(Sliding(100, 25))
	if got := f.Next(st(10, 10)); got != (Frontier{Time: 25, Local: -3}) {
		t.Errorf("first: %+v", got)
	}
	// 30 is past the end 25 of the window [-75,25): that window closes.
	if got := f.Next(st(30, 30)); got != (Frontier{Time: 25, Local: -2, Closing: true}) {
		t.Errorf("boundary: %+v", got)
	}
	if got := f.Next(st(40, 40)); got != (Frontier{Time: 50, Local: -2}) {
		t.Errorf("after: %+v", got)
	}
}

func TestEventTimeFrontier(t *testing.T) {
	// Tumbling 100 over event time, 10 out-of-orderness, 5 lateness.
	f := NewEventTimeFrontier(Tumbling(100), 10, 5)
	// No watermark: event at 30 arriving at 1000 expects the watermark
	// (30−10 now) to pass 105 after 85: t_MF = 1085.
	if got := f.Next(st(1000, 30)); got != (Frontier{Time: 1085, Local: 0}) {
		t.Errorf("estimate: %+v", got)
	}
	// Observed watermark 50 corrects the estimate: 1010 + (105 − 50).
	if got := f.Next(Stamp{Arrival: 1010, Time: 60, Watermark: 50}); got != (Frontier{Time: 1065, Local: 0}) {
		t.Errorf("corrected: %+v", got)
	}
	// Watermark 120 passes 105: this message closes window 0 and is due at once.
	if got := f.Next(Stamp{Arrival: 1100, Time: 130, Watermark: 120}); got != (Frontier{Time: 1100, Local: 1, Closing: true}) {
		t.Errorf("closing: %+v", got)
	}
	// A late event of window 0 (watermark past it): due at its arrival.
	if got := f.Next(Stamp{Arrival: 1110, Time: 40, Watermark: 125}); got != (Frontier{Time: 1110, Local: 0}) {
		t.Errorf("late: %+v", got)
	}
}

func TestJoinFrontierTakesLaterSide(t *testing.T) {
	j := NewJoinFrontier(Tumbling(100), 0, 0)
	left, right := j.Side(0), j.Side(1)
	// Left alone: its own estimate, 1000 + (100 − 20).
	if got := left.Next(Stamp{Arrival: 1000, Time: 20, Watermark: 20}); got.Time != 1080 {
		t.Errorf("left alone: %+v", got)
	}
	// Right is further behind (watermark 10 at 1005): it passes 100 at 1095,
	// later than its own message's estimate? Its own is 1005+90 = 1095; the
	// left's projection is 1080: max = 1095.
	if got := right.Next(Stamp{Arrival: 1005, Time: 15, Watermark: 10}); got.Time != 1095 {
		t.Errorf("right: %+v", got)
	}
	// Left again, ahead: own 1020 + (100 − 60) = 1060, right projects 1095.
	if got := left.Next(Stamp{Arrival: 1020, Time: 60, Watermark: 60}); got.Time != 1095 {
		t.Errorf("left after right: %+v", got)
	}
}

func TestStatelessFrontier(t *testing.T) {
	if got := (Stateless{}).Next(st(42, 7)); got != (Frontier{Time: 42}) {
		t.Errorf("%+v", got)
	}
}
