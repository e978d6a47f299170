package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cameo-go/cameo/query"
)

// Every event a source reads ends in, late or dropped, each drop counted by
// its reason, the first bad inputs kept with their lines, partial lateness
// of sliding windows and NaN/Inf from expressions counted.
func TestAccountingIdentity(t *testing.T) {
	dir := t.TempDir()
	long := `{"key":"a","ts":1000,"pad":"` + strings.Repeat("x", query.MaxLineBytes+10) + `"}`
	lines := []string{
		`{"key":"a","ts":1000,"v":1}`,              // 1 in
		`{"key":"a","ts":1500,"v":0}`,              // 2 in, then v: 10/0 drops it at the map
		`{"key":"b","ts":6600,"v":2}`,              // 3 in: the watermark goes to 6100
		`{"key":"a","ts":4500,"v":2}`,              // 4 in, partially late: windows [2,6) and [3,7) … [4,8): [2,6)..[1,5) fired
		`{"key":"a","ts":100,"v":2}`,               // 5 late: every window of it fired
		`not json`,                                 // 6 undecodable
		long,                                       // 7 over the limit
		`{"key":"a","v":2}`,                        // 8 no event time
		`{"key":"a","ts":-9000000000000000,"v":2}`, // 9 event time out of range
		`{"key":"c","ts":7000,"v":2}`,              // 10 in
	}
	if err := os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := `
name: acc
latency_target: 1s
sources:
  - name: s
    jsonl: {path: in.jsonl}
    event_time: {field: ts, format: unix_ms, max_out_of_order: 500ms}
pipeline:
  - map: {v: '10 / v', ts: ts}
  - key_by: key
  - window: {sliding: {size: 4s, slide: 1s}}
    aggregate: {n: count()}
sink: {discard: {}}
`
	st := runSpecFile(t, newEngine(t), dir, spec).Stats()
	if st.EventsRead != 10 || st.EventsRead != st.EventsIn+st.Late+st.Dropped {
		t.Errorf("read %d ≠ in %d + late %d + dropped %d", st.EventsRead, st.EventsIn, st.Late, st.Dropped)
	}
	want := map[string]uint64{"undecodable": 1, "over_limit": 1, "no_event_time": 1, "event_time_range": 1, "expression_error": 1}
	for r, n := range want {
		if st.DroppedBy[r] != n {
			t.Errorf("dropped by %s: %d, want %d (all: %v)", r, st.DroppedBy[r], n, st.DroppedBy)
		}
	}
	if st.Late != 1 || st.LatePartial != 1 || st.EventsIn != 4 {
		t.Errorf("late %d, partial %d, in %d: want 1, 1, 4", st.Late, st.LatePartial, st.EventsIn)
	}
	byLine := map[int]BadInput{}
	for _, b := range st.BadInputs {
		byLine[b.Line] = b
	}
	if b := byLine[7]; b.Reason != "over_limit" || !strings.Contains(b.Error, "over the 1048576-byte limit") || strings.Contains(b.Error, "xxxxxxxx") {
		t.Errorf("line 7: %+v: want over_limit naming the limit, without the line's bytes", b)
	}
	if b := byLine[6]; b.Reason != "undecodable" || !strings.Contains(b.Error, "in.jsonl:6") {
		t.Errorf("line 6: %+v", b)
	}
	var nonFinite bool
	for _, b := range st.BadInputs {
		nonFinite = nonFinite || b.Reason == "expression_error" && strings.Contains(b.Error, "not a finite number") && strings.Contains(b.Error, "+Inf")
	}
	if !nonFinite || len(st.BadInputs) != 5 {
		t.Errorf("bad inputs %+v: want 5, one of them 10/0 = +Inf as an expression error", st.BadInputs)
	}
}

