package query

import (
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Names is the shape of a row of fields: its field names, sorted and
// distinct. Every event of one shape shares one Names (NamesOf interns
// them), so an event is its values in the shape's order and nothing more:
// no map per event, and a step that reads a field by name resolves its
// position once per shape, not once per event. Names are immutable.
type Names struct {
	names []string
	index map[string]int // above linearNames names; else a scan is faster
}

// linearNames is the most names Index scans; above it a map answers.
const linearNames = 8

// maxInterned bounds the shapes NamesOf keeps for reuse. Sources whose
// events carry fields of their own choosing (JSON lines, Kafka, NATS) make
// a shape per distinct set of names; past the bound a shape is built
// afresh each time it is asked for, so no input can grow the table
// without limit. Nothing depends on interning but speed.
const maxInterned = 4096

var interned struct {
	m sync.Map // joined names → *Names
	n atomic.Int64
}

// NamesOf returns the shape of the given names (sorted, duplicates
// dropped). names is not kept.
func NamesOf(names ...string) *Names {
	if len(names) == 0 {
		return nil
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	key := strings.Join(sorted, "\x00")
	if n, ok := interned.m.Load(key); ok {
		return n.(*Names)
	}
	n := &Names{names: sorted}
	if len(sorted) > linearNames {
		n.index = make(map[string]int, len(sorted))
		for i, s := range sorted {
			n.index[s] = i
		}
	}
	if interned.n.Load() < maxInterned {
		if old, loaded := interned.m.LoadOrStore(key, n); loaded {
			return old.(*Names)
		}
		interned.n.Add(1)
	}
	return n
}

// Len returns the number of names; 0 for nil.
func (n *Names) Len() int {
	if n == nil {
		return 0
	}
	return len(n.names)
}

// Name returns the i-th name.
func (n *Names) Name(i int) string { return n.names[i] }

// Index returns the position of name, or -1.
func (n *Names) Index(name string) int {
	if n == nil {
		return -1
	}
	if n.index != nil {
		if i, ok := n.index[name]; ok {
			return i
		}
		return -1
	}
	for i, s := range n.names {
		if s == name {
			return i
		}
	}
	return -1
}

// Fields are an event's named values: a shape (Names) and the values in
// its order. The zero Fields has no fields. Fields are values: copying
// one copies a slice header, and events that share values share them
// read-only (a flat map may emit one event twice, a window keeps a row
// that a sink also holds), so nothing may write into a Fields' values;
// With and MakeFields build new ones.
type Fields struct {
	n *Names
	v []any
}

// NewFields returns the fields of shape n with values vals, in n's order
// (len(vals) must be n.Len()). The fields keep vals.
func NewFields(n *Names, vals []any) Fields {
	if n.Len() != len(vals) {
		panic(fmt.Sprintf("query: %d values for %d names", len(vals), n.Len()))
	}
	if len(vals) == 0 {
		return Fields{}
	}
	return Fields{n: n, v: vals}
}

// MakeFields returns fields with m's names and values (m is not kept).
func MakeFields(m map[string]any) Fields {
	var s Shapes
	return s.Make(m)
}

// Shapes makes Fields from maps for one producer (a decoder, a
// generator), reusing the shape of the last map when the next has the
// same names, as a stream's events mostly do. Not safe for concurrent
// use; the zero Shapes is ready.
type Shapes struct{ last *Names }

// Make returns fields with m's names and values (m is not kept).
func (s *Shapes) Make(m map[string]any) Fields {
	if len(m) == 0 {
		return Fields{}
	}
	n := s.last
	if n.Len() != len(m) || !n.covers(m) {
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		n = NamesOf(names...)
		s.last = n
	}
	vals := make([]any, n.Len())
	for i, name := range n.names {
		vals[i] = m[name]
	}
	return Fields{n: n, v: vals}
}

// covers reports whether every name of n is a key of m.
func (n *Names) covers(m map[string]any) bool {
	for _, name := range n.names {
		if _, ok := m[name]; !ok {
			return false
		}
	}
	return true
}

// Len returns the number of fields.
func (f Fields) Len() int { return len(f.v) }

// Names returns the fields' shape (nil when there are none).
func (f Fields) Names() *Names { return f.n }

// At returns the i-th value in the shape's order.
func (f Fields) At(i int) any { return f.v[i] }

// Get returns the value of name, nil when there is none: what indexing a
// map gives.
func (f Fields) Get(name string) any {
	if i := f.n.Index(name); i >= 0 {
		return f.v[i]
	}
	return nil
}

// Lookup returns the value of name and whether the fields have it.
func (f Fields) Lookup(name string) (any, bool) {
	if i := f.n.Index(name); i >= 0 {
		return f.v[i], true
	}
	return nil, false
}

// All yields the fields in name order.
func (f Fields) All() iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		for i, v := range f.v {
			if !yield(f.n.names[i], v) {
				return
			}
		}
	}
}

