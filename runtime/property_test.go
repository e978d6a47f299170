package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/cameo-go/cameo/query"
)

// randomSpec writes a random spec from the whole language, with numbers
// drawn toward the limits validation allows: rates, key counts, ranges,
// window shapes, targets, parallelism, expressions that divide by zero.
func randomSpec(rng *rand.Rand, i int) string {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	var b strings.Builder
	fmt.Fprintf(&b, "name: p%d\ntenant: t%d\nlatency_target: %s\nparallelism: %d\n", i, rng.IntN(3),
		pick("1ns", "1ms", "50ms", "2s", "24h"), 1+rng.IntN(8))
	gen := func(name string) {
		fmt.Fprintf(&b, "  - name: %s\n    generator: {rate: %s, duration: %s, seed: %d, arrivals: %s, keys: {count: %s, distribution: %s},\n",
			name, pick("0.001", "1", "1000", "100000", "10000000"), pick("0s", "1ms", "300ms", "8760h"), rng.IntN(100),
			pick("steady", "poisson"), pick("1", "7", "1000", "1000000"), pick("uniform", "zipf"))
		fmt.Fprintf(&b, "      fields: {v: {uniform: [%s]}, x: {normal: [0, %s]}, c: {choice: [a, b, c]}, ts: {uniform: [0, 1000]}}",
			pick("0, 9", "-9007199254740992, 9007199254740992", "-1e300, 1e300", "5, 5"), pick("0", "1", "1e300"))
		if rng.IntN(3) == 0 {
			fmt.Fprintf(&b, ",\n      bursts: [{at: 0s, for: %s, factor: %s}]", pick("1ms", "1s"), pick("0.001", "2", "1000"))
		}
		b.WriteString("}\n")
	}
	b.WriteString("sources:\n")
	gen("s")
	extra := rng.IntN(3) // 0: none, 1: union, 2: join
	if extra > 0 {
		gen("o")
	}
	b.WriteString("pipeline:\n")
	keyed := false
	for range rng.IntN(5) {
		switch rng.IntN(4) {
		case 0:
			fmt.Fprintf(&b, "  - filter: '%s'\n", pick("v > 3", "c == \"a\"", "10 / v > 1", "x != x", "true"))
		case 1:
			fmt.Fprintf(&b, "  - map: {v: '%s', x: x, c: c, ts: ts}\n", pick("v", "v * 2", "10 / v", "v / 0.0", "float(v) * 1e300 * 1e300"))
		case 2:
			fmt.Fprintf(&b, "  - key_by: '%s'\n", pick("key", "c", "string(v)", "string(10 / v)"))
			keyed = true
		case 3:
			if !keyed {
				b.WriteString("  - key_by: key\n")
				keyed = true
			}
			if rng.IntN(2) == 0 {
				fmt.Fprintf(&b, "  - window: {tumbling: %s}\n", pick("1ns", "1ms", "100ms", "168h"))
			} else {
				fmt.Fprintf(&b, "  - window: {sliding: {size: %s, slide: %s}}\n", pick("1s", "10ms"), pick("1ms", "10ms"))
			}
			fmt.Fprintf(&b, "    aggregate: {n: count(), s: sum(%s), m: max(v)}\n", pick("v", "x", "10 / v"))
			b.WriteString("  - map: {v: n, x: float(s), c: key, ts: m}\n")
			keyed = false
		}
	}
	switch extra {
	case 1:
		b.WriteString("  - union: [o]\n")
	case 2:
		if !keyed {
			b.WriteString("  - key_by: key\n")
		}
		fmt.Fprintf(&b, "  - join: {with: o, on: key, window: %s}\n", pick("1ms", "100ms", "168h"))
	}
	b.WriteString("sink: {discard: {}}\n")
	return b.String()
}

// Random valid specs, run a moment each on one node, never take the node
// down: every query ends (done, failed or cancelled) within its drain
// bound, its events are accounted for, and the engine still runs a query
// to completion afterwards. The seeds are fixed; PROPERTY_SEED varies them
// in a longer run.
func TestRandomSpecsNeverTakeTheNodeDown(t *testing.T) {
	// A small backlog bound keeps each drain short; the limits of the specs are what is tested.
	e := newEngine(t, WithWorkers(2), WithQueryMemory(64<<20), WithMaxInFlight(256), WithMaxBatch(128))
	rng := rand.New(rand.NewPCG(12, 34))
	const n = 60
	valid := 0
	var running []*Query
	end := func(q *Query) {
		// A query that cannot drain its backlog within the cancel's bound
		// is aborted: it ends either way, and soon.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		began := time.Now()
		_ = q.Cancel(ctx) // a failure is an end too
		ended := time.NewTimer(10 * time.Second)
		defer ended.Stop()
		select {
		case <-q.Done():
		case <-ended.C:
			buf := make([]byte, 1<<20)
			t.Fatalf("query %s (%s) did not end within 10 s of its cancel's 5 s bound; state %s\n%s", q.ID(), q.Plan().Name(), q.State(), buf[:goruntime.Stack(buf, true)])
		}
		q.wg.Wait()
		if testing.Verbose() {
			t.Logf("%s ended %s after its cancel: %s", q.Plan().Name(), q.State(), time.Since(began).Round(time.Millisecond))
		}
		st := q.Stats()
		if st.EventsRead != st.EventsIn+st.Late+st.Dropped {
			t.Errorf("%s: read %d ≠ in %d + late %d + dropped %d", q.Plan().Name(), st.EventsRead, st.EventsIn, st.Late, st.Dropped)
		}
	}
	for i := range n {
		text := randomSpec(rng, i)
		spec, err := query.Parse(fmt.Sprintf("p%d.yaml", i), []byte(text))
		if err != nil {
			continue // the generator also writes specs validation refuses; those are the parser's tests
		}
		valid++
		q, err := e.Submit(context.Background(), spec)
		if err != nil {
			continue // refused at submit (fan-out): fine, said with a reason
		}
		running = append(running, q)
		if len(running) == 4 {
			time.Sleep(50 * time.Millisecond) // let them run a moment; what matters is that they all end
			for _, q := range running {
				end(q)
			}
			running = running[:0]
		}
	}
	for _, q := range running {
		end(q)
	}
	if valid < n/2 {
		t.Fatalf("only %d of %d random specs were valid: the generator tests too little", valid, n)
	}
	q, err := e.Submit(context.Background(), mustParse(t, small))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(waitCtx(t)); err != nil {
		t.Fatalf("after the random specs: %v", err)
	}
}
