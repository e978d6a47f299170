package query

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"
)

// ParseFile reads and parses the spec in path.
func ParseFile(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses a spec (YAML or JSON), validates it and compiles it into a
// Plan. file names the spec in errors. On failure the error is an Errors
// listing every problem found, each with its line, column and field.
func Parse(file string, data []byte) (*Plan, error) {
	p := &parser{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.errs = append(p.errs, &Error{File: file, Pos: yamlErrorPos(err), Msg: cleanYAMLError(err)})
		return nil, p.errs
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, Errors{{File: file, Msg: "empty spec: want a mapping with name, latency_target, sources, pipeline and sink"}}
	}
	s := &Spec{File: file, Text: slices.Clone(data)}
	p.spec(doc.Content[0], s)
	parsed := len(p.errs)
	p.progs = make([][]*vm.Program, len(s.Pipeline))
	p.validate(s)
	p.dropEchoes(parsed)
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Pos.Line < p.errs[j].Pos.Line })
		return nil, p.errs
	}
	return &Plan{spec: *s, progs: p.progs}, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlErrorPos(err error) Pos {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return Pos{Line: n, Column: 1}
	}
	return Pos{}
}

var yamlLinePrefix = regexp.MustCompile(`line \d+: `)

func cleanYAMLError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return "malformed YAML/JSON: " + yamlLinePrefix.ReplaceAllString(msg, "")
}

type parser struct {
	progs [][]*vm.Program // each step's compiled expressions (plan)
	file  string
	errs  Errors
	where map[string]Pos // field path → position of its value
	built bool           // validating a Builder's spec: no positions
}

// at returns the position of field, or of its nearest parent the parser
// saw, or def; nothing for a built spec, which has no file.
func (p *parser) at(field string, def Pos) Pos {
	if p.built {
		return Pos{}
	}
	for f := field; f != ""; {
		if q, ok := p.where[f]; ok {
			return q
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return def
}

// dropEchoes removes validation errors (from index parsed on) about a field
// that already has a parse error, or a parent or child of one: a value that
// did not parse is reported once.
func (p *parser) dropEchoes(parsed int) {
	bad := p.errs[:parsed]
	out := p.errs[:parsed:parsed]
	for _, e := range p.errs[parsed:] {
		echo := false
		for _, b := range bad {
			if b.Field != "" && (strings.HasPrefix(e.Field, b.Field) || strings.HasPrefix(b.Field, e.Field)) {
				echo = true
				break
			}
		}
		if !echo {
			out = append(out, e)
		}
	}
	p.errs = out
}

func pos(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

func (p *parser) errorf(n *yaml.Node, field, format string, args ...any) {
	e := &Error{File: p.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Pos = pos(n)
	}
	p.errs = append(p.errs, e)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// fields walks a mapping node: each key must be one of handlers' keys.
func (p *parser) fields(n *yaml.Node, field string, handlers map[string]func(v *yaml.Node, field string)) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, field, "want a mapping with %s, got %s", strings.Join(sortedKeys(handlers), ", "), kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		h, ok := handlers[k.Value]
		switch {
		case !ok:
			p.errorf(k, field, "unknown field %q (valid: %s)", k.Value, strings.Join(sortedKeys(handlers), ", "))
		case seen[k.Value]:
			p.errorf(k, join(field, k.Value), "given twice")
		default:
			seen[k.Value] = true
			if p.where == nil {
				p.where = map[string]Pos{}
			}
			p.where[join(field, k.Value)] = pos(v)
			h(v, join(field, k.Value))
		}
	}
}

// dup reports (and records an error for) a key given twice in one mapping
// whose keys are user names (fields, map outputs, aggregates), where the
// YAML parser keeps both.
func (p *parser) dup(seen map[string]bool, k *yaml.Node, field string) bool {
	if seen[k.Value] {
		p.errorf(k, field, "given twice in this mapping")
		return true
	}
	seen[k.Value] = true
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (p *parser) str(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, field, "want a string, got %s", kindName(n))
		return ""
	}
	return n.Value
}

func (p *parser) duration(n *yaml.Node, field string) time.Duration {
	s := p.str(n, field)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errorf(n, field, "bad duration %q (want a number with a unit, e.g. 50ms, 1s, 2m)", s)
		return 0
	}
	return d
}

func (p *parser) number(n *yaml.Node, field string) float64 {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") {
		if x, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil {
			return x
		}
	}
	p.errorf(n, field, "want a number, got %s", kindName(n))
	return 0
}

func (p *parser) integer(n *yaml.Node, field string) int64 {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		if x, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return x
		}
	}
	p.errorf(n, field, "want a whole number, got %s", kindName(n))
	return 0
}

