package runtime

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cameo-go/cameo/query"
)

// A query's results can be read while it runs, whatever its sink: a
// reader gets the latest results kept since the first reader, then each
// new one; one that falls behind skips the newest, counted, and the query
// does not wait for it.
func TestResultReaders(t *testing.T) {
	e := newEngine(t, WithWorkers(2))
	emit := make(chan int)
	plan, err := query.NewBuilder("tap").
		SourceFunc("in", func(ctx context.Context, out func(query.Event) error) error {
			for n := range emit {
				for i := range n {
					if err := out(query.Event{Key: "k", Fields: query.MakeFields(map[string]any{"i": i})}); err != nil {
						return err
					}
				}
			}
			return nil
		}, nil).
		Filter("true").Discard().Build()
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.Submit(context.Background(), plan)
	if err != nil {
		t.Fatal(err)
	}
	ctx := waitCtx(t)
	results := func(n uint64) { // waits until the sink has written n
		t.Helper()
		for q.Stats().Results < n {
			select {
			case <-ctx.Done():
				t.Fatalf("%d results, want %d", q.Stats().Results, n)
			case <-time.After(5 * time.Millisecond): // polls the query's own count
			}
		}
	}

	r1, err := q.Results()
	if err != nil {
		t.Fatal(err)
	}
	emit <- 10
	var got []query.Event
	for len(got) < 10 {
		evs, skipped, ended, err := r1.Next(ctx)
		if err != nil || skipped != 0 || ended {
			t.Fatalf("first reader: %v, skipped %d, ended %v", err, skipped, ended)
		}
		got = append(got, evs...)
	}
	r1.Close()

	// A second reader starts with the 10 kept, then does not read while
	// 5,000 more are written: it keeps its queue's worth and counts the rest.
	r2, err := q.Results()
	if err != nil {
		t.Fatal(err)
	}
	emit <- 5000
	results(5010)
	evs, skipped, ended, err := r2.Next(ctx)
	if err != nil || ended || len(evs) != readerQueue || skipped != 5010-readerQueue {
		t.Fatalf("second reader: %d results, %d skipped, ended %v, %v; want %d and %d", len(evs), skipped, ended, err, readerQueue, 5010-readerQueue)
	}
	if evs[0].Fields.Get("i") != 0 || evs[10].Fields.Get("i") != 0 || evs[11].Fields.Get("i") != 1 {
		t.Fatalf("the kept results first, then the new ones in order: %v %v %v", evs[0].Fields, evs[10].Fields, evs[11].Fields)
	}

	// At most MaxResultReaders at once.
	var open []*ResultReader
	for range MaxResultReaders - 1 {
		r, err := q.Results()
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, r)
	}
	if _, err := q.Results(); !errors.Is(err, ErrTooManyReaders) {
		t.Fatalf("reader %d: %v, want ErrTooManyReaders", MaxResultReaders+1, err)
	}
	for _, r := range open {
		r.Close()
	}

	// The end reaches the reader after the last results.
	close(emit)
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, ended, err := r2.Next(ctx); !ended || err != nil {
		t.Fatalf("after the query ended: ended %v, %v", ended, err)
	}
	r2.Close()
	// A reader opened after the end gets what was kept, then the end.
	r3, err := q.Results()
	if err != nil {
		t.Fatal(err)
	}
	evs, _, ended, _ = r3.Next(ctx)
	if len(evs) != RecentResults || ended || evs[len(evs)-1].Fields.Get("i") != 4999 {
		t.Fatalf("after the end: %d results (ended %v), want the last %d", len(evs), ended, RecentResults)
	}
	if _, _, ended, _ = r3.Next(ctx); !ended {
		t.Fatal("no end after the kept results")
	}
}
