package query

import (
	"fmt"
	"time"
)

// Builder builds a query in Go: the same logical plan a YAML spec gives,
// checked by the same validation, plus user functions for sources,
// operators, aggregates and sinks. Methods record steps in order; Build
// validates and returns the Spec (or every problem, as Errors whose fields
// name the step, such as pipeline[2].filter).
//
//	spec, err := query.NewBuilder("error-alerts").
//		Tenant("ops").LatencyTarget(50 * time.Millisecond).
//		Generator("logs", query.Generator{Rate: 20000, Duration: 10 * time.Second,
//			Fields: []query.Field{{Name: "level", Choice: []string{"info", "error"}}}}).
//		Filter(`level == "error"`).
//		KeyBy("key").
//		Tumbling(time.Second, query.Count("errors")).
//		SinkFunc(func(results []query.Event) error { ...; return nil }).
//		Build()
type Builder struct {
	s Spec
}

// NewBuilder starts a query called name, of tenant "default", parallelism
// 1, weight 1 and a latency target of 1 s until set otherwise.
func NewBuilder(name string) *Builder {
	return &Builder{s: Spec{File: "builder", Name: name, Tenant: "default", LatencyTarget: time.Second, Parallelism: 1, Weight: 1}}
}

// Tenant sets the query's tenant.
func (b *Builder) Tenant(t string) *Builder { b.s.Tenant = t; return b }

// LatencyTarget sets the query's latency target L.
func (b *Builder) LatencyTarget(d time.Duration) *Builder { b.s.LatencyTarget = d; return b }

// Parallelism sets how many instances each step runs.
func (b *Builder) Parallelism(n int) *Builder { b.s.Parallelism = n; return b }

// Shed sets the overload policy to shed: an event that waited longer
// than after since it was due is dropped (counted as shed) at the next
// step.
func (b *Builder) Shed(after time.Duration) *Builder {
	b.s.Overload = Overload{Shed: true, ShedAfter: after}
	return b
}

// Weight sets the query's share of its tenant's worker time (and under the fair policy).
func (b *Builder) Weight(w float64) *Builder { b.s.Weight = w; return b }

// Source adds a source as a spec would declare it. The first source is the
// pipeline's input; the others enter it through Join or Union.
func (b *Builder) Source(s Source) *Builder {
	if g, ok := s.Input.(*Generator); ok && g != nil {
		g2 := *g
		if g2.Keys.Count == 0 {
			g2.Keys.Count = 1
		}
		if g2.Keys.Distribution == "" {
			g2.Keys.Distribution = "uniform"
		}
		if g2.Keys.ZipfS == 0 {
			g2.Keys.ZipfS = 1.1
		}
		s.Input = &g2
	}
	if s.EventTime != nil && s.EventTime.Format == "" {
		et := *s.EventTime
		et.Format = "unix_ms"
		s.EventTime = &et
	}
	b.s.Sources = append(b.s.Sources, s)
	return b
}

// Generator adds a synthetic source (processing time).
func (b *Builder) Generator(name string, g Generator) *Builder {
	return b.Source(Source{Name: name, Input: &g})
}

// JSONL adds a source reading JSON lines from a file; et may be nil
// (processing time).
func (b *Builder) JSONL(name, path string, et *EventTime) *Builder {
	return b.Source(Source{Name: name, Input: &JSONL{Path: path}, EventTime: et})
}

// SourceFunc adds a user source; et may be nil (processing time).
func (b *Builder) SourceFunc(name string, fn SourceFunc, et *EventTime) *Builder {
	return b.Source(Source{Name: name, Input: fn, EventTime: et})
}

func (b *Builder) step(op Operator) *Builder {
	b.s.Pipeline = append(b.s.Pipeline, op)
	return b
}

// Filter keeps the events for which the expression is true.
func (b *Builder) Filter(expr string) *Builder { return b.step(Operator{Filter: expr}) }

// FilterFunc keeps the events for which keep returns true.
func (b *Builder) FilterFunc(label string, keep func(Event) bool) *Builder {
	return b.Process(label, func(ev Event, out []Event) ([]Event, error) {
		if keep(ev) {
			out = append(out, ev)
		}
		return out, nil
	})
}

// Map replaces each event's fields by the named expressions.
func (b *Builder) Map(fields ...NamedExpr) *Builder { return b.step(Operator{Map: fields}) }

// MapFunc replaces each event by what fn returns; an error drops the event
// and is counted. Fields are shared between events: fn builds new ones
// (MakeFields, NewFields, ev.Fields.With) rather than write into
// ev.Fields' values.
func (b *Builder) MapFunc(label string, fn func(Event) (Event, error)) *Builder {
	return b.Process(label, func(ev Event, out []Event) ([]Event, error) {
		ev, err := fn(ev)
		if err != nil {
			return out, err
		}
		return append(out, ev), nil
	})
}

