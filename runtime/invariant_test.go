package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/connector"
	"github.com/cameo-go/cameo/query"
)

// The invariant: scheduling changes latency, never results.
// TestInvariantEveryScheduler runs queries of every operator kind — filter,
// map, key_by, tumbling and sliding windows over processing and event time
// (with late events), union, windowed join, user operators and user
// aggregates — together on one engine under every scheduler, with random
// parallelism, batch sizes and worker counts, and compares each query's
// results and late count with a straightforward single-threaded reference
// computation: the same multiset, exactly.

// t0 is the manual clock's time: generators start there, so their events
// are known in advance.
const t0 = int64(1_763_900_000_000_000_000)

type invCase struct {
	name string
	spec string // YAML; %s is the temp dir
	// user adds Go functions to a parsed spec (user operators).
	user func(*query.Spec)
}

func invCases() []invCase {
	return []invCase{
		{name: "stateless", spec: `
name: stateless
tenant: a
latency_target: 20ms
parallelism: {{P}}
sources:
  - name: s
    generator: {rate: 100000, duration: 40ms, seed: {{SEED}}, keys: {count: 7}, fields: {v: {uniform: [0, 99]}, level: {choice: [info, warn, error]}}}
pipeline:
  - filter: 'v % 3 != 0'
  - map: {v2: 'v * 2', level: level, big: 'v > 50'}
  - filter: 'level != "info"'
sink: {discard: {}}
`},
		{name: "tumbling", spec: `
name: tumbling
tenant: a
latency_target: 50ms
parallelism: {{P}}
sources:
  - name: s
    generator: {rate: 100000, duration: 50ms, seed: {{SEED}}, keys: {count: 13, distribution: zipf}, fields: {v: {uniform: [-50, 50]}, level: {choice: [info, error], weights: [3, 1]}}}
pipeline:
  - filter: 'level == "error" || v > 0'
  - key_by: key
  - window: {tumbling: 3ms}
    aggregate: {n: count(), s: sum(v), lo: min(v), hi: max(v), mean: avg(v)}
sink: {discard: {}}
`},
		{name: "sliding", spec: `
name: sliding
tenant: b
latency_target: 1s
parallelism: {{P}}
sources:
  - name: s
    generator: {rate: 80000, duration: 50ms, seed: {{SEED}}, keys: {count: 5}, fields: {v: {uniform: [0, 9]}, page: {choice: [a, b, c]}}}
pipeline:
  - key_by: page
  - window: {sliding: {size: 4ms, slide: 1ms}}
    aggregate: {n: count(), s: sum(v)}
  - filter: 'n > 1'
sink: {discard: {}}
`},
		{name: "union", spec: `
name: union
tenant: b
latency_target: 100ms
parallelism: {{P}}
sources:
  - name: s
    generator: {rate: 60000, duration: 40ms, seed: {{SEED}}, keys: {count: 4}, fields: {v: {uniform: [0, 9]}}}
  - name: t
    generator: {rate: 30000, duration: 60ms, seed: 99, keys: {count: 6}, fields: {v: {uniform: [10, 19]}}}
pipeline:
  - union: [t]
  - key_by: key
  - window: {tumbling: 5ms}
    aggregate: {n: count(), s: sum(v)}
sink: {discard: {}}
`},
		{name: "user", spec: `
name: user
tenant: c
latency_target: 30ms
parallelism: {{P}}
sources:
  - name: s
    generator: {rate: 50000, duration: 40ms, seed: {{SEED}}, keys: {count: 9}, fields: {v: {uniform: [0, 30]}}}
pipeline:
  - key_by: key
  - window: {tumbling: 4ms}
    aggregate: {n: count()}
sink: {discard: {}}
`, user: func(s *query.Spec) {
			// A flat map (events with an even v twice, odd ones dropped), a
			// key function and a distinct-count aggregate.
			flat := query.Operator{Label: "twice-even", Process: func(ev query.Event, out []query.Event) ([]query.Event, error) {
				if ev.Fields.Get("v").(int)%2 == 1 {
					return out, nil
				}
				return append(out, ev, ev), nil
			}}
			s.Pipeline[0] = query.Operator{KeyFunc: func(ev query.Event) string { return fmt.Sprint(ev.Fields.Get("v").(int) % 4) }}
			s.Pipeline = append([]query.Operator{flat}, s.Pipeline...)
			s.Pipeline[2].Window.Aggregates = append(s.Pipeline[2].Window.Aggregates, query.Aggregate{Name: "distinct", Func: "user", User: func() query.Accumulator { return &distinct{} }})
		}},
		{name: "event-time", spec: `
name: event-time
tenant: c
latency_target: 200ms
parallelism: {{P}}
sources:
  - name: s
    jsonl: {path: {{DIR}}/a.jsonl}
    event_time: {field: ts, format: unix_ms, max_out_of_order: 20ms, allowed_lateness: 5ms}
pipeline:
  - key_by: key
  - window: {sliding: {size: 30ms, slide: 10ms}}
    aggregate: {n: count(), s: sum(v), x: sum(x)}
sink: {discard: {}}
`},
		{name: "join", spec: `
name: join
tenant: d
latency_target: 200ms
parallelism: {{P}}
sources:
  - name: s
    jsonl: {path: {{DIR}}/a.jsonl}
    event_time: {field: ts, format: unix_ms, max_out_of_order: 20ms}
  - name: pay
    jsonl: {path: {{DIR}}/b.jsonl}
    event_time: {field: ts, format: unix_ms, max_out_of_order: 10ms}
pipeline:
  - key_by: 'v % 5'
  - join: {with: pay, on: 'w % 5', window: 25ms}
  - filter: 'pay.w > v'
sink: {discard: {}}
`},
	}
}

