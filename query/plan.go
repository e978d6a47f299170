package query

import (
	"fmt"
	"slices"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Plan is a query compiled for the engine: validated, every expression
// compiled, and immutable. Parse, ParseFile and Builder.Build yield one;
// the engine's Submit takes one. To change a query, edit a copy of its
// spec (Spec) and Compile it again.
//
// A Plan is safe for concurrent use: nothing changes it after Compile.
type Plan struct {
	spec Spec
	// progs are each pipeline step's compiled expressions: filter and
	// key_by one; map one per output field; window one per aggregate (nil
	// for count and user aggregates); join one (its `on`).
	progs [][]*vm.Program
}

// Compile validates a copy of s (edits to s afterwards do not reach the
// plan) and compiles its expressions. On failure the error is an Errors
// listing every problem, with positions when s came from Parse.
func Compile(s *Spec) (*Plan, error) {
	c := s.clone()
	p := &parser{file: c.File, built: true}
	if c.File == "" {
		p.file = "spec"
	}
	return p.plan(c)
}

// plan validates s, which the parser owns, and wraps it.
func (p *parser) plan(s *Spec) (*Plan, error) {
	p.progs = make([][]*vm.Program, len(s.Pipeline))
	p.validate(s)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	progs := globalWindows(s, p.progs)
	return &Plan{spec: *s, progs: progs}, nil
}

// globalKey is the key of a window without key_by: every event has it, so
// one instance holds the window (its other instances idle).
const globalKey = `""`

// globalWindows puts a key_by of one constant key before each window that
// no key_by precedes (a global window: one group per window), and returns
// the steps' programs to match. The plan's spec shows the step, labelled.
func globalWindows(s *Spec, progs [][]*vm.Program) [][]*vm.Program {
	keyed := false
	ops := make([]Operator, 0, len(s.Pipeline))
	out := make([][]*vm.Program, 0, len(progs))
	for i, op := range s.Pipeline {
		if op.Kind() == KindWindow && !keyed {
			prog, err := expr.Compile(globalKey)
			if err != nil {
				panic("query: the global key does not compile: " + err.Error())
			}
			ops = append(ops, Operator{Pos: op.Pos, KeyBy: globalKey, Label: "key_by (global window)", Nodes: op.Nodes, NodesPos: op.NodesPos})
			out = append(out, []*vm.Program{prog})
		}
		keyed = keyed || op.Kind() == KindKeyBy
		ops = append(ops, op)
		out = append(out, progs[i])
	}
	s.Pipeline = ops
	return out
}

// Spec returns a copy of the plan's spec, to read or to edit and Compile
// again.
func (p *Plan) Spec() *Spec { return p.spec.clone() }

// Name, Tenant, LatencyTarget, Parallelism and Weight read the spec's
// fields without copying it.
func (p *Plan) Name() string                 { return p.spec.Name }
func (p *Plan) Tenant() string               { return p.spec.Tenant }
func (p *Plan) LatencyTarget() time.Duration { return p.spec.LatencyTarget }
func (p *Plan) Parallelism() int             { return p.spec.Parallelism }
func (p *Plan) Weight() float64              { return p.spec.Weight }

// File is the spec's file name ("builder" for a Builder's query) and Text
// the spec as parsed (nil for a Builder's).
func (p *Plan) File() string { return p.spec.File }
func (p *Plan) Text() []byte { return slices.Clone(p.spec.Text) }

// Uses lists what the query's connectors and side sinks touch outside
// the engine (Spec.Uses).
func (p *Plan) Uses() []Use { return p.spec.Uses() }

// StateSpan is how long after an event, in processing time, the query may
// still act on it: the sum of its windows' sizes and slides, its sessions'
// gaps and its joins' windows and intervals (a window over another's
// results closes at most the sum of the two after the event; saturated at
// MaxStateSpan). A processing-time source whose input has been quiet
// longer than this has nothing left to close, so it need not wake until
// its input has something new. 0 for a stateless query.
func (p *Plan) StateSpan() time.Duration {
	var span time.Duration
	for _, op := range p.spec.Pipeline {
		var d time.Duration
		switch {
		case op.Window != nil && op.Window.Gap > 0:
			d = op.Window.Gap
		case op.Window != nil:
			d = op.Window.Size + op.Window.Slide
		case op.Join != nil:
			d = op.Join.Window + op.Join.Within
		}
		if span += d; span > MaxStateSpan || span < 0 {
			return MaxStateSpan
		}
	}
	return span
}

// MaxStateSpan bounds StateSpan: a year.
const MaxStateSpan = 365 * 24 * time.Hour

// Machine returns a new state machine of pipeline step i, its windows and
// joins waiting allowedLateness for late events.
func (p *Plan) Machine(i int, allowedLateness time.Duration) (Machine, error) {
	if i < 0 || i >= len(p.spec.Pipeline) {
		return nil, fmt.Errorf("query %s: no step %d (%d steps)", p.spec.Name, i, len(p.spec.Pipeline))
	}
	op := &p.spec.Pipeline[i]
	switch k := op.Kind(); {
	case k.Stateless():
		return newStateless(op, p.progs[i])
	case k == KindWindow && op.Window.Gap > 0:
		return newSessionAgg(op, p.progs[i], allowedLateness)
	case k == KindWindow:
		return newWindowAgg(op, p.progs[i], allowedLateness)
	case k == KindJoin && op.Join.Within > 0:
		return newIntervalJoin(op, p.progs[i], allowedLateness)
	case k == KindJoin:
		return newJoinOp(op, p.progs[i], allowedLateness)
	case k == KindUnion:
		return Union{}, nil
	default:
		return nil, fmt.Errorf("query %s: pipeline[%d]: a %s step has no state machine", p.spec.Name, i, k)
	}
}

// JoinKeyer returns what keys the events of join step i's other source
// (its `on` expression), for the engine to partition them where they are
// read.
func (p *Plan) JoinKeyer(i int) (*JoinOp, error) {
	if i < 0 || i >= len(p.spec.Pipeline) || p.spec.Pipeline[i].Join == nil {
		return nil, fmt.Errorf("query %s: pipeline[%d] is not a join", p.spec.Name, i)
	}
	return newJoinOp(&p.spec.Pipeline[i], p.progs[i], 0)
}

// clone copies s deeply: what the built-in kinds hold, and a registered
// kind's settings when they implement Cloner (else they are shared, and
// must not be changed once compiled).
func (s *Spec) clone() *Spec {
	c := *s
	c.Text = slices.Clone(s.Text)
	c.Sources = slices.Clone(s.Sources)
	for i := range c.Sources {
		src := &c.Sources[i]
		if et := src.EventTime; et != nil {
			e := *et
			src.EventTime = &e
		}
		if x, ok := src.Input.(Cloner[InputSpec]); ok {
			src.Input = x.Clone()
		}
	}
	c.Pipeline = slices.Clone(s.Pipeline)
	for i := range c.Pipeline {
		op := &c.Pipeline[i]
		op.Map = slices.Clone(op.Map)
		op.Union = slices.Clone(op.Union)
		op.Nodes = slices.Clone(op.Nodes)
		if w := op.Window; w != nil {
			w2 := *w
			w2.Aggregates = slices.Clone(w.Aggregates)
			op.Window = &w2
		}
		if j := op.Join; j != nil {
			j2 := *j
			op.Join = &j2
		}
	}
	if x, ok := c.Sink.Output.(Cloner[OutputSpec]); ok {
		c.Sink.Output = x.Clone()
	}
	return &c
}

// Cloner is implemented by a kind's settings that hold references (a
// pointer, a slice, a map): Clone returns a deep copy, so that a Plan
// keeps its own.
type Cloner[T any] interface {
	Clone() T
}

// Clone implements Cloner.
func (g *Generator) Clone() InputSpec {
	c := *g
	c.Fields = slices.Clone(g.Fields)
	for i := range c.Fields {
		f := &c.Fields[i]
		f.Choice, f.Weights = slices.Clone(f.Choice), slices.Clone(f.Weights)
		f.Uniform, f.Normal = slices.Clone(f.Uniform), slices.Clone(f.Normal)
	}
	c.Bursts = slices.Clone(g.Bursts)
	return &c
}

// Clone implements Cloner.
func (j *JSONL) Clone() InputSpec { c := *j; return &c }

// Clone implements Cloner.
func (f *File) Clone() OutputSpec { c := *f; return &c }