// Process adds a user operator that may emit any number of events per
// event.
func (b *Builder) Process(label string, fn ProcessFunc) *Builder {
	return b.step(Operator{Process: fn, Label: label})
}

// KeyBy sets the key from an expression and partitions by it.
func (b *Builder) KeyBy(expr string) *Builder { return b.step(Operator{KeyBy: expr}) }

// KeyByFunc sets the key with a function and partitions by it.
func (b *Builder) KeyByFunc(fn func(Event) string) *Builder {
	return b.step(Operator{KeyFunc: fn, Label: "key_by func"})
}

// Tumbling adds a tumbling window of the given size with its aggregates.
func (b *Builder) Tumbling(size time.Duration, aggs ...Aggregate) *Builder {
	return b.step(Operator{Window: &Window{Size: size, Aggregates: aggs}})
}

// Sliding adds a sliding window with its aggregates.
func (b *Builder) Sliding(size, slide time.Duration, aggs ...Aggregate) *Builder {
	return b.step(Operator{Window: &Window{Size: size, Slide: slide, Aggregates: aggs}})
}

// Session adds a session window: a key's events closer than gap to one
// another are one window.
func (b *Builder) Session(gap time.Duration, aggs ...Aggregate) *Builder {
	return b.step(Operator{Window: &Window{Gap: gap, Aggregates: aggs}})
}

// Join joins the stream with source with on equal keys (its events keyed
// by the on expression) in tumbling windows of the given size.
func (b *Builder) Join(with, on string, window time.Duration) *Builder {
	return b.step(Operator{Join: &Join{With: with, On: on, Window: window}})
}

// Union merges sources into the stream.
func (b *Builder) Union(sources ...string) *Builder { return b.step(Operator{Union: sources}) }

// Stdout sends results to standard output as JSON lines.
func (b *Builder) Stdout() *Builder { b.s.Sink = Sink{Output: Stdout{}}; return b }

// File sends results to a file as JSON lines.
func (b *Builder) File(path string) *Builder { b.s.Sink = Sink{Output: &File{Path: path}}; return b }

// Discard drops results (they are still counted and timed).
func (b *Builder) Discard() *Builder { b.s.Sink = Sink{Output: Discard{}}; return b }

// Sink sends results to out: a built-in kind (Stdout, *File, Discard) or
// a registered one's settings.
func (b *Builder) Sink(out OutputSpec) *Builder { b.s.Sink = Sink{Output: out}; return b }

// SinkFunc sends results to fn.
func (b *Builder) SinkFunc(fn func(results []Event) error) *Builder {
	b.s.Sink = Sink{Output: SinkFunc(fn)}
	return b
}

// Build validates the query and returns its compiled plan, or Errors
// listing every problem.
func (b *Builder) Build() (*Plan, error) { return Compile(&b.s) }

// Count is the count() aggregate, named name.
func Count(name string) Aggregate { return Aggregate{Name: name, Func: "count"} }

// Sum is sum(arg), named name.
func Sum(name, arg string) Aggregate { return Aggregate{Name: name, Func: "sum", Arg: arg} }

// Min is min(arg), named name.
func Min(name, arg string) Aggregate { return Aggregate{Name: name, Func: "min", Arg: arg} }

// Max is max(arg), named name.
func Max(name, arg string) Aggregate { return Aggregate{Name: name, Func: "max", Arg: arg} }

// Avg is avg(arg), named name.
func Avg(name, arg string) Aggregate { return Aggregate{Name: name, Func: "avg", Arg: arg} }

// CountDistinct is count_distinct(arg), named name.
func CountDistinct(name, arg string) Aggregate {
	return Aggregate{Name: name, Func: "count_distinct", Arg: arg}
}

// MaxBy is max_by(arg): the row (its fields) with the largest arg.
func MaxBy(name, arg string) Aggregate { return Aggregate{Name: name, Func: "max_by", Arg: arg} }

// MinBy is min_by(arg): the row with the smallest arg.
func MinBy(name, arg string) Aggregate { return Aggregate{Name: name, Func: "min_by", Arg: arg} }

// First is first(arg): arg of the earliest event.
func First(name, arg string) Aggregate { return Aggregate{Name: name, Func: "first", Arg: arg} }

// Last is last(arg): arg of the latest event.
func Last(name, arg string) Aggregate { return Aggregate{Name: name, Func: "last", Arg: arg} }

// TopK is top_k(arg, k): the k rows with the largest arg, largest first.
func TopK(name, arg string, k int) Aggregate {
	return Aggregate{Name: name, Func: "top_k", Arg: fmt.Sprintf("%s, %d", arg, k)}
}

// UserAggregate is a user aggregate named name: newAcc makes the state of
// one window and key.
func UserAggregate(name string, newAcc func() Accumulator) Aggregate {
	return Aggregate{Name: name, Func: "user", User: newAcc}
}

// As names an expression, for Map.
func As(name, expr string) NamedExpr { return NamedExpr{Name: name, Expr: expr} }