// A panic anywhere on a query's path fails that query with its reason;
// every other query goes on.
func TestPanicsAnywhereFailOnlyTheirQuery(t *testing.T) {
	e := newEngine(t, WithUnpacedSources())
	good, err := e.Submit(context.Background(), mustParse(t, small))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, want string
		mutate     func(*query.Spec)
	}{
		{"user source", "source s (user function): panic: source boom", func(s *query.Spec) {
			s.Sources[0] = query.Source{Name: "s", Input: query.SourceFunc(func(context.Context, func(query.Event) error) error { panic("source boom") })}
		}},
		{"user key function", "panic: key boom", func(s *query.Spec) {
			s.Pipeline = append([]query.Operator{{KeyFunc: func(query.Event) string { panic("key boom") }}}, s.Pipeline...)
		}},
		{"user sink", "sink: panic: sink boom", func(s *query.Spec) {
			s.Sink = query.Sink{Output: query.SinkFunc(func([]query.Event) error { panic("sink boom") })}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := mustSpec(t, small)
			c.mutate(s)
			q, err := e.Submit(context.Background(), mustCompile(t, s))
			if err != nil {
				t.Fatal(err)
			}
			err = q.Wait(waitCtx(t))
			if !errors.Is(err, ErrQueryFailed) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one containing %q", err, c.want)
			}
			if q.Stats().Panics != 1 {
				t.Errorf("panics %d, want 1", q.Stats().Panics)
			}
		})
	}
	if err := good.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st := good.Stats(); st.Results != 2000 {
		t.Fatalf("the other query: %d results, want 2000", st.Results)
	}
}

// A query whose window state outgrows its memory budget fails with the
// figures; a query beside it completes.
func TestMemoryBudgetFailsOnlyItsQuery(t *testing.T) {
	e := newEngine(t, WithUnpacedSources(), WithQueryMemory(4<<20))
	big, err := e.Submit(context.Background(), mustParse(t, `
name: many-keys
latency_target: 1s
sources: [{name: s, generator: {rate: 1000000, duration: 1s, keys: {count: 1000000}}}]
pipeline:
  - key_by: key
  - window: {tumbling: 1h}
    aggregate: {n: count()}
sink: {discard: {}}
`))
	if err != nil {
		t.Fatal(err)
	}
	good, err := e.Submit(context.Background(), mustParse(t, small))
	if err != nil {
		t.Fatal(err)
	}
	err = big.Wait(waitCtx(t))
	if !errors.Is(err, ErrQueryFailed) || !strings.Contains(err.Error(), "memory budget") || !strings.Contains(err.Error(), "budget of 4 MiB") {
		t.Fatalf("many keys: %v, want a memory budget failure", err)
	}
	if err := good.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st := good.Stats(); st.Results != 2000 {
		t.Fatalf("the other query: %d results", st.Results)
	}
}

