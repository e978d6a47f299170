package query

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Connector kinds: what a source reads and what a sink writes.
//
// A source's input and a query's sink are each one kind, written under
// the kind's name with the kind's own settings:
//
//	sources:
//	  - name: clicks
//	    generator: {rate: 1000}   # kind "generator"
//	sink:
//	  file: {path: out.jsonl}     # kind "file"
//
// Every kind registers how its settings are read (InputKind, OutputKind);
// the parser knows no kind by name. The settings a kind returns are
// checked by the same validation for a spec and for a Builder's query
// (InputSpec.Check, OutputSpec.Check). How a kind is opened at run time
// is the runtime's business (package connector), which registers a kind
// in both places with one call.

// InputSpec is the settings of one source kind, as parsed or built.
type InputSpec interface {
	// Kind is the kind's name, as written in a spec.
	Kind() string
	// Check validates the settings, reporting every problem through c, and
	// returns the fields of the events the input yields with their types
	// ("string", "int", "float", "bool", "map", "any"), or nil when they
	// are known only at run time (JSON read from a file, say).
	Check(c *Checker) map[string]string
}

// OutputSpec is the settings of one sink kind, as parsed or built.
type OutputSpec interface {
	Kind() string
	Check(c *Checker)
}

// Use is something outside the engine that a query's connectors touch, for
// a node's rules (a node may allow no files, and has no standard input).
type Use struct {
	Pos   Pos
	Field string  // the spec field that asks for it
	What  UseKind // what it is
	Path  string  // a file's path, as written
}

// UseKind is what a Use touches.
type UseKind int

const (
	ReadsFile UseKind = iota + 1
	WritesFile
	ReadsStdin
	WritesStdout
	// Connects: it opens network connections to Path (host:port).
	Connects
)

// User is implemented by connector settings that touch files or the
// process's standard streams.
type User interface {
	Uses() []Use
}

// Uses lists what the query's connectors and side sinks touch outside
// the engine, each with the field that asks for it.
func (s *Spec) Uses() []Use {
	var out []Use
	add := func(x any, pos Pos, field string) {
		u, ok := x.(User)
		if !ok {
			return
		}
		for _, use := range u.Uses() {
			use.Pos, use.Field = pos, join(field, use.Field)
			out = append(out, use)
		}
	}
	for i, src := range s.Sources {
		f := fmt.Sprintf("sources[%d]", i)
		if src.Input != nil {
			add(src.Input, src.Pos, f+"."+src.Input.Kind())
		}
		if et := src.EventTime; et != nil && et.LateSideSinkPath != "" {
			out = append(out, Use{Pos: src.Pos, Field: f + ".event_time.late_sink", What: WritesFile, Path: et.LateSideSinkPath})
		}
	}
	if o := s.Sink.Output; o != nil {
		add(o, s.Sink.Pos, "sink."+o.Kind())
	}
	if o := s.Overload; o.ShedSinkPath != "" {
		out = append(out, Use{Pos: o.Pos, Field: "overload.shed_sink", What: WritesFile, Path: o.ShedSinkPath})
	}
	return out
}

// InputKind is how a source kind's settings are read from a spec.
type InputKind struct {
	Name string
	// Parse reads the kind's settings (the value under its name). Problems
	// go through s; it returns what it could read, which Check then
	// validates. Nil: the kind exists only in Go (a Builder's user source).
	Parse func(s *Section) InputSpec
}

// OutputKind is how a sink kind's settings are read from a spec.
type OutputKind struct {
	Name  string
	Parse func(s *Section) OutputSpec
}

var kinds = struct {
	sync.RWMutex
	inputs  map[string]InputKind
	outputs map[string]OutputKind
}{inputs: map[string]InputKind{}, outputs: map[string]OutputKind{}}

// reserved are the keys of a source that are not input kinds.
var reserved = []string{"name", "event_time"}

// RegisterInput makes a source kind known to the parser. It panics when
// the name is not an identifier, is a source's own field, or is taken, as
// registrations happen at init time.
func RegisterInput(k InputKind) {
	kinds.Lock()
	defer kinds.Unlock()
	if !identifier.MatchString(k.Name) || slices.Contains(reserved, k.Name) {
		panic(fmt.Sprintf("query: input kind %q: want an identifier other than %v", k.Name, reserved))
	}
	if _, dup := kinds.inputs[k.Name]; dup {
		panic(fmt.Sprintf("query: input kind %q registered twice", k.Name))
	}
	kinds.inputs[k.Name] = k
}

// RegisterOutput makes a sink kind known to the parser (see RegisterInput).
func RegisterOutput(k OutputKind) {
	kinds.Lock()
	defer kinds.Unlock()
	if !identifier.MatchString(k.Name) {
		panic(fmt.Sprintf("query: output kind %q: want an identifier", k.Name))
	}
	if _, dup := kinds.outputs[k.Name]; dup {
		panic(fmt.Sprintf("query: output kind %q registered twice", k.Name))
	}
	kinds.outputs[k.Name] = k
}

// InputKinds and OutputKinds list the kinds a spec can name, sorted.
func InputKinds() []string  { return parseable(kinds.inputs) }
func OutputKinds() []string { return parseable(kinds.outputs) }