func (p *parser) boolean(n *yaml.Node, field string) bool {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		return n.Value == "true"
	}
	p.errorf(n, field, "want true or false, got %s", kindName(n))
	return false
}

func (p *parser) list(n *yaml.Node, field string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, field, "want a list, got %s", kindName(n))
		return nil
	}
	if p.where == nil {
		p.where = map[string]Pos{}
	}
	for i, it := range n.Content {
		p.where[fmt.Sprintf("%s[%d]", field, i)] = pos(it)
	}
	return n.Content
}

func (p *parser) numbers(n *yaml.Node, field string, want int) []float64 {
	items := p.list(n, field)
	if items == nil {
		return nil
	}
	if want > 0 && len(items) != want {
		p.errorf(n, field, "want a list of %d numbers, got %d", want, len(items))
		return nil
	}
	out := make([]float64, len(items))
	for i, it := range items {
		out[i] = p.number(it, fmt.Sprintf("%s[%d]", field, i))
	}
	return out
}

// empty accepts {} or nothing: `stdout: {}`.
func (p *parser) empty(n *yaml.Node, field string) {
	if n.Kind == yaml.MappingNode && len(n.Content) == 0 || n.Tag == "!!null" {
		return
	}
	p.errorf(n, field, "takes no settings: write {}")
}

func (p *parser) spec(n *yaml.Node, s *Spec) {
	var sawSink bool
	p.fields(n, "", map[string]func(*yaml.Node, string){
		"name":           func(v *yaml.Node, f string) { s.Name = p.str(v, f) },
		"tenant":         func(v *yaml.Node, f string) { s.Tenant = p.str(v, f) },
		"latency_target": func(v *yaml.Node, f string) { s.LatencyTarget = p.duration(v, f) },
		"parallelism":    func(v *yaml.Node, f string) { s.Parallelism = int(p.integer(v, f)) },
		"weight":         func(v *yaml.Node, f string) { s.Weight = p.number(v, f) },
		"sources": func(v *yaml.Node, f string) {
			for i, it := range p.list(v, f) {
				s.Sources = append(s.Sources, p.source(it, fmt.Sprintf("%s[%d]", f, i)))
			}
		},
		"pipeline": func(v *yaml.Node, f string) {
			for i, it := range p.list(v, f) {
				s.Pipeline = append(s.Pipeline, p.operator(it, fmt.Sprintf("%s[%d]", f, i)))
			}
		},
		"sink":     func(v *yaml.Node, f string) { sawSink = true; s.Sink = p.sink(v, f) },
		"overload": func(v *yaml.Node, f string) { s.Overload = p.overload(v, f) },
	})
	if n.Kind == yaml.MappingNode {
		for _, req := range []struct {
			key string
			set bool
		}{{"name", s.Name != ""}, {"latency_target", s.LatencyTarget != 0}, {"sources", len(s.Sources) > 0}} {
			if !req.set && !hasKey(n, req.key) {
				p.errorf(n, req.key, "missing (required)")
			}
		}
	}
	if !sawSink {
		s.Sink = Sink{Pos: pos(n), Output: Stdout{}}
	}
	if s.Tenant == "" {
		s.Tenant = "default"
	}
	if s.Parallelism == 0 && !hasKey(n, "parallelism") {
		s.Parallelism = 1
	}
	if s.Weight == 0 && !hasKey(n, "weight") {
		s.Weight = 1
	}
}

