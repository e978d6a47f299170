package query

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

var (
	queryName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// AggregateFuncs are the built-in window aggregates: count(), sum(x),
// min(x), max(x), avg(x) over numbers; count_distinct(x) over any values;
// max_by(x) and min_by(x), the row (its fields, a map) whose number x is
// the largest or smallest; first(x) and last(x), x of the earliest or
// latest event by event time; top_k(x, k), the k rows with the largest x,
// largest first (a list of maps).
var AggregateFuncs = []string{"count", "sum", "min", "max", "avg", "count_distinct", "max_by", "min_by", "first", "last", "top_k"}

// MaxTopK bounds top_k's k.
const MaxTopK = 1000

// MaxKeyFields bounds the fields of one key_by.
const MaxKeyFields = 16

// EventTimeFormats are the accepted event-time field formats.
var EventTimeFormats = []string{"unix_ms", "unix_s", "unix_ns", "rfc3339"}

// schema is what an expression can see of an event: field name to type
// ("string", "int", "float", "bool", "map", "any"). A nil schema is unknown
// (JSON lines): any name compiles and is checked at run time.
type schema map[string]string

// builtin fields every event has.
var builtin = schema{"key": "string", "arrival": "int", "event_time": "int"}

func (s schema) env() map[string]any {
	env := map[string]any{}
	for k, v := range builtin {
		env[k] = zero(v)
	}
	for k, v := range s {
		env[k] = zero(v)
	}
	return env
}

func zero(t string) any {
	switch t {
	case "string":
		return ""
	case "int":
		return 0
	case "float":
		return 0.0
	case "bool":
		return false
	case "map":
		return map[string]any{}
	}
	return nil
}

func typeName(t reflect.Type) string {
	if t == nil {
		return "any"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int"
	case reflect.Float32, reflect.Float64:
		return "float"
	case reflect.Bool:
		return "bool"
	case reflect.Map:
		return "map"
	}
	return "any"
}

// compile compiles src against the stream's schema; want is "bool" for
// filters, "" for anything.
func (p *parser) compile(pos Pos, field, src string, s schema, want string) (*vm.Program, string) {
	if strings.TrimSpace(src) == "" {
		p.errs = append(p.errs, &Error{File: p.file, Pos: p.at(field, pos), Field: field, Msg: "empty expression"})
		return nil, ""
	}
	if len(src) > MaxExprBytes {
		p.fail(pos, field, "expression of %d bytes: at most %d", len(src), MaxExprBytes)
		return nil, ""
	}
	opts := []expr.Option{expr.Env(s.env())}
	if s == nil {
		opts = append(opts, expr.AllowUndefinedVariables())
	}
	if want == "bool" {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		msg, _, _ := strings.Cut(err.Error(), "\n") // the first line; the rest draws a caret
		p.errs = append(p.errs, &Error{File: p.file, Pos: p.at(field, pos), Field: field, Msg: fmt.Sprintf("expression %q does not compile: %s", src, msg)})
		return nil, ""
	}
	return prog, typeName(prog.Node().Type())
}

// fail records a validation error at the most specific position known for
// field, else at pos.
func (p *parser) fail(pos Pos, field, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Pos: p.at(field, pos), Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) validate(s *Spec) {
	top := Pos{Line: 1, Column: 1}
	if !queryName.MatchString(s.Name) {
		p.fail(top, "name", "%q: want 1–128 letters, digits, '-', '_' or '.', starting with a letter or digit", s.Name)
	}
	if !queryName.MatchString(s.Tenant) {
		p.fail(top, "tenant", "%q: want 1–128 letters, digits, '-', '_' or '.'", s.Tenant)
	}
	if s.LatencyTarget <= 0 || s.LatencyTarget > MaxLatencyTarget {
		p.fail(top, "latency_target", "must be > 0 and at most %v, got %v", MaxLatencyTarget, s.LatencyTarget)
	}
	if s.Parallelism < 1 || s.Parallelism > MaxParallelism {
		p.fail(top, "parallelism", "must be 1 to %d, got %d", MaxParallelism, s.Parallelism)
	}
	if !(s.Weight >= MinWeight && s.Weight <= MaxWeight) {
		p.fail(top, "weight", "must be %v to %v, got %v", MinWeight, MaxWeight, s.Weight)
	}
	if o := s.Overload; o.Shed {
		if o.ShedAfter < MinShedAfter || o.ShedAfter > MaxLatencyTarget {
			p.fail(o.Pos, "overload.shed_after", "with policy shed: must be %v to %v, got %v", MinShedAfter, MaxLatencyTarget, o.ShedAfter)
		}
	} else {
		if o.ShedAfter != 0 {
			p.fail(o.Pos, "overload.shed_after", "goes with policy shed")
		}
		if o.ShedSinkPath != "" {
			p.fail(o.Pos, "overload.shed_sink", "goes with policy shed")
		}
	}
	if len(s.Sources) > MaxSources {
		p.fail(top, "sources", "%d sources: at most %d", len(s.Sources), MaxSources)
		return
	}
	if len(s.Pipeline) > MaxSteps {
		p.fail(top, "pipeline", "%d steps: at most %d", len(s.Pipeline), MaxSteps)
		return
	}
	schemas := map[string]schema{}
	eventTime := map[string]bool{}
	index := map[string]int{}
	for i := range s.Sources {
		src := &s.Sources[i]
		f := fmt.Sprintf("sources[%d]", i)
		switch _, dup := index[src.Name]; {
		case !identifier.MatchString(src.Name):
			p.fail(src.Pos, f+".name", "%q: want an identifier (letters, digits, '_'), so that joins can name it", src.Name)
		case dup:
			p.fail(src.Pos, f+".name", "%q is also the name of sources[%d]", src.Name, index[src.Name])
		}
		index[src.Name] = i
		if src.Input == nil {
			if p.built { // a parsed one was reported by the parser
				p.fail(src.Pos, f, "no input: want one of %s", strings.Join(InputKinds(), ", "))
			}
			schemas[src.Name] = nil
		} else {
			kf := f + "." + src.Input.Kind()
			schemas[src.Name] = src.Input.Check(&Checker{p: p, pos: src.Pos, field: kf})
		}
		if et := src.EventTime; et != nil {
			eventTime[src.Name] = true
			p.validateEventTime(et, src.Pos, f+".event_time", schemas[src.Name])
		}
	}
	stdin := 0
	for _, u := range s.Uses() {
		if u.What == ReadsStdin {
			stdin++
		}
	}
	if stdin > 1 {
		p.fail(top, "sources", "%d sources read stdin; at most one can", stdin)
	}
	if len(s.Sources) == 0 {
		p.fail(top, "sources", "want at least one source (one of %s)", strings.Join(InputKinds(), ", "))
		return
	}
	p.validatePipeline(s, schemas, eventTime)
	if out := s.Sink.Output; out == nil {
		if p.built {
			p.fail(s.Sink.Pos, "sink", "want one of %s", strings.Join(OutputKinds(), ", "))
		}
	} else {
		out.Check(&Checker{p: p, pos: s.Sink.Pos, field: "sink." + out.Kind()})
	}
}

// written reports whether the spec set field: a parsed spec says where it
// wrote it; a built spec has only the value, so nonZero stands in.
func (p *parser) written(field string, nonZero bool) bool {
	if p.built {
		return nonZero
	}
	_, ok := p.where[field]
	return ok
}

// inRange reports whether x is finite and |x| <= bound.
func inRange(x, bound float64) bool { return x >= -bound && x <= bound }

// peakRate returns the highest and lowest rate the bursts reach, whichever
// is further out of [MinRate, MaxRate], and when. Overlapping bursts
// multiply, so the extremes are at burst starts.
func peakRate(g *Generator) (float64, time.Duration) {
	worst, at := g.Rate, time.Duration(0)
	for _, b := range g.Bursts {
		r := g.Rate
		for _, o := range g.Bursts {
			if b.At >= o.At && b.At-o.At < o.For {
				r *= o.Factor
			}
		}
		if r > MaxRate || r < MinRate {
			return r, b.At
		}
		if r > worst {
			worst, at = r, b.At
		}
	}
	return worst, at
}

func (p *parser) validateEventTime(et *EventTime, pos Pos, f string, s schema) {
	switch {
	case et.Field == "":
		p.fail(pos, f+".field", "missing: the field that holds each event's time")
	case s != nil && s[et.Field] != "int":
		p.fail(pos, f+".field", "%q must be an int field of the source's events (unix time in the format's unit)", et.Field)
	}
	if !containsStr(EventTimeFormats, et.Format) {
		p.fail(pos, f+".format", "%q: want one of %s", et.Format, strings.Join(EventTimeFormats, ", "))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"max_out_of_order", et.MaxOutOfOrder}, {"idle_timeout", et.IdleTimeout}, {"allowed_lateness", et.AllowedLateness}} {
		if d.v < 0 || d.v > MaxTimeBound {
			p.fail(pos, f+"."+d.name, "must be 0 to %v, got %v", MaxTimeBound, d.v)
		}
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validatePipeline follows the stream from sources[0] through each step,
// compiling every expression against the schema at that point.
func (p *parser) validatePipeline(s *Spec, schemas map[string]schema, eventTime map[string]bool) {
	main := s.Sources[0].Name
	cur := schemas[main]
	curEvent := eventTime[main]
	used := map[string]string{main: "the pipeline's input"}
	keyed := false
	var keyFields []string // the fields the last key_by keyed by
	use := func(op *Operator, f, name string) bool {
		if _, ok := schemas[name]; !ok {
			p.fail(op.Pos, f, "unknown source %q (sources: %s)", name, strings.Join(sourceNames(s), ", "))
			return false
		}
		if by, ok := used[name]; ok {
			if name == main {
				p.fail(op.Pos, f, "cycle: source %q is already the pipeline's input", name)
			} else {
				p.fail(op.Pos, f, "source %q is already used by %s", name, by)
			}
			return false
		}
		used[name] = f
		if eventTime[name] != curEvent {
			p.fail(op.Pos, f, "source %q and the stream differ in time: one has event_time, the other not", name)
		}
		// Late events go to the stream's late sink, sources[0]'s: a
		// joined or unioned source that names another would be silently
		// ignored. (Each source's allowed lateness holds at the steps its
		// events reach: they wait for the longest.)
		if other, first := sourceByName(s, name), s.Sources[0].EventTime; other != nil && other.EventTime != nil && first != nil {
			oi := slices.IndexFunc(s.Sources, func(x Source) bool { return x.Name == name })
			of := fmt.Sprintf("sources[%d].event_time", oi)
			if et := other.EventTime; et.LateSideSinkPath != "" && et.LateSideSinkPath != first.LateSideSinkPath {
				p.fail(other.Pos, of+".late_sink", "%q: late events of the whole stream go to sources[0]'s late_sink (%q); set it there", et.LateSideSinkPath, first.LateSideSinkPath)
			}
		}
		return true
	}
	for i := range s.Pipeline {
		op := &s.Pipeline[i]
		f := fmt.Sprintf("pipeline[%d]", i)
		switch op.Kind() {
		case KindFilter:
			prog, _ := p.compile(op.Pos, f+".filter", op.Filter, cur, "bool")
			p.progs[i] = []*vm.Program{prog}
		case KindMap:
			next := schema{}
			p.progs[i] = nil
			for _, ne := range op.Map {
				if !identifier.MatchString(ne.Name) || builtin[ne.Name] != "" {
					p.fail(ne.Pos, f+".map."+ne.Name, "output field %q: want an identifier other than key, arrival, event_time", ne.Name)
				}
				prog, t := p.compile(ne.Pos, f+".map."+ne.Name, ne.Expr, cur, "")
				p.progs[i] = append(p.progs[i], prog)
				next[ne.Name] = t
			}
			if len(op.Map) == 0 {
				p.fail(op.Pos, f+".map", "no output fields")
			}
			if len(op.Map) > MaxFields {
				p.fail(op.Pos, f+".map", "%d output fields: at most %d", len(op.Map), MaxFields)
			}
			cur = next
		case KindKeyBy:
			keyFields = nil
			switch {
			case op.KeyFields != nil:
				p.progs[i] = nil
				if len(op.KeyFields) == 0 || len(op.KeyFields) > MaxKeyFields {
					p.fail(op.Pos, f+".key_by", "%d fields: want 1 to %d", len(op.KeyFields), MaxKeyFields)
				}
				seen := map[string]bool{}
				for k, name := range op.KeyFields {
					kf := fmt.Sprintf("%s.key_by[%d]", f, k)
					if !identifier.MatchString(name) || builtin[name] != "" || seen[name] {
						p.fail(op.Pos, kf, "%q: want the name of a field, once (key, arrival and event_time are not fields)", name)
						continue
					}
					seen[name] = true
					prog, _ := p.compile(op.Pos, kf, name, cur, "")
					p.progs[i] = append(p.progs[i], prog)
				}
				keyFields = op.KeyFields
			case op.KeyFunc == nil:
				prog, _ := p.compile(op.Pos, f+".key_by", op.KeyBy, cur, "")
				p.progs[i] = []*vm.Program{prog}
				if name := strings.TrimSpace(op.KeyBy); identifier.MatchString(name) && builtin[name] == "" {
					keyFields = []string{name}
				}
			}
			keyed = true
		case KindProcess:
			cur = nil // a user function's output has no declared schema
		case KindWindow:
			w := op.Window
			switch {
			case w.Gap > 0:
				if w.Size != 0 || w.Slide != 0 {
					p.fail(w.Pos, f+".window", "a session window has a gap only, not a size or slide")
				}
				if w.Gap > MaxTimeBound {
					p.fail(w.Pos, f+".window.session", "gap must be > 0 and at most %v, got %v", MaxTimeBound, w.Gap)
				}
			case w.Size <= 0 || w.Size > MaxTimeBound:
				p.fail(w.Pos, f+".window", "size must be > 0 and at most %v, got %v (tumbling: 1s, or sliding: {size: 10s, slide: 1s})", MaxTimeBound, w.Size)
			case w.Slide < 0 || w.Slide > w.Size:
				p.fail(w.Pos, f+".window.sliding.slide", "must be > 0 and <= size %v, got %v", w.Size, w.Slide)
			case w.Slide > 0 && w.Size/w.Slide > MaxWindowsPerEvent:
				p.fail(w.Pos, f+".window.sliding.slide", "size %v / slide %v puts each event in %d windows: at most %d (a slide of at least %v)",
					w.Size, w.Slide, w.Size/w.Slide, MaxWindowsPerEvent, (w.Size+MaxWindowsPerEvent-1)/MaxWindowsPerEvent)
			}
			if len(w.Aggregates) > MaxFields {
				p.fail(w.Pos, f+".aggregate", "%d aggregates: at most %d", len(w.Aggregates), MaxFields)
			}
			next := schema{"window_start": "int", "window_end": "int"}
			// Each result carries the fields its key is made of, when the
			// stream still has them here.
			w.KeyFields = nil
			for _, name := range keyFields {
				t, ok := cur[name]
				if cur != nil && !ok || next[name] != "" || slices.ContainsFunc(w.Aggregates, func(a Aggregate) bool { return a.Name == name }) {
					continue // gone by here, or the window's own field or an aggregate's name: those win
				}
				if t == "" {
					t = "any"
				}
				next[name] = t
				w.KeyFields = append(w.KeyFields, name)
			}
			p.progs[i] = nil
			for ai := range w.Aggregates {
				a := &w.Aggregates[ai]
				af := f + ".aggregate." + a.Name
				var prog *vm.Program
				switch {
				case !identifier.MatchString(a.Name) || builtin[a.Name] != "" || next[a.Name] != "":
					p.fail(a.Pos, af, "output field %q: want an identifier other than key, arrival, event_time, window_start, window_end", a.Name)
				case a.User != nil:
					next[a.Name] = "any"
				case !containsStr(AggregateFuncs, a.Func):
					p.fail(a.Pos, af, "unknown aggregate %q (valid: %s)", a.Func, strings.Join(AggregateFuncs, ", "))
				case a.Func == "count":
					if a.Arg != "" {
						p.fail(a.Pos, af, "count() takes no argument, got %q", a.Arg)
					}
					next[a.Name] = "int"
				case a.Func == "count_distinct" || a.Func == "first" || a.Func == "last":
					var t string
					prog, t = p.compile(a.Pos, af, a.Arg, cur, "")
					next[a.Name] = "int"
					if a.Func != "count_distinct" {
						next[a.Name] = t
						if t == "" {
							next[a.Name] = "any"
						}
					}
				case a.Func == "max_by" || a.Func == "min_by" || a.Func == "top_k":
					arg := a.Arg
					if a.Func == "top_k" {
						x, k, ok := splitTopK(arg)
						if !ok {
							p.fail(a.Pos, af, "top_k(x, k): want an expression and a count k of 1 to %d, got %q", MaxTopK, arg)
							break
						}
						arg, a.K = x, k
					}
					var t string
					prog, t = p.compile(a.Pos, af, arg, cur, "")
					if prog != nil && t != "int" && t != "float" && t != "any" {
						p.fail(a.Pos, af, "%s orders rows by a number, but %s is a %s", a.Func, arg, t)
					}
					next[a.Name] = "map"
					if a.Func == "top_k" {
						next[a.Name] = "any"
					}
				default:
					var t string
					prog, t = p.compile(a.Pos, af, a.Arg, cur, "")
					switch {
					case prog == nil:
					case t != "int" && t != "float" && t != "any":
						p.fail(a.Pos, af, "%s(%s) needs a number, but %s is a %s", a.Func, a.Arg, a.Arg, t)
					case a.Func == "avg" || t == "any":
						next[a.Name] = "float"
					default:
						next[a.Name] = t
					}
				}
				p.progs[i] = append(p.progs[i], prog)
			}
			if len(w.Aggregates) == 0 {
				p.fail(w.Pos, f+".aggregate", "no aggregates")
			}
			cur = next
		case KindJoin:
			j := op.Join
			if !keyed {
				p.fail(op.Pos, f+".join", "missing key: add a key_by step before the join")
			}
			switch {
			case j.Within != 0 && j.Window != 0:
				p.fail(op.Pos, f+".join", "window and within both given: a join matches in tumbling windows or within an interval")
			case j.Within != 0:
				if j.Within < 0 || j.Within > MaxTimeBound {
					p.fail(op.Pos, f+".join.within", "must be > 0 and at most %v, got %v", MaxTimeBound, j.Within)
				}
			case j.Window <= 0 || j.Window > MaxTimeBound:
				p.fail(op.Pos, f+".join.window", "must be > 0 and at most %v, got %v (or within: for an interval join)", MaxTimeBound, j.Window)
			}
			if !use(op, f+".join.with", j.With) {
				continue
			}
			prog, _ := p.compile(op.Pos, f+".join.on", j.On, schemas[j.With], "")
			p.progs[i] = []*vm.Program{prog}
			if cur != nil {
				cur[j.With] = "map"
				if j.Within == 0 {
					cur["window_start"], cur["window_end"] = "int", "int"
				}
			}
		case KindUnion:
			if len(op.Union) == 0 {
				p.fail(op.Pos, f+".union", "no sources")
			}
			for k, name := range op.Union {
				if !use(op, fmt.Sprintf("%s.union[%d]", f, k), name) {
					continue
				}
				cur = intersect(cur, schemas[name])
			}
		}
	}
	for i, src := range s.Sources {
		if _, ok := used[src.Name]; !ok {
			p.fail(src.Pos, fmt.Sprintf("sources[%d]", i), "source %q is never used: join or union it into the pipeline, or remove it", src.Name)
		}
	}
}

// intersect is the schema of a union: the fields both sides have with the
// same type.
func intersect(a, b schema) schema {
	if a == nil || b == nil {
		return nil
	}
	out := schema{}
	for k, t := range a {
		if b[k] == t {
			out[k] = t
		}
	}
	return out
}

func sourceByName(s *Spec, name string) *Source {
	for i := range s.Sources {
		if s.Sources[i].Name == name {
			return &s.Sources[i]
		}
	}
	return nil
}

func sourceNames(s *Spec) []string {
	names := make([]string, len(s.Sources))
	for i, src := range s.Sources {
		names[i] = src.Name
	}
	return names
}

// splitTopK reads top_k's argument "x, k": the expression x and the
// count k (1 to MaxTopK) after its last comma.
func splitTopK(arg string) (x string, k int, ok bool) {
	i := strings.LastIndex(arg, ",")
	if i < 0 {
		return "", 0, false
	}
	x = strings.TrimSpace(arg[:i])
	n, err := strconv.Atoi(strings.TrimSpace(arg[i+1:]))
	if err != nil || n < 1 || n > MaxTopK || x == "" {
		return "", 0, false
	}
	return x, n, true
}