func parseable[K InputKind | OutputKind](m map[string]K) []string {
	kinds.RLock()
	defer kinds.RUnlock()
	var out []string
	for name, k := range m {
		switch k := any(k).(type) {
		case InputKind:
			if k.Parse == nil {
				continue
			}
		case OutputKind:
			if k.Parse == nil {
				continue
			}
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func inputKind(name string) (InputKind, bool) {
	kinds.RLock()
	defer kinds.RUnlock()
	k, ok := kinds.inputs[name]
	return k, ok && k.Parse != nil
}

func outputKind(name string) (OutputKind, bool) {
	kinds.RLock()
	defer kinds.RUnlock()
	k, ok := kinds.outputs[name]
	return k, ok && k.Parse != nil
}

// Section is one kind's settings in a spec, read with the position of
// every value so that a problem names its line and field.
type Section struct {
	p     *parser
	n     *yaml.Node
	field string
}

// Field is the section's path in the spec, such as sources[0].kafka.
func (s *Section) Field() string { return s.field }

// Pos is where the section starts.
func (s *Section) Pos() Pos { return pos(s.n) }

// Empty accepts no settings ({} or nothing), as `stdout: {}`.
func (s *Section) Empty() { s.p.empty(s.n, s.field) }

// Fields reads a mapping: each key must be one of fields' (an unknown key
// is an error listing the valid ones), and each value goes to its
// function once.
func (s *Section) Fields(fields map[string]func(v *Value)) {
	h := make(map[string]func(*yaml.Node, string), len(fields))
	for k, fn := range fields {
		h[k] = func(n *yaml.Node, f string) { fn(&Value{p: s.p, n: n, field: f}) }
	}
	s.p.fields(s.n, s.field, h)
}

// Require reports each key missing from the section's mapping.
func (s *Section) Require(keys ...string) {
	if s.n.Kind != yaml.MappingNode {
		return // Fields said what is wrong
	}
	for _, k := range keys {
		if !hasKey(s.n, k) {
			s.p.errorf(s.n, join(s.field, k), "missing (required)")
		}
	}
}

// Fail reports a problem with the section as a whole.
func (s *Section) Fail(format string, args ...any) { s.p.errorf(s.n, s.field, format, args...) }

// Value is one setting of a Section.
type Value struct {
	p     *parser
	n     *yaml.Node
	field string
}

func (v *Value) Field() string { return v.field }
func (v *Value) Pos() Pos      { return pos(v.n) }

// Fail reports a problem with the value.
func (v *Value) Fail(format string, args ...any) { v.p.errorf(v.n, v.field, format, args...) }

// Text, Int, Float, Bool and Duration read a scalar; a value of another
// type is reported and gives the zero value.
func (v *Value) Text() string            { return v.p.str(v.n, v.field) }
func (v *Value) Int() int64              { return v.p.integer(v.n, v.field) }
func (v *Value) Float() float64          { return v.p.number(v.n, v.field) }
func (v *Value) Bool() bool              { return v.p.boolean(v.n, v.field) }
func (v *Value) Duration() time.Duration { return v.p.duration(v.n, v.field) }

// List reads a sequence.
func (v *Value) List() []*Value {
	items := v.p.list(v.n, v.field)
	out := make([]*Value, len(items))
	for i, it := range items {
		out[i] = &Value{p: v.p, n: it, field: fmt.Sprintf("%s[%d]", v.field, i)}
	}
	return out
}

// Strings reads a list of strings.
func (v *Value) Strings() []string {
	items := v.List()
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, it.Text())
	}
	return out
}

// StringMap reads a mapping of names to strings, in the order written.
func (v *Value) StringMap() [][2]string {
	n := v.n
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		v.Fail("want a mapping, got %s", kindName(n))
		return nil
	}
	var out [][2]string
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		f := join(v.field, k.Value)
		if v.p.dup(seen, k, f) {
			continue
		}
		out = append(out, [2]string{k.Value, v.p.str(n.Content[i+1], f)})
	}
	return out
}

// Section reads a nested mapping.
func (v *Value) Section() *Section { return &Section{p: v.p, n: v.n, field: v.field} }

// Checker reports the problems of one connector's settings, at the most
// precise position known for each field (none for a Builder's query).
type Checker struct {
	p     *parser
	pos   Pos
	field string
}

// Field is the settings' path in the spec, such as sources[0].generator.
func (c *Checker) Field() string { return c.field }

// Fail reports a problem with the setting named sub ("" for the settings
// as a whole; "a.b" for a nested one).
func (c *Checker) Fail(sub, format string, args ...any) {
	f := c.field
	if sub != "" {
		f = join(f, sub)
	}
	c.p.fail(c.pos, f, format, args...)
}

// SourceFunc is a user source: it emits events until it returns or ctx is
// cancelled (the query is stopping). emit blocks while the query is
// backlogged and returns an error once the query stops accepting events.
// The engine stamps Arrival and Watermark; with an EventTime config it
// reads the event time from the field named there unless the event's
// EventTime is set already. emit is not safe for concurrent use.
//
// A SourceFunc is an input kind of its own ("func", Go only).
type SourceFunc func(ctx context.Context, emit func(Event) error) error

func (SourceFunc) Kind() string { return "func" }

func (f SourceFunc) Check(c *Checker) map[string]string {
	if f == nil {
		c.Fail("", "no function")
	}
	return nil
}

// SinkFunc is a user sink: called with each batch of results, from one
// goroutine at a time. An error fails the query. The slice is the
// engine's and is reused once the function returns (as io.Writer's Write
// must not keep p): copy the results it keeps; their Fields are
// shared and read-only. A sink kind of its own ("func", Go only).
type SinkFunc func(results []Event) error

func (SinkFunc) Kind() string { return "func" }

func (f SinkFunc) Check(c *Checker) {
	if f == nil {
		c.Fail("", "no function")
	}
}

func init() {
	RegisterInput(InputKind{Name: "func"})
	RegisterOutput(OutputKind{Name: "func"})
}
