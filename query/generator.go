package query

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// The generator input kind: synthetic events at a rate, deterministic for
// a seed (the runtime's connector.Generator produces them).

func init() { RegisterInput(InputKind{Name: "generator", Parse: parseGenerator}) }

// Generator is the synthetic source: deterministic for a seed.
type Generator struct {
	Rate     float64       // events per second, > 0
	Arrivals string        // "steady" (default: evenly spaced) or "poisson" (exponential gaps)
	Duration time.Duration // how long it emits; 0 means until cancelled
	Seed     uint64
	Keys     Keys
	Fields   []Field // in the order written
	Bursts   []Burst
}

// Keys is the key distribution of a generator.
type Keys struct {
	Count        int     // distinct keys, > 0; default 1
	Distribution string  // "uniform" (default) or "zipf"
	ZipfS        float64 // zipf exponent, > 1; default 1.1
}

// Field generates one event field.
type Field struct {
	Pos     Pos
	Name    string
	Choice  []string  // one of these, by Weights (default equal)
	Weights []float64 // for Choice
	Uniform []float64 // [lo, hi]: an int when both are whole numbers, else a float
	Normal  []float64 // [mean, stddev]: a float
	Const   any       // a constant (string, int, float, bool)
}

// Type returns the field's type name as expressions see it: "string",
// "int", "float" or "bool".
func (f Field) Type() string {
	switch {
	case f.Choice != nil:
		return "string"
	case f.Uniform != nil:
		if whole(f.Uniform[0]) && whole(f.Uniform[1]) {
			return "int"
		}
		return "float"
	case f.Normal != nil:
		return "float"
	}
	switch f.Const.(type) {
	case string:
		return "string"
	case int:
		return "int"
	case bool:
		return "bool"
	}
	return "float"
}

func whole(x float64) bool { return x == float64(int64(x)) }

// Burst multiplies a generator's rate by Factor from At for For.
type Burst struct {
	Pos    Pos
	At     time.Duration
	For    time.Duration
	Factor float64
}

func parseGenerator(sec *Section) InputSpec {
	p, n, field := sec.p, sec.n, sec.field
	g := &Generator{Keys: Keys{Count: 1, Distribution: "uniform", ZipfS: 1.1}}
	sawRate := false
	p.fields(n, field, map[string]func(*yaml.Node, string){
		"rate":     func(v *yaml.Node, f string) { sawRate = true; g.Rate = p.number(v, f) },
		"duration": func(v *yaml.Node, f string) { g.Duration = p.duration(v, f) },
		"arrivals": func(v *yaml.Node, f string) { g.Arrivals = p.str(v, f) },
		"seed": func(v *yaml.Node, f string) {
			if x := p.integer(v, f); x < 0 {
				p.errorf(v, f, "must be >= 0, got %d", x)
			} else {
				g.Seed = uint64(x)
			}
		},
		"keys": func(v *yaml.Node, f string) {
			p.fields(v, f, map[string]func(*yaml.Node, string){
				"count":        func(v *yaml.Node, f string) { g.Keys.Count = int(p.integer(v, f)) },
				"distribution": func(v *yaml.Node, f string) { g.Keys.Distribution = p.str(v, f) },
				"zipf_s":       func(v *yaml.Node, f string) { g.Keys.ZipfS = p.number(v, f) },
			})
		},
		"fields": func(v *yaml.Node, f string) {
			if v.Kind != yaml.MappingNode {
				p.errorf(v, f, "want a mapping of field name to generator, got %s", kindName(v))
				return
			}
			seen := map[string]bool{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				ff := join(f, v.Content[i].Value)
				if p.dup(seen, v.Content[i], ff) {
					continue
				}
				p.where[ff] = pos(v.Content[i])
				g.Fields = append(g.Fields, p.genField(v.Content[i], v.Content[i+1], ff))
			}
		},
		"bursts": func(v *yaml.Node, f string) {
			for i, it := range p.list(v, f) {
				b := Burst{Pos: pos(it)}
				bf := fmt.Sprintf("%s[%d]", f, i)
				p.fields(it, bf, map[string]func(*yaml.Node, string){
					"at":     func(v *yaml.Node, f string) { b.At = p.duration(v, f) },
					"for":    func(v *yaml.Node, f string) { b.For = p.duration(v, f) },
					"factor": func(v *yaml.Node, f string) { b.Factor = p.number(v, f) },
				})
				g.Bursts = append(g.Bursts, b)
			}
		},
	})
	if !sawRate && n.Kind == yaml.MappingNode {
		p.errorf(n, join(field, "rate"), "missing (required): events per second")
	}
	return g
}

