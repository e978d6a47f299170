package connector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/cameo-go/cameo/query"
)

// Generator produces the events of a spec's synthetic source. It is
// deterministic: the same spec, seed and start time give the same events
// with the same arrival stamps, because each event is stamped with its
// scheduled arrival (the rate schedule integrated over the bursts), never
// with the wall time it happened to be produced at. Not safe for concurrent
// use.
type Generator struct {
	spec    *query.Generator
	start   int64
	end     int64   // 0: unbounded
	next    float64 // offset of the next event from start, ns: float64 keeps sub-ns steps exact only near 0
	rng     *rand.Rand
	zipf    *rand.Zipf
	keys    []string
	cumW    [][]float64 // cumulative choice weights per field
	choices [][]any     // choice values, boxed once
	done    bool
	emitted uint64
	// The events' shape, where each spec field goes in it, and the values
	// not yet handed out of the current allocation: events share one
	// allocation per rowChunk events instead of a map each.
	names *query.Names
	pos   []int
	vals  []any
	kinds []genKind // each field's distribution, resolved once
}

type genKind uint8

const (
	genConst genKind = iota
	genChoice
	genUniformInt
	genUniformFloat
	genNormal
)

// rowChunk is how many events' values one allocation holds. A step that
// keeps an event past its message (a join's buffer, a max_by row) copies
// its values out, so a chunk lives only as long as its batch.
const rowChunk = 256

// NewGenerator returns the generator of g starting at start (Unix ns).
func NewGenerator(g *query.Generator, start int64) (*Generator, error) {
	if g.Rate <= 0 || g.Keys.Count < 1 {
		return nil, fmt.Errorf("connector: generator rate %v and key count %d must be > 0 (validate the spec with query.Parse)", g.Rate, g.Keys.Count)
	}
	gen := &Generator{spec: g, start: start, rng: rand.New(rand.NewPCG(g.Seed, g.Seed^0x9e3779b97f4a7c15))}
	if g.Duration > 0 {
		gen.end = start + int64(g.Duration)
	}
	if g.Keys.Count <= eagerKeys {
		gen.keys = make([]string, g.Keys.Count)
		for i := range gen.keys {
			gen.keys[i] = "k" + strconv.Itoa(i)
		}
	}
	if g.Keys.Distribution == "zipf" && g.Keys.Count > 1 {
		gen.zipf = rand.NewZipf(gen.rng, g.Keys.ZipfS, 1, uint64(g.Keys.Count-1))
	}
	names := make([]string, len(g.Fields))
	for i, f := range g.Fields {
		names[i] = f.Name
	}
	gen.names = query.NamesOf(names...)
	gen.pos = make([]int, len(g.Fields))
	gen.kinds = make([]genKind, len(g.Fields))
	for i, f := range g.Fields {
		gen.pos[i] = gen.names.Index(f.Name)
		switch {
		case f.Choice != nil:
			gen.kinds[i] = genChoice
		case f.Uniform != nil && f.Type() == "int":
			gen.kinds[i] = genUniformInt
		case f.Uniform != nil:
			gen.kinds[i] = genUniformFloat
		case f.Normal != nil:
			gen.kinds[i] = genNormal
		}
	}
	gen.cumW = make([][]float64, len(g.Fields))
	gen.choices = make([][]any, len(g.Fields))
	for i, f := range g.Fields {
		if f.Choice == nil {
			continue
		}
		c := make([]float64, len(f.Choice))
		var sum float64
		for j := range f.Choice {
			w := 1.0
			if f.Weights != nil {
				w = f.Weights[j]
			}
			sum += w
			c[j] = sum
		}
		gen.cumW[i] = c
		gen.choices[i] = make([]any, len(f.Choice))
		for j, v := range f.Choice {
			gen.choices[i][j] = v
		}
	}
	return gen, nil
}

// eagerKeys is the most keys a generator formats up front; above it each
// event's key is formatted when drawn, so a spec's key count costs no
// memory until its keys are used.
const eagerKeys = 1 << 16

// key returns the name of key k.
func (g *Generator) key(k int) string {
	if g.keys != nil {
		return g.keys[k]
	}
	return "k" + strconv.Itoa(k)
}

// due returns the time the next event is due, saturated: an offset past
// int64's range (a tiny rate) is never due.
func (g *Generator) due() int64 {
	if g.next >= float64(math.MaxInt64-g.start) {
		return math.MaxInt64
	}
	return g.start + int64(g.next)
}

// rateAt returns the rate (events/s) at offset off from the start.
func (g *Generator) rateAt(off time.Duration) float64 {
	r := g.spec.Rate
	for _, b := range g.spec.Bursts {
		if off >= b.At && off < b.At+b.For {
			r *= b.Factor
		}
	}
	return r
}

// Lag returns how far the generator is behind its schedule at now: now
// minus the time its next event was due, or 0 when it is not behind.
func (g *Generator) Lag(now int64) int64 {
	if g.done {
		return 0
	}
	return max(0, now-g.due())
}