func (p *parser) overload(n *yaml.Node, field string) Overload {
	o := Overload{Pos: pos(n)}
	sawPolicy := false
	p.fields(n, field, map[string]func(*yaml.Node, string){
		"policy": func(v *yaml.Node, f string) {
			sawPolicy = true
			switch pol := p.str(v, f); pol {
			case "backpressure":
			case "shed":
				o.Shed = true
			default:
				p.errorf(v, f, "unknown policy %q (valid: backpressure, shed)", pol)
			}
		},
		"shed_after": func(v *yaml.Node, f string) { o.ShedAfter = p.duration(v, f) },
		"shed_sink":  func(v *yaml.Node, f string) { o.ShedSinkPath = p.str(v, f) },
	})
	if n.Kind == yaml.MappingNode && !sawPolicy {
		p.errorf(n, field+".policy", "missing (required: backpressure or shed)")
	}
	return o
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// source reads a source: its name, its event time, and one input kind
// under the kind's name.
func (p *parser) source(n *yaml.Node, field string) Source {
	src := Source{Pos: pos(n)}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	handlers := map[string]func(*yaml.Node, string){
		"name":       func(v *yaml.Node, f string) { src.Name = p.str(v, f) },
		"event_time": func(v *yaml.Node, f string) { src.EventTime = p.eventTime(v, f) },
	}
	var given []string
	for _, name := range InputKinds() {
		k, _ := inputKind(name)
		handlers[name] = func(v *yaml.Node, f string) {
			given = append(given, name)
			src.Input = k.Parse(&Section{p: p, n: v, field: f})
		}
	}
	p.fields(n, field, handlers)
	switch {
	case n.Kind != yaml.MappingNode:
	case len(given) > 1:
		p.errorf(n, field, "%s: a source reads one input", strings.Join(given, " and "))
	case len(given) == 0:
		p.errorf(n, field, "no input: want one of %s", strings.Join(InputKinds(), ", "))
	}
	return src
}

// sink reads the sink: one output kind under the kind's name.
func (p *parser) sink(n *yaml.Node, field string) Sink {
	s := Sink{Pos: pos(n)}
	handlers := map[string]func(*yaml.Node, string){}
	count := 0
	for _, name := range OutputKinds() {
		k, _ := outputKind(name)
		handlers[name] = func(v *yaml.Node, f string) {
			count++
			s.Output = k.Parse(&Section{p: p, n: v, field: f})
		}
	}
	p.fields(n, field, handlers)
	if n.Kind == yaml.MappingNode && count != 1 {
		p.errorf(n, field, "want exactly one of %s; got %d", strings.Join(OutputKinds(), ", "), count)
	}
	return s
}

func (p *parser) eventTime(n *yaml.Node, field string) *EventTime {
	e := &EventTime{Format: "unix_ms"}
	p.fields(n, field, map[string]func(*yaml.Node, string){
		"field":            func(v *yaml.Node, f string) { e.Field = p.str(v, f) },
		"format":           func(v *yaml.Node, f string) { e.Format = p.str(v, f) },
		"max_out_of_order": func(v *yaml.Node, f string) { e.MaxOutOfOrder = p.duration(v, f) },
		"idle_timeout":     func(v *yaml.Node, f string) { e.IdleTimeout = p.duration(v, f) },
		"allowed_lateness": func(v *yaml.Node, f string) { e.AllowedLateness = p.duration(v, f) },
		"late_sink":        func(v *yaml.Node, f string) { e.LateSideSinkPath = p.str(v, f) },
	})
	return e
}

var aggregateCall = regexp.MustCompile(`^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$`)

func (p *parser) operator(n *yaml.Node, field string) Operator {
	op := Operator{Pos: pos(n)}
	var aggNode *yaml.Node
	var aggField string
	kinds := 0
	kind := func(f func(v *yaml.Node, f string)) func(v *yaml.Node, f string) {
		return func(v *yaml.Node, fl string) { kinds++; f(v, fl) }
	}
	p.fields(n, field, map[string]func(*yaml.Node, string){
		"filter": kind(func(v *yaml.Node, f string) { op.Filter = p.str(v, f) }),
		"key_by": kind(func(v *yaml.Node, f string) {
			if v.Kind != yaml.SequenceNode {
				op.KeyBy = p.str(v, f)
				return
			}
			op.KeyFields = []string{}
			for i, e := range v.Content {
				ef := fmt.Sprintf("%s[%d]", f, i)
				p.where[ef] = pos(e)
				op.KeyFields = append(op.KeyFields, p.str(e, ef))
			}
		}),
		"map": kind(func(v *yaml.Node, f string) {
			op.Map = []NamedExpr{}
			if v.Kind != yaml.MappingNode {
				p.errorf(v, f, "want a mapping of output field to expression, got %s", kindName(v))
				return
			}
			seen := map[string]bool{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k := v.Content[i]
				if p.dup(seen, k, join(f, k.Value)) {
					continue
				}
				p.where[join(f, k.Value)] = pos(v.Content[i+1])
				op.Map = append(op.Map, NamedExpr{Pos: pos(k), Name: k.Value, Expr: p.str(v.Content[i+1], join(f, k.Value))})
			}
		}),
		"window": kind(func(v *yaml.Node, f string) {
			w := &Window{Pos: pos(v)}
			shapes := 0
			p.fields(v, f, map[string]func(*yaml.Node, string){
				"tumbling": func(v *yaml.Node, f string) { shapes++; w.Size = p.duration(v, f) },
				"session": func(v *yaml.Node, f string) {
					shapes++
					if w.Gap = p.duration(v, f); w.Gap <= 0 {
						p.errorf(v, f, "a session window's gap must be > 0, got %v", w.Gap)
					}
				},
				"sliding": func(v *yaml.Node, f string) {
					shapes++
					var size, slide bool
					p.fields(v, f, map[string]func(*yaml.Node, string){
						"size":  func(v *yaml.Node, f string) { size = true; w.Size = p.duration(v, f) },
						"slide": func(v *yaml.Node, f string) { slide = true; w.Slide = p.duration(v, f) },
					})
					if v.Kind == yaml.MappingNode && !size {
						p.errorf(v, join(f, "size"), "missing: a sliding window needs size and slide, e.g. {size: 10s, slide: 1s}")
					}
					if v.Kind == yaml.MappingNode && !slide {
						p.errorf(v, join(f, "slide"), "missing: a sliding window needs size and slide, e.g. {size: 10s, slide: 1s} (for a tumbling window write tumbling: 10s)")
					}
				},
			})
			switch {
			case shapes > 1:
				p.errorf(v, f, "%d shapes given: a window is one of tumbling, sliding and session", shapes)
			case shapes == 0 && v.Kind == yaml.MappingNode:
				p.errorf(v, f, "no shape: want tumbling: 1s, sliding: {size: 10s, slide: 1s} or session: 30s")
			}
			op.Window = w
		}),
		"aggregate": func(v *yaml.Node, f string) { aggNode, aggField = v, f },
		"node": func(v *yaml.Node, f string) {
			if len(op.Nodes) > 0 {
				p.errorf(v, f, "node and nodes both given: use one")
			}
			op.Nodes, op.NodesPos = []string{p.str(v, f)}, pos(v)
		},
		"nodes": func(v *yaml.Node, f string) {
			if len(op.Nodes) > 0 {
				p.errorf(v, f, "node and nodes both given: use one")
			}
			op.NodesPos = pos(v)
			for i, it := range p.list(v, f) {
				op.Nodes = append(op.Nodes, p.str(it, fmt.Sprintf("%s[%d]", f, i)))
			}
			if len(op.Nodes) == 0 {
				p.errorf(v, f, "empty: name at least one node, or leave placement out")
			}
		},
		"join": kind(func(v *yaml.Node, f string) {
			j := &Join{}
			p.fields(v, f, map[string]func(*yaml.Node, string){
				"with":   func(v *yaml.Node, f string) { j.With = p.str(v, f) },
				"on":     func(v *yaml.Node, f string) { j.On = p.str(v, f) },
				"window": func(v *yaml.Node, f string) { j.Window = p.duration(v, f) },
				"within": func(v *yaml.Node, f string) { j.Within = p.duration(v, f) },
			})
			op.Join = j
		}),
		"union": kind(func(v *yaml.Node, f string) {
			op.Union = []string{}
			if v.Kind == yaml.ScalarNode {
				op.Union = append(op.Union, p.str(v, f))
				return
			}
			for i, it := range p.list(v, f) {
				op.Union = append(op.Union, p.str(it, fmt.Sprintf("%s[%d]", f, i)))
			}
		}),
	})
	if n.Kind != yaml.MappingNode {
		return op
	}
	switch {
	case kinds == 0:
		p.errorf(n, field, "no operator: want one of filter, map, key_by, window (with aggregate), join, union")
	case kinds > 1:
		p.errorf(n, field, "%d operators in one step: write each as its own list item", kinds)
	}
	switch {
	case aggNode != nil && op.Window == nil:
		p.errorf(aggNode, aggField, "aggregate belongs to a window step")
	case op.Window != nil && aggNode == nil:
		p.errorf(n, join(field, "aggregate"), "missing: a window needs aggregates, e.g. {n: count()}")
	case aggNode != nil:
		if aggNode.Kind != yaml.MappingNode {
			p.errorf(aggNode, aggField, "want a mapping of output field to aggregate, got %s", kindName(aggNode))
			break
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(aggNode.Content); i += 2 {
			k, v := aggNode.Content[i], aggNode.Content[i+1]
			f := join(aggField, k.Value)
			if p.dup(seen, k, f) {
				continue
			}
			p.where[f] = pos(v)
			call := p.str(v, f)
			m := aggregateCall.FindStringSubmatch(call)
			if m == nil {
				p.errorf(v, f, "want an aggregate call such as count(), sum(x), max_by(x) or top_k(x, 3); got %q", call)
				continue
			}
			op.Window.Aggregates = append(op.Window.Aggregates, Aggregate{Pos: pos(v), Name: k.Value, Func: m[1], Arg: strings.TrimSpace(m[2])})
		}
	}
	return op
}