type distinct struct{ seen map[any]bool }

func (d *distinct) Add(ev query.Event) error {
	if d.seen == nil {
		d.seen = map[any]bool{}
	}
	d.seen[ev.Fields.Get("v")] = true
	return nil
}
func (d *distinct) Result() any { return len(d.seen) }

// writeJSONL writes n event-time records with bounded disorder and a few
// far-late ones (deterministic lateness) to path.
func writeJSONL(t *testing.T, path string, seed uint64, n int, field string) {
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	base := int64(1_763_900_000_000)
	for i := 0; i < n; i++ {
		ts := base + int64(i/4) + r.Int64N(15) // 4 per ms, up to 15 ms of disorder
		if r.IntN(40) == 0 {
			ts -= 60 + r.Int64N(40) // far behind the watermark: late
		}
		fmt.Fprintf(&b, `{"key":"k%d","ts":%d,"%s":%d,"x":%v}`+"\n", r.IntN(6), ts, field, r.IntN(40), float64(r.IntN(20))/2)
		if i%97 == 0 {
			b.WriteString("not json\n") // dropped and counted
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func parseCase(t *testing.T, c invCase, dir string, p int, seed uint64) *query.Spec {
	src := strings.NewReplacer("{{P}}", fmt.Sprint(p), "{{SEED}}", fmt.Sprint(seed), "{{DIR}}", dir).Replace(c.spec)
	plan, err := query.Parse(c.name+".yaml", []byte(src))
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	s := plan.Spec()
	if c.user != nil {
		c.user(s)
	}
	return s
}

func TestInvariantEveryScheduler(t *testing.T) {
	dir := t.TempDir()
	writeJSONL(t, filepath.Join(dir, "a.jsonl"), 1, 2400, "v")
	writeJSONL(t, filepath.Join(dir, "b.jsonl"), 2, 1600, "w")
	r := rand.New(rand.NewPCG(42, 7))
	for _, sched := range actors.SchedulerNames() {
		t.Run(sched, func(t *testing.T) {
			workers, batch, slice := 1+r.IntN(3), []int{1, 7, 64, 1024}[r.IntN(4)], []int{1, 3, DefaultFireSlice}[r.IntN(3)]
			clk := actors.NewManualClock(t0)
			e, err := New(WithScheduler(sched), WithWorkers(workers), WithClock(clk), WithUnpacedSources(), WithMaxBatch(batch), WithMaxInFlight(64), WithFireSlice(slice))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("workers %d, max batch %d, fire slice %d", workers, batch, slice)
			type run struct {
				c    invCase
				spec *query.Spec
				plan *query.Plan
				q    *Query
				mu   sync.Mutex
				got  []query.Event
			}
			var runs []*run
			for _, c := range invCases() {
				rn := &run{c: c, spec: parseCase(t, c, dir, 1+r.IntN(3), r.Uint64N(1000))}
				rn.spec.Sink = query.Sink{Output: query.SinkFunc(func(evs []query.Event) error {
					rn.mu.Lock()
					rn.got = append(rn.got, evs...)
					rn.mu.Unlock()
					return nil
				})}
				runs = append(runs, rn)
			}
			for _, rn := range runs {
				rn.plan = mustCompile(t, rn.spec)
				if rn.q, err = e.Submit(context.Background(), rn.plan); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for _, rn := range runs {
				if err := rn.q.Wait(ctx); err != nil {
					t.Fatalf("%s: %v", rn.c.name, err)
				}
				want, late, dropped := reference(t, rn.plan)
				st := rn.q.Stats()
				got := canonical(rn.got)
				if !slices.Equal(got, want) {
					t.Errorf("%s (parallelism %d): %d results, reference %d\n%s", rn.c.name, rn.spec.Parallelism, len(got), len(want), diff(got, want))
				}
				if st.Late != uint64(late) || st.Dropped != uint64(dropped) {
					t.Errorf("%s: late %d dropped %d, reference late %d dropped %d", rn.c.name, st.Late, st.Dropped, late, dropped)
				}
				if len(want) == 0 {
					t.Errorf("%s: the reference has no results; the case tests nothing", rn.c.name)
				}
			}
			if err := e.Stop(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func canonical(evs []query.Event) []string {
	out := make([]string, len(evs))
	for i := range evs {
		out[i] = string(connector.AppendJSON(nil, &evs[i]))
	}
	slices.Sort(out)
	return out
}

func diff(got, want []string) string {
	var b strings.Builder
	g, w := map[string]int{}, map[string]int{}
	for _, s := range got {
		g[s]++
	}
	for _, s := range want {
		w[s]++
	}
	n := 0
	for s, c := range g {
		if w[s] != c && n < 5 {
			fmt.Fprintf(&b, "  got %d× want %d×: %s", c, w[s], s)
			n++
		}
	}
	for s, c := range w {
		if g[s] == 0 && n < 10 {
			fmt.Fprintf(&b, "  missing (want %d×): %s", c, s)
			n++
		}
	}
	return b.String()
}

// reference computes a query's results, late and dropped counts in one
// thread over the whole input: each source's events in order, stamped
// with the source's watermark before them; stateless steps event by event;
// windows and joins by grouping everything at once. seeded is the spec
// the engine ran (for its generator seeds and user functions).
func reference(t *testing.T, plan *query.Plan) (results []string, late, dropped int) {
	s := plan.Spec()
	streams := map[string][]query.Event{}
	for _, src := range s.Sources {
		var evs []query.Event
		wm, maxSeen := query.NoWatermark, int64(math.MinInt64)
		switch in := src.Input.(type) {
		case *query.Generator:
			g, err := connector.NewGenerator(in, t0)
			if err != nil {
				t.Fatal(err)
			}
			evs = g.Until(math.MaxInt64, 0, nil)
		case *query.JSONL:
			data, err := os.ReadFile(in.Path)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
				ev, err := query.DecodeLine([]byte(line), src.EventTime)
				if err != nil {
					dropped++
					continue
				}
				evs = append(evs, ev)
			}
		}
		for i := range evs {
			ev := &evs[i]
			if src.EventTime == nil {
				ev.EventTime = ev.Arrival
			}
			ev.Watermark = wm
			if src.EventTime != nil {
				maxSeen = max(maxSeen, ev.EventTime)
				wm = max(wm, maxSeen-int64(src.EventTime.MaxOutOfOrder))
			}
		}
		streams[src.Name] = evs
	}
	et := s.Sources[0].EventTime
	axis := func(ev *query.Event) int64 { return ev.Arrival }
	var lateness int64
	if et != nil {
		axis = func(ev *query.Event) int64 { return ev.EventTime }
		lateness = int64(et.AllowedLateness)
	}
	cur := streams[s.Sources[0].Name]
	for i := range s.Pipeline {
		op := &s.Pipeline[i]
		switch op.Kind() {
		case query.KindFilter, query.KindMap, query.KindKeyBy, query.KindProcess:
			m, err := plan.Machine(i, 0)
			if err != nil {
				t.Fatal(err)
			}
			st := m.(*query.Stateless)
			var errs []error
			cur, errs = st.Apply(cur, nil)
			dropped += len(errs)
		case query.KindUnion:
			for _, name := range op.Union {
				cur = append(cur, streams[name]...)
			}
		case query.KindWindow:
			var l int
			cur, l = refWindow(op, cur, axis, lateness)
			late += l
		case query.KindJoin:
			right := slices.Clone(streams[op.Join.With])
			j, err := plan.JoinKeyer(i)
			if err != nil {
				t.Fatal(err)
			}
			for i := range right {
				if err := j.KeyRight(&right[i]); err != nil {
					t.Fatal(err)
				}
			}
			var l int
			cur, l = refJoin(op, cur, right, lateness)
			late += l
		}
	}
	return canonical(cur), late, dropped
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// refWindow groups events by (window, key) and aggregates each group.
func refWindow(op *query.Operator, evs []query.Event, axis func(*query.Event) int64, lateness int64) (out []query.Event, late int) {
	size, slide := int64(op.Window.Size), int64(op.Window.Slide)
	if slide == 0 {
		slide = size
	}
	type group struct {
		k   int64
		key string
	}
	groups := map[group][]query.Event{}
	for _, ev := range evs {
		t := axis(&ev)
		in := false
		for k := floorDiv(t-size, slide) + 1; k <= floorDiv(t, slide); k++ {
			if ev.Watermark != query.NoWatermark && k*slide+size+lateness <= ev.Watermark {
				continue
			}
			groups[group{k, ev.Key}] = append(groups[group{k, ev.Key}], ev)
			in = true
		}
		if !in {
			late++
		}
	}
	for g, members := range groups {
		f := map[string]any{"window_start": g.k * slide, "window_end": g.k*slide + size}
		for _, name := range op.Window.KeyFields { // a key_by of a field: its value
			f[name] = members[0].Fields.Get(name)
		}
		for _, a := range op.Window.Aggregates {
			if a.User != nil {
				acc := a.User()
				for _, ev := range members {
					_ = acc.Add(ev)
				}
				f[a.Name] = acc.Result()
				continue
			}
			var vals []float64
			var ints []int64
			isFloat := false
			for _, ev := range members {
				if a.Arg == "" { // count
					continue
				}
				v := ev.Fields.Get(a.Arg)
				switch x := v.(type) {
				case int:
					ints = append(ints, int64(x))
					vals = append(vals, float64(x))
				case float64:
					isFloat = true
					vals = append(vals, x)
				}
			}
			switch a.Func {
			case "count":
				f[a.Name] = int64(len(members))
			case "sum":
				if isFloat {
					s := 0.0
					for _, v := range vals {
						s += v
					}
					f[a.Name] = s
				} else {
					var s int64
					for _, v := range ints {
						s += v
					}
					f[a.Name] = s
				}
			case "min":
				f[a.Name] = slices.Min(ints)
			case "max":
				f[a.Name] = slices.Max(ints)
			case "avg":
				var s int64
				for _, v := range ints {
					s += v
				}
				f[a.Name] = float64(s) / float64(len(ints))
			}
		}
		out = append(out, query.Event{Key: g.key, Fields: query.MakeFields(f)})
	}
	// Steps after a window see its results in the reference as well.
	return out, late
}

// refJoin pairs left and right events of the same key in the same window.
func refJoin(op *query.Operator, left, right []query.Event, lateness int64) (out []query.Event, late int) {
	size := int64(op.Join.Window)
	type group struct {
		k   int64
		key string
	}
	sides := [2]map[group][]query.Event{{}, {}}
	for side, evs := range [2][]query.Event{left, right} {
		for _, ev := range evs {
			k := floorDiv(ev.EventTime, size)
			if ev.Watermark != query.NoWatermark && (k+1)*size+lateness <= ev.Watermark {
				late++
				continue
			}
			sides[side][group{k, ev.Key}] = append(sides[side][group{k, ev.Key}], ev)
		}
	}
	for g, ls := range sides[0] {
		for _, l := range ls {
			for _, r := range sides[1][g] {
				f := map[string]any{}
				for k, v := range l.Fields.All() {
					f[k] = v
				}
				f[op.Join.With] = r.Fields.Map()
				f["window_start"], f["window_end"] = g.k*size, (g.k+1)*size
				out = append(out, query.Event{Key: g.key, EventTime: (g.k+1)*size - 1, Fields: query.MakeFields(f)})
			}
		}
	}
	return out, late
}
