package query

import (
	"math"
	"reflect"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

// native is an expression compiled to Go closures over an event: the
// common forms of filters, maps and aggregate arguments (fields, the
// built-in fields, literals, comparison, arithmetic, and/or/not, in,
// contains, startsWith, endsWith, ?:) run without the VM, its stack or a
// copy of the event's fields into an environment. It panics where the VM
// would fail; the runner then runs the program on the VM for that event,
// so that a failing event gets the VM's error, word for word.
//
// The closures read the event from a slot the runner owns (it copies each
// event there), so that the events they are given never escape to the
// heap: an event passed to a closure by pointer would.
type native func() any

// compileNative compiles p's checked tree to closures that compute what
// the VM computes for p, operator for operator: the same runtime helpers,
// the same type assertions where the VM's compiler emits typed opcodes
// (==, != on two simple ints or strings), the same dereferences, the same
// short-circuit results (`a and b` is a when a is false, else b) and the
// same final cast (a filter's AsBool). nil when the tree holds a node it
// does not handle (calls, member access, closures, ??, ranges, ...): the
// program then runs on the VM as before.
func compileNative(p *vm.Program, ev *Event) native {
	if p == nil {
		return nil
	}
	f := nativeNode(p.Node(), ev)
	if f == nil {
		return nil
	}
	if n := len(p.Bytecode); n > 0 && p.Bytecode[n-1] == vm.OpCast {
		switch p.Arguments[n-1] {
		case 0:
			return func() any { return runtime.ToInt(f()) }
		case 1:
			return func() any { return runtime.ToInt64(f()) }
		case 2:
			return func() any { return runtime.ToFloat64(f()) }
		case 3:
			return func() any { return runtime.ToBool(f()) }
		default:
			return nil
		}
	}
	return f
}

// nativeNode compiles one node; nil when it or a child is not handled.
func nativeNode(node ast.Node, ev *Event) native {
	switch n := node.(type) {
	case *ast.NilNode:
		return func() any { return nil }
	case *ast.IdentifierNode:
		switch name := n.Value; name {
		case "$env":
			return nil
		case "key":
			return func() any { return ev.Key }
		case "arrival":
			return func() any { return ev.Arrival }
		case "event_time":
			return func() any { return ev.EventTime }
		default:
			ref := newFieldRef(name)
			return func() any {
				v, _ := ref.get(ev.Fields)
				return v
			}
		}
	case *ast.IntegerNode:
		v, ok := integerConst(n)
		if !ok {
			return nil
		}
		return func() any { return v }
	case *ast.FloatNode:
		var v any = n.Value
		if t := n.Type(); t != nil && t.Kind() == reflect.Float32 {
			v = float32(n.Value)
		}
		return func() any { return v }
	case *ast.BoolNode:
		var v any = n.Value
		return func() any { return v }
	case *ast.StringNode:
		var v any = n.Value // boxed once: a string boxed per call allocates
		return func() any { return v }
	case *ast.ConstantNode:
		v := n.Value
		return func() any { return v }
	case *ast.UnaryNode:
		x := operand(n.Node, ev)
		if x == nil {
			return nil
		}
		switch n.Operator {
		case "!", "not":
			return func() any { return !x().(bool) }
		case "+":
			return x
		case "-":
			return func() any { return runtime.Negate(x()) }
		}
		return nil
	case *ast.ConditionalNode:
		c, a, b := operand(n.Cond, ev), nativeNode(n.Exp1, ev), nativeNode(n.Exp2, ev)
		if c == nil || a == nil || b == nil {
			return nil
		}
		return func() any {
			if c().(bool) {
				return a()
			}
			return b()
		}
	case *ast.BinaryNode:
		return nativeBinary(n, ev)
	}
	return nil
}

// operand compiles a node whose value an operator takes: dereferenced,
// as the VM's compiler does (derefInNeeded), when its type is a pointer
// or an interface.
func operand(node ast.Node, ev *Event) native {
	f := nativeNode(node, ev)
	if f == nil || node.Nature().Nil {
		return f
	}
	if t := node.Type(); t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface) {
		return func() any { return deref(f()) }
	}
	return f
}

