package runtime

import (
	"math"
	"sync"

	"github.com/cameo-go/cameo/connector"
	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
)

// The delivery frontier of a query: a time F such that every event a
// source stamped at or before F has had all its results written by the
// sink, and acknowledged where the sink acknowledges later than it writes
// (connector.Acker: a broker's producer, a webhook). Inputs that commit
// what they read (a consumer group's offsets) commit only what is before
// it, so a crash loses nothing: what was not committed is read again
// (at-least-once).
//
// Why it holds: a window fires when its instance's watermark passes the
// window's end plus the allowed lateness, and its results go out ahead of
// the mark that moves the watermark on; the sink's watermark is the least
// over its inputs. So once the sink's watermark is W, every window ending
// by W − lateness has fired and its results were written. An event
// stamped t belongs to windows ending by t + size; through several
// windows and joins the sizes and latenesses add up (span). Hence
// F = W − span. Late events and drops are counted, and count as done.

// delivery tracks a query's sink.
type delivery struct {
	mu      sync.Mutex
	span    int64
	acker   connector.Acker // nil: a result is delivered once written
	written uint64          // results written, in order
	ledger  []ledgerEntry   // watermarks waiting for their results' acknowledgement
	wm      int64           // the sink's watermark whose results are all delivered
}

type ledgerEntry struct {
	written uint64
	wm      int64
}

// spanOf is the longest an event's results can trail the sink's
// watermark: each window's size (a sliding window's too: an event is in
// windows ending up to size after it) and each join's, plus the allowed
// lateness at each; unbounded with a session window.
func spanOf(spec *query.Spec, lateness int64) int64 {
	var span int64
	for _, op := range spec.Pipeline {
		switch {
		case op.Window != nil && op.Window.Gap > 0:
			// A session grows for as long as its key's events keep
			// coming: no bound, so nothing is committed before the end.
			return math.MaxInt64
		case op.Window != nil:
			span = priority.AddSat(span, priority.AddSat(int64(op.Window.Size), lateness))
		case op.Join != nil:
			span = priority.AddSat(span, priority.AddSat(int64(max(op.Join.Window, op.Join.Within)), lateness))
		}
	}
	return span
}

func newDelivery(span int64, out connector.Output) *delivery {
	d := &delivery{span: span, wm: math.MinInt64}
	d.acker, _ = out.(connector.Acker)
	return d
}

// wrote records n results written and the sink's watermark after them.
func (d *delivery) wrote(n int, wm int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.written += uint64(n)
	if d.acker == nil {
		d.wm = max(d.wm, wm)
		return
	}
	if k := len(d.ledger); k > 0 && d.ledger[k-1].written == d.written {
		d.ledger[k-1].wm = max(d.ledger[k-1].wm, wm) // no result in between: the later mark says more
		return
	}
	d.ledger = append(d.ledger, ledgerEntry{written: d.written, wm: wm})
}

// frontier returns F (math.MinInt64 while nothing is delivered).
func (d *delivery) frontier() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.acker != nil {
		acked := d.acker.Acked()
		i := 0
		for i < len(d.ledger) && d.ledger[i].written <= acked {
			d.wm = max(d.wm, d.ledger[i].wm)
			i++
		}
		d.ledger = d.ledger[i:]
	}
	if d.wm == math.MaxInt64 {
		return math.MaxInt64 // drained
	}
	return priority.SubSat(d.wm, d.span)
}