// Missed returns how many events the schedule holds from the next one due
// until stop (or the generator's end, if earlier): the events a source
// stopped at stop never produced. For poisson arrivals it is the expected
// count. 0 once the generator is done.
func (g *Generator) Missed(stop int64) uint64 {
	if g.done {
		return 0
	}
	to := stop
	if g.end > 0 {
		to = min(to, g.end)
	}
	return uint64(math.Round(g.scheduled(g.due(), to)))
}

// scheduled integrates the rate over [from, to) (Unix ns): the rate is
// constant between the bursts' edges, so the integral is exact.
func (g *Generator) scheduled(from, to int64) float64 {
	if to <= from {
		return 0
	}
	edges := []int64{from, to}
	for _, b := range g.spec.Bursts {
		for _, t := range []int64{g.start + int64(b.At), g.start + int64(b.At+b.For)} {
			if t > from && t < to {
				edges = append(edges, t)
			}
		}
	}
	slices.Sort(edges)
	var n float64
	for i := 1; i < len(edges); i++ {
		a, b := edges[i-1], edges[i]
		n += g.rateAt(time.Duration(a-g.start)) * float64(b-a) / 1e9
	}
	return n
}

// Emitted returns how many events the generator has produced.
func (g *Generator) Emitted() uint64 { return g.emitted }

// Done reports whether the generator has produced all its events.
func (g *Generator) Done() bool { return g.done }

// NextArrival returns when the next event is due; ok is false once done.
func (g *Generator) NextArrival() (t int64, ok bool) { return g.due(), !g.done }

// Until appends to out every event due at or before now, at most max of
// them in this call (max <= 0: no limit), and returns it.
func (g *Generator) Until(now int64, max int, out []query.Event) []query.Event {
	base := len(out)
	g.checkEnd()
	for !g.done && g.due() <= now && (max <= 0 || len(out)-base < max) {
		at := g.due()
		out = append(out, g.event(at))
		g.emitted++
		gap := 1e9 / g.rateAt(time.Duration(at-g.start))
		if g.spec.Arrivals == "poisson" {
			gap *= g.rng.ExpFloat64()
		}
		g.next += gap
		g.checkEnd()
	}
	return out
}

// checkEnd marks the generator done once its next event falls at or after
// its end, so that a generator whose next gap is longer than what is left
// of its duration ends now rather than when that event would be due.
// An event due past int64's range of time never comes: done too.
func (g *Generator) checkEnd() {
	if d := g.due(); d == math.MaxInt64 || g.end > 0 && d >= g.end {
		g.done = true
	}
}

func (g *Generator) event(at int64) query.Event {
	var k int
	if g.zipf != nil {
		k = int(g.zipf.Uint64())
	} else {
		k = g.rng.IntN(g.spec.Keys.Count)
	}
	nf := g.names.Len()
	if len(g.vals) < nf {
		g.vals = make([]any, nf*rowChunk)
	}
	row := g.vals[:nf:nf]
	g.vals = g.vals[nf:]
	for i := range g.spec.Fields {
		f := &g.spec.Fields[i]
		switch g.kinds[i] {
		case genChoice:
			c := g.cumW[i]
			x := g.rng.Float64() * c[len(c)-1]
			j := 0
			for j < len(c)-1 && x >= c[j] {
				j++
			}
			row[g.pos[i]] = g.choices[i][j]
		case genUniformInt: // validation bounds |lo|, |hi| to 2^53: hi-lo+1 fits
			lo, hi := int64(f.Uniform[0]), int64(f.Uniform[1])
			row[g.pos[i]] = int(lo + g.rng.Int64N(hi-lo+1))
		case genUniformFloat:
			lo, hi := f.Uniform[0], f.Uniform[1]
			row[g.pos[i]] = lo + g.rng.Float64()*(hi-lo)
		case genNormal:
			row[g.pos[i]] = f.Normal[0] + f.Normal[1]*g.rng.NormFloat64()
		default:
			row[g.pos[i]] = f.Const
		}
	}
	return query.Event{Arrival: at, EventTime: at, Key: g.key(k), Fields: query.NewFields(g.names, row)}
}

func init() { registerInput("generator", openGenerator) }

func openGenerator(spec query.InputSpec, env *Env) (Input, error) {
	g, err := NewGenerator(spec.(*query.Generator), env.Start)
	if err != nil {
		return nil, err
	}
	return &generatorInput{g: g, unpaced: env.Unpaced}, nil
}

// generatorInput is a Generator as a Scheduled input.
type generatorInput struct {
	g       *Generator
	unpaced bool
}

func (in *generatorInput) Read(now int64, max int, buf []query.Event) ([]query.Event, bool, error) {
	if in.unpaced {
		now = math.MaxInt64
	}
	buf = in.g.Until(now, max, buf)
	return buf, in.g.Done(), nil
}

func (in *generatorInput) NextDue() (int64, bool)       { return in.g.NextArrival() }
func (in *generatorInput) Behind(now int64) int64       { return in.g.Lag(now) }
func (in *generatorInput) Unproduced(stop int64) uint64 { return in.g.Missed(stop) }
func (in *generatorInput) Close() error                 { return nil }
