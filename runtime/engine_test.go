package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/priority"
	"github.com/cameo-go/cameo/query"
)

func TestMain(m *testing.M) {
	// protoactor's dead-letter throttle keeps a goroutine for its period
	// (one second) after messages reach stopped actors, which happens when
	// a query's parts on other nodes end.
	code := m.Run()
	if code == 0 {
		// A node a test stopped may still be dialling a peer that is gone:
		// protoactor's endpoint writer and the gRPC connection it dials end
		// by themselves within remoteDialTimeout. Wait for them, bounded.
		opts := []goleak.Option{goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")}
		err := goleak.Find(opts...)
		for deadline := time.Now().Add(5 * remoteDialTimeout); err != nil && time.Now().Before(deadline); err = goleak.Find(opts...) {
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func mustParse(t *testing.T, src string) *query.Plan {
	t.Helper()
	s, err := query.Parse(t.Name()+".yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustSpec parses src into a spec to edit; mustCompile compiles it.
func mustSpec(t *testing.T, src string) *query.Spec {
	t.Helper()
	return mustParse(t, src).Spec()
}

func mustCompile(t *testing.T, s *query.Spec) *query.Plan {
	t.Helper()
	p, err := query.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newEngine(t *testing.T, opts ...Option) *Engine {
	t.Helper()
	e, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return e
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConfigErrors(t *testing.T) {
	_, err := New(WithWorkers(-1), WithScheduler("lifo"), WithMaxBatch(-2), WithSourceTick(time.Hour))
	if !errors.Is(err, ErrBadConfig) || !errors.Is(err, actors.ErrUnknownScheduler) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"workers -1", `"lifo"`, "max batch -2", "source tick 1h0m0s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q missing from %v", want, err)
		}
	}
}

// Submit takes compiled plans only: a spec is compiled (and validated)
// first, and no plan is no query.
func TestSubmitNeedsAPlan(t *testing.T) {
	e := newEngine(t)
	if _, err := e.Submit(context.Background(), nil); !errors.Is(err, query.ErrInvalidSpec) || !strings.Contains(err.Error(), "no plan") {
		t.Fatalf("nil plan: %v", err)
	}
	_, err := query.Compile(&query.Spec{Name: "x", Sources: []query.Source{{Name: "s"}}, Pipeline: []query.Operator{{Filter: "true"}}})
	if !errors.Is(err, query.ErrInvalidSpec) || !strings.Contains(err.Error(), "sources[0]: no input") {
		t.Fatalf("compiling a spec without input: %v", err)
	}
}

const endless = `
name: endless
tenant: t
latency_target: 20ms
parallelism: 2
sources:
  - name: s
    generator: {rate: 5000, seed: 1, keys: {count: 3}}
pipeline:
  - key_by: key
  - window: {tumbling: 1h}
    aggregate: {n: count()}
sink: {discard: {}}
`

// Cancel drains: the endless source stops, the hour-long window flushes
// its partial counts, the sink closes.
func TestCancelDrains(t *testing.T) {
	e := newEngine(t, WithWorkers(2))
	spec := mustSpec(t, endless)
	var mu sync.Mutex
	var total int64
	spec.Sink = query.Sink{Output: query.SinkFunc(func(evs []query.Event) error {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range evs {
			total += ev.Fields.Get("n").(int64)
		}
		return nil
	})}
	q, err := e.Submit(context.Background(), mustCompile(t, spec))
	if err != nil {
		t.Fatal(err)
	}
	for q.Stats().EventsIn < 500 {
		time.Sleep(5 * time.Millisecond) // let events flow; the assertions below do not depend on timing
	}
	if err := e.Cancel(waitCtx(t), q.ID()); err != nil {
		t.Fatal(err)
	}
	if q.State() != StateCancelled {
		t.Fatalf("state %s", q.State())
	}
	mu.Lock()
	defer mu.Unlock()
	if in := q.Stats().EventsIn; uint64(total) != in {
		t.Fatalf("flushed windows count %d events, %d went in", total, in)
	}
	if _, ok := e.Query(q.ID()); ok {
		t.Fatal("cancelled query still listed")
	}
	if err := e.Cancel(waitCtx(t), q.ID()); !errors.Is(err, ErrUnknownQuery) {
		t.Fatalf("second cancel: %v", err)
	}
}

func TestStopDrainsAndRefusesSubmits(t *testing.T) {
	e := newEngine(t)
	var qs []*Query
	for i := 0; i < 3; i++ {
		q, err := e.Submit(context.Background(), mustParse(t, endless))
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
	}
	if err := e.Stop(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.State() != StateDone || q.Err() != nil {
			t.Errorf("%s: %s %v", q.ID(), q.State(), q.Err())
		}
	}
	if _, err := e.Submit(context.Background(), mustParse(t, endless)); !errors.Is(err, ErrStopped) {
		t.Fatalf("submit after stop: %v", err)
	}
	if err := e.Stop(waitCtx(t)); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

const small = `
name: small
tenant: t
latency_target: 20ms
sources:
  - name: s
    generator: {rate: 100000, duration: 20ms, seed: 1, keys: {count: 3}, fields: {v: {uniform: [0, 9]}}}
pipeline:
  - filter: 'v >= 0'
sink: {discard: {}}
`

// A panicking user operator fails its query with the reason; a query next
// to it completes.
func TestPanicFailsOnlyItsQuery(t *testing.T) {
	e := newEngine(t, WithUnpacedSources())
	bad := mustSpec(t, small)
	bad.Pipeline = append(bad.Pipeline, query.Operator{Label: "explode", Process: func(ev query.Event, out []query.Event) ([]query.Event, error) {
		panic("boom")
	}})
	qb, err := e.Submit(context.Background(), mustCompile(t, bad))
	if err != nil {
		t.Fatal(err)
	}
	qg, err := e.Submit(context.Background(), mustParse(t, small))
	if err != nil {
		t.Fatal(err)
	}
	err = qb.Wait(waitCtx(t))
	if !errors.Is(err, ErrQueryFailed) || !strings.Contains(err.Error(), "pipeline[1] explode: panic: boom") || qb.State() != StateFailed {
		t.Fatalf("bad query: %v, %s", err, qb.State())
	}
	if err := qg.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st := qg.Stats(); st.Results != 2000 {
		t.Fatalf("good query: %d results, want 2000", st.Results)
	}
}

func TestSinkAndSourceErrorsFail(t *testing.T) {
	e := newEngine(t, WithUnpacedSources())
	s := mustSpec(t, small)
	s.Sink = query.Sink{Output: query.SinkFunc(func([]query.Event) error { return errors.New("disk full") })}
	q, err := e.Submit(context.Background(), mustCompile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(waitCtx(t)); !errors.Is(err, ErrQueryFailed) || !strings.Contains(err.Error(), "sink: disk full") {
		t.Fatalf("sink error: %v", err)
	}
	s = mustSpec(t, small)
	s.Sources[0] = query.Source{Name: "s", Input: query.SourceFunc(func(ctx context.Context, emit func(query.Event) error) error {
		_ = emit(query.Event{Fields: query.MakeFields(map[string]any{"v": 1})})
		return errors.New("connection reset")
	})}
	q, err = e.Submit(context.Background(), mustCompile(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(waitCtx(t)); !errors.Is(err, ErrQueryFailed) || !strings.Contains(err.Error(), "source s: connection reset") {
		t.Fatalf("source error: %v", err)
	}
}

// Stdout sinks write one JSON object per result.
func TestStdoutSinkWritesJSONLines(t *testing.T) {
	var buf bytes.Buffer
	e := newEngine(t, WithStdout(&syncWriter{w: &buf}), WithUnpacedSources())
	s := mustParse(t, strings.Replace(small, "sink: {discard: {}}", "sink: {stdout: {}}", 1))
	q, err := e.Submit(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2000 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["key"] == nil || m["v"] == nil {
			t.Fatalf("line %q: %v", l, err)
		}
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// JSON lines from stdin, with bad lines counted and explained; relative
// paths resolve against the spec's directory; late events go to the side
// sink.
func TestJSONLSourcesAndLateSideSink(t *testing.T) {
	dir := t.TempDir()
	in := strings.Join([]string{
		`{"key":"a","ts":1000}`, `{"key":"a","ts":1500}`, `{"key":"b","ts":2600}`,
		`{"key":"a","ts":100}`, // late: the watermark is 2600 − 500
		`oops`, `{"key":"a","ts":3100}`,
	}, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := `
name: files
tenant: t
latency_target: 1s
sources:
  - name: s
    jsonl: {path: in.jsonl}
    event_time: {field: ts, format: unix_ms, max_out_of_order: 500ms, late_sink: late.jsonl}
pipeline:
  - key_by: key
  - window: {tumbling: 1s}
    aggregate: {n: count()}
sink: {file: {path: out.jsonl}}
`
	st := runSpecFile(t, newEngine(t), dir, spec).Stats()
	if st.Late != 1 || st.Dropped != 1 || !strings.Contains(st.LastDropReason, "in.jsonl:5: query: bad JSON line") {
		t.Fatalf("late %d dropped %d (%s)", st.Late, st.Dropped, st.LastDropReason)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	late, _ := os.ReadFile(filepath.Join(dir, "late.jsonl"))
	if n := strings.Count(string(out), "\n"); n != 3 {
		t.Fatalf("%d results:\n%s", n, out)
	}
	if !strings.Contains(string(late), `"ts":100`) {
		t.Fatalf("late side sink: %q", late)
	}

	// The same from stdin, on processing time.
	stdin := strings.NewReader("{\"key\":\"x\"}\n{\"key\":\"y\"}\nnot json\n")
	e2 := newEngine(t, WithStdin(stdin))
	s2 := mustParse(t, `
name: stdin
tenant: t
latency_target: 1s
sources: [{name: s, jsonl: {stdin: true}}]
pipeline: [{filter: 'key != "y"'}]
sink: {discard: {}}
`)
	q2, err := e2.Submit(context.Background(), s2)
	if err != nil {
		t.Fatal(err)
	}
	if err := q2.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st := q2.Stats(); st.EventsIn != 2 || st.Results != 1 || st.Dropped != 1 || !strings.Contains(st.LastDropReason, "stdin:3") {
		t.Fatalf("stdin: %+v", st)
	}
}

func TestMissingInputFileFailsSubmit(t *testing.T) {
	e := newEngine(t)
	s := mustParse(t, `
name: nofile
tenant: t
latency_target: 1s
sources: [{name: s, jsonl: {path: /nonexistent/in.jsonl}}]
pipeline: []
sink: {discard: {}}
`)
	if _, err := e.Submit(context.Background(), s); err == nil || !strings.Contains(err.Error(), "source s: open /nonexistent/in.jsonl") {
		t.Fatalf("err %v", err)
	}
}

// readsBroker reports whether a source of s connects out (Kafka).
func readsBroker(s *query.Spec) bool {
	for _, u := range s.Uses() {
		if u.What == query.Connects && strings.HasPrefix(u.Field, "sources") {
			return true
		}
	}
	return false
}

// Every example spec runs: each is cut short after some events (Cancel
// drains it) with its sink replaced, and must end cleanly with results.
func TestExamplesRun(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.*")
	more, _ := filepath.Glob("../examples/*/*.yaml")
	files = append(files, more...)
	e := newEngine(t, WithUnpacedSources())
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".jsonl") || strings.HasSuffix(f, ".txt") || strings.HasSuffix(f, ".sh") {
			continue
		}
		n++
		p, err := query.ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := p.Spec()
		if readsBroker(s) {
			continue // needs a broker: the connector's tests run it on kfake
		}
		s.Sink = query.Sink{Output: query.Discard{}}
		q, err := e.Submit(context.Background(), mustCompile(t, s))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for q.Stats().EventsIn < 20000 && q.State() == StateRunning {
			time.Sleep(time.Millisecond) // polls progress only; the checks below do not depend on timing
		}
		if err := q.Cancel(waitCtx(t)); err != nil || q.Err() != nil {
			t.Fatalf("%s: %v %v", f, err, q.Err())
		}
		if st := q.Stats(); st.Results == 0 || st.Dropped != 0 {
			t.Errorf("%s: %d results, %d dropped (%s)", f, st.Results, st.Dropped, st.LastDropReason)
		}
	}
	if n < 5 {
		t.Fatalf("%d example specs", n)
	}
}

// An idle input stops holding the watermark back: with source b silent
// past its idle timeout, windows fire on a's progress alone, while both
// sources are still open.
func TestIdleTimeoutLetsWindowsFire(t *testing.T) {
	spec := mustSpec(t, `
name: idle
tenant: t
latency_target: 1s
sources:
  - name: a
    jsonl: {stdin: true}
    event_time: {field: ts, format: unix_ms}
  - name: b
    jsonl: {path: /dev/null}
    event_time: {field: ts, format: unix_ms}
pipeline:
  - union: [b]
  - key_by: key
  - window: {tumbling: 1s}
    aggregate: {n: count()}
sink: {discard: {}}
`)
	block := make(chan struct{})
	defer close(block)
	emitThenWait := func(first int64) query.SourceFunc {
		return func(ctx context.Context, emit func(query.Event) error) error {
			for i := int64(0); i < 5; i++ {
				if err := emit(query.Event{Key: "k", Fields: query.MakeFields(map[string]any{"ts": first + 500*i})}); err != nil {
					return err
				}
			}
			select { // stay open, silent
			case <-ctx.Done():
			case <-block:
			}
			return nil
		}
	}
	spec.Sources[0] = query.Source{Name: "a", Input: query.SourceFunc(emitThenWait(10_000)), EventTime: spec.Sources[0].EventTime}
	idle := *spec.Sources[1].EventTime
	idle.IdleTimeout = 20 * time.Millisecond
	spec.Sources[1] = query.Source{Name: "b", Input: query.SourceFunc(emitThenWait(0)), EventTime: &idle}
	fired := make(chan int64, 16)
	spec.Sink = query.Sink{Output: query.SinkFunc(func(evs []query.Event) error {
		for _, ev := range evs {
			fired <- ev.Fields.Get("window_start").(int64)
		}
		return nil
	})}
	e := newEngine(t)
	q, err := e.Submit(context.Background(), mustCompile(t, spec))
	if err != nil {
		t.Fatal(err)
	}
	// b's events (0–2 s) hold the watermark at 2 s until b is idle; then
	// a's (10–12 s) move it to 12 s and a's first window, [10 s, 11 s),
	// fires.
	timeout := time.After(10 * time.Second)
	for ws := int64(0); ws != 10_000*1e6; {
		select {
		case ws = <-fired:
		case <-timeout:
			t.Fatalf("a's window [10 s, 11 s) did not fire while b was idle; stats %+v", q.Stats())
		}
	}
	if q.State() != StateRunning {
		t.Fatalf("state %s: windows should fire while the sources are open", q.State())
	}
}

// By default (lookahead), messages bound for a stateless step upstream of
// a window take that window's frontier (its end); with PaperFrontiers,
// their own arrival.
func TestLookaheadGivesUpstreamTheWindowFrontier(t *testing.T) {
	for _, lookahead := range []bool{false, true} {
		var opts []Option
		if !lookahead {
			opts = append(opts, WithPaperFrontiers())
		}
		e := newEngine(t, opts...)
		q, err := e.Submit(context.Background(), mustParse(t, endless)) // key_by → 1 h window
		if err != nil {
			t.Fatal(err)
		}
		at := int64(90 * time.Minute)
		fr := q.ruleFor(q.stages[0], q.stages[0].insts[0], 0).Next(priority.Stamp{Arrival: at, Time: at, Watermark: priority.NoWatermark})
		want := at // its own arrival
		if lookahead {
			want = int64(2 * time.Hour) // the end of the window holding it
		}
		if fr.Time != want {
			t.Errorf("lookahead %v: frontier %v, want %v", lookahead, time.Duration(fr.Time), time.Duration(want))
		}
		// The window's own rule and the sink's are unchanged.
		if fr := q.ruleFor(q.stages[2], q.stages[2].insts[0], 0).Next(priority.Stamp{Arrival: at, Time: at}); fr.Time != at {
			t.Errorf("lookahead %v: the sink's frontier %v, want the result's arrival", lookahead, time.Duration(fr.Time))
		}
		if err := e.Cancel(waitCtx(t), q.ID()); err != nil {
			t.Fatal(err)
		}
	}
}

// On processing time, a message's stamp carries the watermark its mark
// moves the receiver to: behind a shuffle, events of the next window can
// travel while the sender's watermark is still in the current one, and the
// message that moves it past the end (often a mark alone) is the one that
// fires the window, so it must carry the closing window's frontier.
func TestProcessingTimeStampClosesByWatermark(t *testing.T) {
	e := newEngine(t)
	q, err := e.Submit(context.Background(), mustParse(t, endless)) // key_by → 1 h window
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Cancel(waitCtx(t), q.ID()) }()
	hour := int64(time.Hour)
	rule := q.ruleFor(q.stages[1], q.stages[1].insts[0], 0) // the window's
	ev := func(at int64) []query.Event {
		return []query.Event{{Arrival: at, Fields: query.MakeFields(map[string]any{"key": "a"})}}
	}
	steps := []struct {
		name    string
		events  []query.Event
		wm      int64
		closing bool
		due     int64
	}{
		{"events of hour 0", ev(hour / 2), hour / 2, false, hour},
		{"events of hour 1, watermark still in hour 0", ev(hour + 5), hour - 10, false, 2 * hour},
		{"a mark alone past the end", nil, hour + 1, true, hour},
		{"more of hour 1", ev(hour + 7), hour + 7, false, 2 * hour},
	}
	last := query.NoWatermark
	for _, s := range steps {
		st := q.stamp(hour+10, last, s.events, mark{wm: s.wm})
		if st.Watermark != s.wm {
			t.Fatalf("%s: stamp watermark %d, want the mark's %d", s.name, st.Watermark, s.wm)
		}
		fr := rule.Next(st)
		if fr.Closing != s.closing || fr.Time != s.due {
			t.Errorf("%s: frontier %+v, want closing %v due %v", s.name, fr, s.closing, time.Duration(s.due))
		}
		last = max(last, s.wm)
	}
}

// Ended queries are forgotten past the count and the time an engine keeps
// them; running ones never are, and a caller's handle stays valid.
func TestEndedQueriesAreForgotten(t *testing.T) {
	e := newEngine(t, WithUnpacedSources(), WithKeepEnded(2, time.Hour))
	var qs []*Query
	for range 4 {
		q, err := e.Submit(context.Background(), mustParse(t, small))
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Wait(waitCtx(t)); err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
	}
	if got := e.Queries(); len(got) != 2 || got[0] != qs[2] || got[1] != qs[3] {
		t.Fatalf("kept %d queries, want the newest 2", len(got))
	}
	if _, ok := e.Query(qs[0].ID()); ok {
		t.Error("the oldest ended query is still known")
	}
	if len(e.Metrics().Queries()) != 2 {
		t.Errorf("metrics of %d queries, want 2", len(e.Metrics().Queries()))
	}
	if st := qs[0].Stats(); st.Results != 2000 {
		t.Errorf("a forgotten query's handle: %d results", st.Results)
	}

	e2 := newEngine(t, WithUnpacedSources(), WithKeepEnded(100, time.Millisecond))
	q, err := e2.Submit(context.Background(), mustParse(t, small))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // past the 1 ms it is kept: a lower bound, not a race
	if got := e2.Queries(); len(got) != 0 {
		t.Errorf("%d queries kept past KeepEndedFor", len(got))
	}
}

// A query whose shuffles fan one source batch out past the in-flight bound
// is refused with the parallelism that fits.
func TestFanOutBeyondTheInFlightBoundIsRefused(t *testing.T) {
	e := newEngine(t, WithUnpacedSources(), WithMaxInFlight(4096))
	spec := func(p int) *query.Plan {
		return mustParse(t, strings.Replace(`
name: wide
latency_target: 1s
parallelism: P
sources: [{name: s, generator: {rate: 1000, duration: 10ms, keys: {count: 50}}}]
pipeline:
  - key_by: key
  - window: {tumbling: 1s}
    aggregate: {n: count()}
  - key_by: key
  - window: {tumbling: 1s}
    aggregate: {m: count()}
sink: {discard: {}}
`, "P", strconv.Itoa(p), 1))
	}
	_, err := e.Submit(context.Background(), spec(1024))
	if !errors.Is(err, query.ErrInvalidSpec) || !strings.Contains(err.Error(), "parallelism: 1024") || !strings.Contains(err.Error(), "(parallelism 64 fits)") {
		t.Fatalf("parallelism 1024 over two shuffles: %v", err)
	}
	q, err := e.Submit(context.Background(), spec(64))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// Each source's allowed lateness holds for the steps its events reach: a
// union of a source without lateness and one allowing 5 s keeps the second
// one's event 4 s behind its own watermark in its window.
func TestLatenessPerSource(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	const s = 1_700_000_000_000 // ms
	if err := os.WriteFile(a, fmt.Appendf(nil, "{\"key\":\"k\",\"ts\":%d}\n{\"key\":\"k\",\"ts\":%d}\n{\"key\":\"k\",\"ts\":%d}\n", s+500, s+4500, s+20000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, fmt.Appendf(nil, "{\"key\":\"k\",\"ts\":%d}\n{\"key\":\"k\",\"ts\":%d}\n", s+9000, s+5000), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := mustSpec(t, `
name: lateness
latency_target: 1s
sources:
  - name: a
    jsonl: {path: A}
    event_time: {field: ts, format: unix_ms}
  - name: b
    jsonl: {path: B}
    event_time: {field: ts, format: unix_ms, allowed_lateness: 5s}
pipeline:
  - union: [b]
  - key_by: key
  - window: {tumbling: 2s}
    aggregate: {n: count()}
`)
	spec.Sources[0].Input.(*query.JSONL).Path = a
	spec.Sources[1].Input.(*query.JSONL).Path = b
	var mu sync.Mutex
	counts := map[int64]int64{}
	spec.Sink = query.Sink{Output: query.SinkFunc(func(rs []query.Event) error {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rs {
			counts[r.Fields.Get("window_start").(int64)/1e6-s] = r.Fields.Get("n").(int64)
		}
		return nil
	})}
	e := newEngine(t, WithWorkers(2))
	q, err := e.Submit(context.Background(), mustCompile(t, spec))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if counts[4000] != 2 || q.Stats().Late != 0 {
		t.Fatalf("windows %v, late %d: want b's event at 5 s in [4 s, 6 s) with a's", counts, q.Stats().Late)
	}
}