func (p *parser) genField(k, n *yaml.Node, field string) Field {
	fd := Field{Pos: pos(k), Name: k.Value}
	p.fields(n, field, map[string]func(*yaml.Node, string){
		"choice": func(v *yaml.Node, f string) {
			fd.Choice = []string{}
			for i, it := range p.list(v, f) {
				fd.Choice = append(fd.Choice, p.str(it, fmt.Sprintf("%s[%d]", f, i)))
			}
		},
		"weights": func(v *yaml.Node, f string) { fd.Weights = p.numbers(v, f, 0) },
		"uniform": func(v *yaml.Node, f string) { fd.Uniform = p.numbers(v, f, 2) },
		"normal":  func(v *yaml.Node, f string) { fd.Normal = p.numbers(v, f, 2) },
		"const": func(v *yaml.Node, f string) {
			switch v.Tag {
			case "!!int":
				fd.Const = int(p.integer(v, f))
			case "!!float":
				fd.Const = p.number(v, f)
			case "!!bool":
				fd.Const = p.boolean(v, f)
			default:
				fd.Const = p.str(v, f)
			}
		},
	})
	return fd
}

// Kind is "generator".
func (g *Generator) Kind() string { return "generator" }

// Check validates the generator and returns the fields it generates.
func (g *Generator) Check(c *Checker) map[string]string {
	p, pos, f := c.p, c.pos, c.field
	if !(g.Rate >= MinRate && g.Rate <= MaxRate) {
		p.fail(pos, f+".rate", "must be %v to %v events per second, got %v", MinRate, float64(MaxRate), g.Rate)
	}
	if g.Duration < 0 || g.Duration > MaxRunFor {
		p.fail(pos, f+".duration", "must be 0 (until cancelled) to %v, got %v", MaxRunFor, g.Duration)
	}
	switch g.Arrivals {
	case "", "steady", "poisson":
	default:
		p.fail(pos, f+".arrivals", "%q: want steady or poisson", g.Arrivals)
	}
	if g.Keys.Count < 1 || g.Keys.Count > MaxKeys {
		p.fail(pos, f+".keys.count", "must be 1 to %d, got %d", MaxKeys, g.Keys.Count)
	}
	switch g.Keys.Distribution {
	case "uniform":
	case "zipf":
		if !(g.Keys.ZipfS > 1 && g.Keys.ZipfS <= MaxZipfS) {
			p.fail(pos, f+".keys.zipf_s", "must be > 1 and at most %v, got %v", MaxZipfS, g.Keys.ZipfS)
		}
	default:
		p.fail(pos, f+".keys.distribution", "%q: want uniform or zipf", g.Keys.Distribution)
	}
	if len(g.Fields) > MaxFields {
		p.fail(pos, f+".fields", "%d fields: at most %d", len(g.Fields), MaxFields)
	}
	if len(g.Bursts) > MaxBursts {
		p.fail(pos, f+".bursts", "%d bursts: at most %d", len(g.Bursts), MaxBursts)
		g.Bursts = g.Bursts[:MaxBursts] // keep checking the rest without an unbounded loop below
	}
	s := schema{}
	for _, fd := range g.Fields {
		ff := f + ".fields." + fd.Name
		kinds := 0
		for _, set := range []bool{fd.Choice != nil, fd.Uniform != nil, fd.Normal != nil, fd.Const != nil} {
			if set {
				kinds++
			}
		}
		switch {
		case !identifier.MatchString(fd.Name):
			p.fail(fd.Pos, ff, "field name %q: want an identifier", fd.Name)
		case builtin[fd.Name] != "":
			p.fail(fd.Pos, ff, "%q is a built-in field of every event (key, arrival, event_time)", fd.Name)
		case kinds != 1:
			p.fail(fd.Pos, ff, "want exactly one of choice, uniform, normal, const; got %d", kinds)
		case fd.Choice != nil && len(fd.Choice) == 0:
			p.fail(fd.Pos, ff+".choice", "empty list")
		case fd.Weights != nil && fd.Choice == nil:
			p.fail(fd.Pos, ff+".weights", "weights go with choice")
		case fd.Weights != nil && len(fd.Weights) != len(fd.Choice):
			p.fail(fd.Pos, ff+".weights", "%d weights for %d choices", len(fd.Weights), len(fd.Choice))
		case len(fd.Choice) > MaxChoices:
			p.fail(fd.Pos, ff+".choice", "%d choices: at most %d", len(fd.Choice), MaxChoices)
		case fd.Uniform != nil && fd.Type() == "int" && !(inRange(fd.Uniform[0], MaxGenInt) && inRange(fd.Uniform[1], MaxGenInt)):
			p.fail(fd.Pos, ff+".uniform", "[%v, %v]: whole numbers must be within ±2^53 (%d)", fd.Uniform[0], fd.Uniform[1], int64(MaxGenInt))
		case fd.Uniform != nil && !(inRange(fd.Uniform[0], MaxGenFloat) && inRange(fd.Uniform[1], MaxGenFloat)):
			p.fail(fd.Pos, ff+".uniform", "[%v, %v]: numbers must be finite and within ±%g", fd.Uniform[0], fd.Uniform[1], MaxGenFloat)
		case fd.Uniform != nil && fd.Uniform[0] > fd.Uniform[1]:
			p.fail(fd.Pos, ff+".uniform", "low %v above high %v", fd.Uniform[0], fd.Uniform[1])
		case fd.Normal != nil && !(inRange(fd.Normal[0], MaxGenFloat) && inRange(fd.Normal[1], MaxGenFloat)):
			p.fail(fd.Pos, ff+".normal", "[%v, %v]: numbers must be finite and within ±%g", fd.Normal[0], fd.Normal[1], MaxGenFloat)
		case fd.Normal != nil && fd.Normal[1] < 0:
			p.fail(fd.Pos, ff+".normal", "stddev %v must be >= 0", fd.Normal[1])
		}
		if c, ok := fd.Const.(float64); ok && !inRange(c, MaxGenFloat) {
			p.fail(fd.Pos, ff+".const", "%v: numbers must be finite and within ±%g", c, MaxGenFloat)
		}
		for i, w := range fd.Weights {
			if !(w > 0 && w <= MaxGenFloat/MaxChoices) {
				p.fail(fd.Pos, fmt.Sprintf("%s.weights[%d]", ff, i), "must be > 0 and at most %g, got %v", MaxGenFloat/MaxChoices, w)
			}
		}
		s[fd.Name] = fd.Type()
	}
	for i, b := range g.Bursts {
		bf := fmt.Sprintf("%s.bursts[%d]", f, i)
		switch {
		case b.At < 0 || b.At > MaxRunFor:
			p.fail(b.Pos, bf+".at", "must be 0 to %v, got %v", MaxRunFor, b.At)
		case b.For <= 0 || b.For > MaxRunFor:
			p.fail(b.Pos, bf+".for", "must be > 0 and at most %v, got %v", MaxRunFor, b.For)
		case !(b.Factor > 0 && b.Factor <= MaxBurstFactor):
			p.fail(b.Pos, bf+".factor", "must be > 0 and at most %v, got %v", MaxBurstFactor, b.Factor)
		case g.Duration > 0 && b.At >= g.Duration:
			p.fail(b.Pos, bf+".at", "%v is not before the end of the generator (%v)", b.At, g.Duration)
		}
	}
	if peak, at := peakRate(g); len(g.Bursts) > 0 && g.Rate >= MinRate && g.Rate <= MaxRate && (peak > MaxRate || peak < MinRate) {
		p.fail(pos, f+".bursts", "the rate with the bursts active at %v is %g events per second: must stay %v to %v", at, peak, MinRate, float64(MaxRate))
	}
	return s
}
