package query

import (
	"errors"
	"fmt"
	"strings"
)

// Pos is a place in a spec file.
type Pos struct {
	Line, Column int
}

// Error is one problem in a spec: where, which field, what is wrong and, where
// it helps, what would be valid.
type Error struct {
	File  string
	Pos   Pos
	Field string // a path such as sources[0].generator.rate
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Pos.Line, e.Pos.Column)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrInvalidSpec is wrapped by the error Parse returns.
var ErrInvalidSpec = errors.New("invalid query spec")

// Errors is every problem found in one spec, in file order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is find ErrInvalidSpec.
func (es Errors) Unwrap() error { return ErrInvalidSpec }
