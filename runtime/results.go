package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cameo-go/cameo/query"
)

// Results for readers: whatever a query's sink is, the results it writes
// can also be read while the query runs (GET /v1/queries/{id}/results,
// `cameo tail`). A reader gets the latest results the query kept, then
// every new one. Nothing here can slow the query: each reader has a
// bounded queue, and what does not fit is skipped and counted for that
// reader; the query keeps its latest results only once someone asked for
// them, and at most RecentResults of them.

const (
	// RecentResults is how many of its latest results a query keeps for
	// readers, from the first reader on.
	RecentResults = 256
	// readerQueue is how many results a reader may fall behind before the
	// newest are skipped (and counted).
	readerQueue = 4096
	// MaxResultReaders bounds the readers of one query at once.
	MaxResultReaders = 16
)

// ErrTooManyReaders is returned by Query.Results beyond MaxResultReaders.
var ErrTooManyReaders = errors.New("runtime: too many readers of this query's results")

// resultTap is a query's results for readers.
type resultTap struct {
	active  atomic.Bool // a reader asked: publish keeps results
	mu      sync.Mutex
	recent  []query.Event // ring of the latest, allocated at the first reader
	next    int
	kept    int
	readers map[*ResultReader]struct{}
	ended   bool
}

// ResultReader reads a query's results as the sink writes them. Not safe
// for concurrent use; Close it when done.
type ResultReader struct {
	tap     *resultTap
	q       *Query
	mu      sync.Mutex
	queue   []query.Event
	skipped uint64
	ended   bool
	wake    chan struct{}
}

// Results opens a reader of q's results: first the latest results q kept
// (up to RecentResults; none before the first reader asked), then each
// new one.
func (q *Query) Results() (*ResultReader, error) {
	t := &q.tap
	r := &ResultReader{tap: t, q: q, wake: make(chan struct{}, 1)}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.readers) >= MaxResultReaders {
		return nil, fmt.Errorf("%w: %d at most", ErrTooManyReaders, MaxResultReaders)
	}
	if t.recent == nil {
		t.recent = make([]query.Event, RecentResults)
		t.active.Store(true)
	}
	start := (t.next - t.kept + len(t.recent)) % len(t.recent)
	for i := range t.kept {
		r.queue = append(r.queue, t.recent[(start+i)%len(t.recent)])
	}
	if t.ended {
		r.ended = true
	} else {
		if t.readers == nil {
			t.readers = map[*ResultReader]struct{}{}
		}
		t.readers[r] = struct{}{}
	}
	r.signal()
	return r, nil
}

// publish gives results to the readers and keeps the latest; it costs
// nothing until a reader asked. Events are shared: their Fields are
// read-only everywhere.
func (t *resultTap) publish(events []query.Event) {
	if !t.active.Load() { // the sink's path takes no lock until a reader asked
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ev := range events {
		ev.Fields = ev.Fields.Clone() // kept: not the batch's rows
		t.recent[t.next] = ev
		t.next = (t.next + 1) % len(t.recent)
		t.kept = min(t.kept+1, len(t.recent))
	}
	for r := range t.readers {
		r.push(events)
	}
}

// end tells the readers the query ended: they read what is queued, then
// the end.
func (t *resultTap) end() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ended = true
	for r := range t.readers {
		r.mu.Lock()
		r.ended = true
		r.mu.Unlock()
		r.signal()
	}
	t.readers = nil
}

func (r *ResultReader) push(events []query.Event) {
	r.mu.Lock()
	room := readerQueue - len(r.queue)
	n := min(room, len(events))
	for _, ev := range events[:n] {
		ev.Fields = ev.Fields.Clone() // queued for a reader: not the batch's rows
		r.queue = append(r.queue, ev)
	}
	r.skipped += uint64(len(events) - n)
	r.mu.Unlock()
	r.signal()
}

func (r *ResultReader) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Next waits for results and returns those queued, with how many were
// skipped since the last call because the reader fell behind. ended
// reports that the query ended and everything was read; err is ctx's.
func (r *ResultReader) Next(ctx context.Context) (events []query.Event, skipped uint64, ended bool, err error) {
	for {
		r.mu.Lock()
		events, skipped, ended = r.queue, r.skipped, r.ended
		r.queue, r.skipped = nil, 0
		r.mu.Unlock()
		if len(events) > 0 || skipped > 0 || ended {
			return events, skipped, ended && len(events) == 0 && skipped == 0, nil
		}
		select {
		case <-r.wake:
		case <-ctx.Done():
			return nil, 0, false, ctx.Err()
		}
	}
}

// Close stops reading.
func (r *ResultReader) Close() {
	r.tap.mu.Lock()
	delete(r.tap.readers, r)
	r.tap.mu.Unlock()
}
