package query

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// Event is one stream element in memory. Arrival is the wall-clock time the
// source ingested it; EventTime is its own timestamp (equal to Arrival on
// processing-time streams, which are windowed by ingestion time so that
// results never depend on scheduling).
type Event struct {
	Arrival   int64
	EventTime int64
	// Watermark is the watermark of the event's source stream just before
	// the event was read (NoWatermark when unknown). A window or join judges
	// lateness by it as well as by its own watermark, so that which events
	// are late depends on the order of each source's input only, never on
	// the order in which the scheduler ran operators.
	Watermark int64
	Key       string
	Fields    Fields
}

// Env is what expressions on the VM see of an event: its fields plus key,
// arrival and event_time, copied into scratch (cleared first), which the
// caller reuses from event to event. The event's own Fields are never
// written: events share their values (a flat map may emit one event
// twice, to two instances), so Fields are read-only everywhere.
func (e *Event) Env(scratch map[string]any) map[string]any {
	clear(scratch)
	for i, v := range e.Fields.v {
		scratch[e.Fields.n.names[i]] = v
	}
	scratch["key"] = e.Key
	scratch["arrival"] = e.Arrival
	scratch["event_time"] = e.EventTime
	return scratch
}

// Stateless runs a filter, map or key_by step.
type Stateless struct {
	op    *Operator
	kind  Kind
	progs []*vm.Program
	r     runner
	// A map's output shape, and where each of its expressions' values
	// goes in it.
	names *Names
	pos   []int
}

// newStateless returns the state machine of a filter, map or key_by step
// with its compiled expressions (Plan.Machine).
func newStateless(op *Operator, progs []*vm.Program) (*Stateless, error) {
	if op.Kind().Stateless() {
		s := &Stateless{op: op, kind: op.Kind(), progs: progs, r: newRunner(progs)}
		if s.kind == KindMap {
			names := make([]string, len(op.Map))
			for i, ne := range op.Map {
				names[i] = ne.Name
			}
			s.names = NamesOf(names...)
			s.pos = make([]int, len(op.Map))
			for i, ne := range op.Map {
				s.pos[i] = s.names.Index(ne.Name)
			}
		}
		return s, nil
	}
	return nil, fmt.Errorf("query: %s is not a stateless step", op.Kind())
}

// Apply runs the step on in and appends what it emits to out. An event
// whose expression fails to evaluate is dropped and reported in errs (the
// caller counts it); the others go on.
func (s *Stateless) Apply(in []Event, out []Event) (_ []Event, errs []error) {
	switch {
	case s.op.Process != nil:
		for i := range in {
			var err error
			if out, err = s.op.Process(in[i], out); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.label(), err))
			}
		}
		return out, errs
	case s.op.KeyFunc != nil:
		for _, ev := range in {
			ev.Key = s.op.KeyFunc(ev)
			out = append(out, ev)
		}
		return out, nil
	}
	var vals []any // a map's rows, for the rest of the batch
	for i := range in {
		ev := in[i]
		switch s.kind {
		case KindFilter:
			keep, err := s.r.run(s.progs, 0, &ev)
			if err != nil {
				errs = append(errs, fmt.Errorf("filter %q: %w", s.op.Filter, err))
				continue
			}
			if keep == true {
				out = append(out, ev)
			}
		case KindKeyBy:
			if s.op.KeyFields != nil {
				key, err := s.compositeKey(&ev)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				ev.Key = key
				out = append(out, ev)
				continue
			}
			if s.r.ident[0] == "key" { // key_by: key keeps the key, unboxed
				out = append(out, ev)
				continue
			}
			k, err := s.r.run(s.progs, 0, &ev)
			if err != nil {
				errs = append(errs, fmt.Errorf("key_by %q: %w", s.op.KeyBy, err))
				continue
			}
			ev.Key = keyString(k)
			out = append(out, ev)
		case KindMap:
			// The batch's rows share one allocation: a map allocates
			// nothing per event.
			k := s.names.Len()
			if len(vals) < k {
				vals = make([]any, k*(len(in)-i))
			}
			row := vals[:k:k]
			var failed error
			for j, ne := range s.op.Map {
				v, err := s.r.run(s.progs, j, &ev)
				if err != nil {
					failed = fmt.Errorf("map %s = %q: %w", ne.Name, ne.Expr, err)
					break
				}
				row[s.pos[j]] = v
			}
			if failed != nil {
				clear(row)
				errs = append(errs, failed)
				continue
			}
			vals = vals[k:]
			ev.Fields = NewFields(s.names, row)
			out = append(out, ev)
		}
	}
	return out, errs
}