// Map returns a new map of the fields (nil when there are none), for
// code that wants one: expressions over nested rows, JSON, tests.
func (f Fields) Map() map[string]any {
	if len(f.v) == 0 {
		return nil
	}
	m := make(map[string]any, len(f.v))
	for i, v := range f.v {
		m[f.n.names[i]] = v
	}
	return m
}

// With returns a copy of the fields with name set to v (added, or
// replaced); f is unchanged.
func (f Fields) With(name string, v any) Fields {
	if i := f.n.Index(name); i >= 0 {
		vals := slices.Clone(f.v)
		vals[i] = v
		return Fields{n: f.n, v: vals}
	}
	m := f.Map()
	if m == nil {
		m = map[string]any{}
	}
	m[name] = v
	return MakeFields(m)
}

// Equal reports whether f and g have the same names and values (by ==,
// as map values compare; a value that == cannot compare, a nested map
// say, compares by its printed form).
func (f Fields) Equal(g Fields) bool {
	if f.n != g.n && !slices.Equal(f.n.namesOrNil(), g.n.namesOrNil()) {
		return false
	}
	for i := range f.v {
		if !sameAny(f.v[i], g.v[i]) {
			return false
		}
	}
	return true
}

func (n *Names) namesOrNil() []string {
	if n == nil {
		return nil
	}
	return n.names
}

func sameAny(a, b any) (same bool) {
	defer func() {
		if recover() != nil {
			same = fmt.Sprint(a) == fmt.Sprint(b)
		}
	}()
	return a == b
}

// String prints the fields as fmt prints a map: map[a:1 b:x].
func (f Fields) String() string {
	var b strings.Builder
	b.WriteString("map[")
	for i, v := range f.v {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%v", f.n.names[i], v)
	}
	b.WriteByte(']')
	return b.String()
}

// MarshalJSON writes the fields as a JSON object, names in order.
func (f Fields) MarshalJSON() ([]byte, error) {
	return json.Marshal(f.Map())
}

// UnmarshalJSON reads a JSON object.
func (f *Fields) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*f = MakeFields(m)
	return nil
}

// fieldRef reads one field by name from rows of any shape, resolving its
// position once per shape it meets (the last one is kept): a step sees
// one or a few shapes, so a read is a pointer compare and an index. Not
// safe for concurrent use.
type fieldRef struct {
	name string
	n    *Names
	i    int
}

func newFieldRef(name string) *fieldRef { return &fieldRef{name: name, i: -1} }

// get returns the field's value in f and whether f has it.
func (r *fieldRef) get(f Fields) (any, bool) {
	if f.n != r.n {
		r.n, r.i = f.n, f.n.Index(r.name)
	}
	if r.i < 0 {
		return nil, false
	}
	return f.v[r.i], true
}

// Clone returns f with values of its own. Rows of a batch share one
// allocation, so code that keeps an event long after its message (a
// window's max_by row, a join's buffered side, a user function's cache)
// clones its fields, lest one kept row hold the whole batch's alive.
func (f Fields) Clone() Fields {
	if len(f.v) == 0 {
		return Fields{}
	}
	return Fields{n: f.n, v: slices.Clone(f.v)}
}

// joinShape lays out a join's output rows: the left row's fields, the
// right row (a map, for expressions such as with.field) under the join's
// name, then extra fields (a window join's window_start and window_end).
// A name given twice keeps the later value, as a map's later key would.
// The output shape is built once per left shape it meets. Not safe for
// concurrent use.
type joinShape struct {
	with  string
	extra []string
	in    *Names // the left shape out was built for
	built bool
	out   *Names
	left  []int // where each left field goes
	at    []int // where the right row, then each extra, goes
}

func (s *joinShape) row(l Fields, right any, extra ...any) Fields {
	if !s.built || l.n != s.in {
		names := append(append(slices.Clone(l.n.namesOrNil()), s.with), s.extra...)
		s.in, s.built, s.out = l.n, true, NamesOf(names...)
		s.left = s.left[:0]
		for _, name := range l.n.namesOrNil() {
			s.left = append(s.left, s.out.Index(name))
		}
		s.at = s.at[:0]
		for _, name := range append([]string{s.with}, s.extra...) {
			s.at = append(s.at, s.out.Index(name))
		}
	}
	vals := make([]any, s.out.Len())
	for i, v := range l.v {
		vals[s.left[i]] = v
	}
	vals[s.at[0]] = right
	for i, v := range extra {
		vals[s.at[1+i]] = v
	}
	return Fields{n: s.out, v: vals}
}