// runSpecFile writes spec to dir/q.yaml (its relative paths are then dir's),
// runs it on e to its end and returns it.
func runSpecFile(t *testing.T, e *Engine, dir, spec string) *Query {
	t.Helper()
	path := filepath.Join(dir, "q.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := query.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.Submit(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	return q
}

// A generator that cannot keep up shows how far behind it is, and the
// events its schedule held that it never produced before it was cancelled
// are counted, not lost.
func TestSourceLagAndUnproducedEvents(t *testing.T) {
	e := newEngine(t, WithWorkers(1), WithMaxInFlight(8), WithMaxBatch(16))
	spec := mustSpec(t, `
name: behind
latency_target: 1s
sources: [{name: s, generator: {rate: 1000000, duration: 1h}}]
pipeline: [{filter: 'true'}]
sink: {discard: {}}
`)
	spec.Pipeline = append(spec.Pipeline, query.Operator{Label: "slow", Process: func(ev query.Event, out []query.Event) ([]query.Event, error) {
		for i := 0; i < 20_000; i++ { // about 10 µs of work: 100,000 events/s at most, a tenth of the rate
			ev.Arrival ^= int64(i)
		}
		return append(out, ev), nil
	}})
	q, err := e.Submit(context.Background(), mustCompile(t, spec))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second) // bounds the test; it falls behind within milliseconds
	for q.Stats().SourceLagMs < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("source lag %v ms: the generator never showed it fell behind", q.Stats().SourceLagMs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	st := q.Stats()
	if st.EventsUnproduced < 10_000 || st.SourceLagMs != 0 || st.EventsRead != st.EventsIn+st.Late+st.Dropped {
		t.Fatalf("unproduced %d (want the ≥ 50 ms it was behind, ≥ 10,000 events), lag %v after the end, read %d in %d",
			st.EventsUnproduced, st.SourceLagMs, st.EventsRead, st.EventsIn)
	}
}

// A reason keeps what a person reads (quotes included) and escapes what a
// terminal would act on; it is bounded.
func TestSafeReason(t *testing.T) {
	for in, want := range map[string]string{
		`map x = "x * 1e300": gave +Inf`: `map x = "x * 1e300": gave +Inf`,
		"line\nwith\x00control\x1b[31m":  `line\nwith\x00control\x1b[31m`,
		"über ünïcode":                   "über ünïcode",
	} {
		if got := safeReason(in); got != want {
			t.Errorf("safeReason(%q) = %q, want %q", in, got, want)
		}
	}
	if got := safeReason(strings.Repeat("x", 1000)); len(got) > maxReasonBytes+len("…") {
		t.Errorf("a 1,000-byte reason kept %d bytes", len(got))
	}
}

// A join whose closing window would emit the product of two large sides
// of one key fails its query before it allocates them; the budget counts
// what a firing emits, not only what the state holds.
func TestJoinCrossProductOverBudgetFails(t *testing.T) {
	e := newEngine(t, WithUnpacedSources(), WithQueryMemory(4<<20))
	join := func(name, d string) *query.Plan { // one key: every event of l pairs with every one of r
		return mustParse(t, strings.NewReplacer("NAME", name, "D", d).Replace(`
name: NAME
latency_target: 1s
sources:
  - {name: l, generator: {rate: 100000, duration: D, seed: 1}}
  - {name: r, generator: {rate: 100000, duration: D, seed: 2}}
pipeline:
  - key_by: key
  - join: {with: r, on: key, window: 1h}
sink: {discard: {}}
`))
	}
	q, err := e.Submit(context.Background(), join("cross", "30ms"))
	if err != nil {
		t.Fatal(err)
	}
	err = q.Wait(waitCtx(t))
	if !errors.Is(err, ErrQueryFailed) || !strings.Contains(err.Error(), "would emit 9000000 results at once") {
		t.Fatalf("a 3,000 × 3,000 join on one key: %v", err)
	}
	// A join whose output the budget holds completes.
	q, err = e.Submit(context.Background(), join("cross-small", "300us"))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.Results != 900 {
		t.Fatalf("30 × 30 on one key: %d results, want 900", st.Results)
	}
}

// A source faster than its query waits while its queued events would take
// more than half of what the memory budget leaves (Query.eventsFit), instead
// of filling the in-flight bound's worth of messages (4,096 of up to 1,024
// events here, about 1 GiB by the estimate) and failing the query by its
// budget: every event is read and counted, and the query completes.
func TestQueuedEventsStayWithinTheBudget(t *testing.T) {
	e := newEngine(t, WithUnpacedSources(), WithQueryMemory(4<<20), WithWorkers(2))
	const n = 200_000
	s, err := query.NewBuilder("slow").Tenant("t").LatencyTarget(time.Second).
		Generator("in", query.Generator{Rate: 1_000_000, Duration: n * time.Microsecond, Seed: 1, Keys: query.Keys{Count: 10}}).
		Process("slow", func(ev query.Event, out []query.Event) ([]query.Event, error) {
			for start := time.Now(); time.Since(start) < time.Microsecond; {
			}
			return append(out, ev), nil
		}).KeyBy("key").Tumbling(time.Hour, query.Count("n")).Discard().Build()
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.Submit(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(waitCtx(t)); err != nil {
		t.Fatalf("%v: the source should have waited for its queued events", err)
	}
	if st := q.Stats(); st.EventsIn != n || st.Results != 10 {
		t.Fatalf("%d events in, %d results, want %d and 10", st.EventsIn, st.Results, n)
	}
}