func (s *Stateless) label() string {
	if s.op.Label != "" {
		return s.op.Label
	}
	return s.op.Kind().String()
}

// runner evaluates compiled programs on events with one reused VM and
// scratch environment. Not safe for concurrent use.
type runner struct {
	vm      vm.VM
	scratch map[string]any
	ident   []string    // per program: the name it is, when it is just a name
	refs    []*fieldRef // per program: that name's position, when it is a field's
	native  []native    // per program: its closures, when it compiles to them (native.go)
	slot    *Event      // the event the closures read
}

func newRunner(progs []*vm.Program) runner {
	r := runner{scratch: map[string]any{}, ident: make([]string, len(progs)), refs: make([]*fieldRef, len(progs)), native: make([]native, len(progs)), slot: new(Event)}
	for i, p := range progs {
		if p != nil {
			if id, ok := p.Node().(*ast.IdentifierNode); ok {
				r.ident[i] = id.Value
				r.refs[i] = newFieldRef(id.Value)
			}
			r.native[i] = compileNative(p, r.slot)
		}
	}
	return r
}

// runNative evaluates f on the event in its slot; ok is false when it
// panicked, where the VM fails (the caller then runs the VM, for its
// error).
func runNative(f native) (v any, ok bool) {
	defer func() {
		if recover() != nil {
			v, ok = nil, false
		}
	}()
	return f(), true
}

// run evaluates program i of progs on ev. A program that is just a name
// (key_by: key, sum(v)) is read without the VM.
func (r *runner) run(progs []*vm.Program, i int, ev *Event) (any, error) {
	switch name := r.ident[i]; name {
	case "":
	case "key":
		return ev.Key, nil
	case "arrival":
		return ev.Arrival, nil
	case "event_time":
		return ev.EventTime, nil
	default:
		if v, ok := r.refs[i].get(ev.Fields); ok {
			return v, nil
		}
	}
	var v any
	var err error
	ok := false
	if f := r.native[i]; f != nil {
		*r.slot = *ev
		v, ok = runNative(f)
	}
	if !ok {
		v, err = r.vm.Run(progs[i], ev.Env(r.scratch))
	}
	if f, ok := v.(float64); ok && err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return nil, fmt.Errorf("%w: gave %v (a division by zero or an overflow)", ErrNonFinite, f)
	}
	return v, err
}

// keyString turns a key expression's value into a key.
// compositeKey is the key of several fields: their values, each written
// as keyString does with '|' and '\' escaped, joined by '|'.
func (s *Stateless) compositeKey(ev *Event) (string, error) {
	var b strings.Builder
	for j, name := range s.op.KeyFields {
		v, err := s.r.run(s.progs, j, ev)
		if err != nil {
			return "", fmt.Errorf("key_by %s: %w", name, err)
		}
		if j > 0 {
			b.WriteByte('|')
		}
		part := keyString(v)
		if strings.ContainsAny(part, `|\`) {
			part = strings.NewReplacer(`\`, `\\`, `|`, `\|`).Replace(part)
		}
		b.WriteString(part)
	}
	return b.String(), nil
}

func keyString(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	}
	return fmt.Sprint(k)
}