func nativeBinary(n *ast.BinaryNode, ev *Event) native {
	l, r := operand(n.Left, ev), operand(n.Right, ev)
	if l == nil || r == nil {
		return nil
	}
	switch n.Operator {
	case "==", "!=":
		ne := n.Operator == "!="
		lk, rk := nodeKind(n.Left), nodeKind(n.Right)
		simple := simpleType(n.Left) && simpleType(n.Right)
		switch {
		case lk == rk && lk == reflect.Int && simple:
			return func() any { return (l().(int) == r().(int)) != ne }
		case lk == rk && lk == reflect.String && simple:
			return func() any { return (l().(string) == r().(string)) != ne }
		}
		return func() any { return runtime.Equal(l(), r()) != ne }
	case "and", "&&":
		return func() any {
			if a := l(); !a.(bool) {
				return a
			}
			return r()
		}
	case "or", "||":
		return func() any {
			if a := l(); a.(bool) {
				return a
			}
			return r()
		}
	case "<":
		return func() any { return runtime.Less(l(), r()) }
	case ">":
		return func() any { return runtime.More(l(), r()) }
	case "<=":
		return func() any { return runtime.LessOrEqual(l(), r()) }
	case ">=":
		return func() any { return runtime.MoreOrEqual(l(), r()) }
	case "+":
		return func() any { return runtime.Add(l(), r()) }
	case "-":
		return func() any { return runtime.Subtract(l(), r()) }
	case "*":
		return func() any { return runtime.Multiply(l(), r()) }
	case "/":
		return func() any { return runtime.Divide(l(), r()) }
	case "%":
		return func() any { return runtime.Modulo(l(), r()) }
	case "**", "^":
		return func() any { return runtime.Exponent(l(), r()) }
	case "in":
		return func() any { return runtime.In(l(), r()) }
	case "contains", "startsWith", "endsWith":
		op := map[string]func(string, string) bool{"contains": strings.Contains, "startsWith": strings.HasPrefix, "endsWith": strings.HasSuffix}[n.Operator]
		return func() any {
			a, b := l(), r()
			if runtime.IsNil(a) || runtime.IsNil(b) {
				return false
			}
			return op(a.(string), b.(string))
		}
	}
	return nil
}

func nodeKind(n ast.Node) reflect.Kind {
	if t := n.Type(); t != nil {
		return t.Kind()
	}
	return reflect.Invalid
}

func simpleType(n ast.Node) bool {
	t := n.Type()
	return t != nil && t.PkgPath() == ""
}

// integerConst is an integer literal as the VM's compiler pushes it: in
// the type the checker gave it. false where the compiler would refuse it
// (a constant that overflows its type) or for a type it is not written
// for.
func integerConst(n *ast.IntegerNode) (any, bool) {
	v, t := n.Value, n.Type()
	if t == nil {
		return v, true
	}
	switch t.Kind() {
	case reflect.Float32:
		return float32(v), true
	case reflect.Float64:
		return float64(v), true
	case reflect.Int64:
		return int64(v), true
	case reflect.Int32:
		if v >= math.MinInt32 && v <= math.MaxInt32 {
			return int32(v), true
		}
		return nil, false
	case reflect.Int, reflect.Interface:
		return v, true
	}
	return nil, false
}

// deref is the VM's OpDeref: pointers and interfaces followed to the value
// (nil for a nil one). Scalars, the values events hold, skip reflection.
func deref(v any) any {
	switch v.(type) {
	case nil, int, int64, float64, string, bool, map[string]any, []any:
		return v
	}
	x := reflect.ValueOf(v)
	for x.Kind() == reflect.Pointer || x.Kind() == reflect.Interface {
		if x.IsNil() {
			return nil
		}
		x = x.Elem()
	}
	if x.IsValid() {
		return x.Interface()
	}
	panic("cannot dereference")
}
