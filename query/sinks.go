package query

// The built-in sink kinds: stdout, file and discard write or drop JSON
// lines (one result per line, see docs/spec.md); a SinkFunc is the Go
// API's own.

func init() {
	RegisterOutput(OutputKind{Name: "stdout", Parse: func(s *Section) OutputSpec { s.Empty(); return Stdout{} }})
	RegisterOutput(OutputKind{Name: "discard", Parse: func(s *Section) OutputSpec { s.Empty(); return Discard{} }})
	RegisterOutput(OutputKind{Name: "file", Parse: func(s *Section) OutputSpec {
		f := &File{}
		s.Fields(map[string]func(*Value){"path": func(v *Value) { f.Path = v.Text() }})
		return f
	}})
}

// Stdout writes results to the process's standard output as JSON lines.
type Stdout struct{}

func (Stdout) Kind() string   { return "stdout" }
func (Stdout) Check(*Checker) {}
func (Stdout) Uses() []Use    { return []Use{{What: WritesStdout}} }

// Discard drops results; they are still counted and timed.
type Discard struct{}

func (Discard) Kind() string   { return "discard" }
func (Discard) Check(*Checker) {}

// File writes results to a file as JSON lines, replacing what it held.
type File struct {
	Path string
}

func (*File) Kind() string { return "file" }

func (f *File) Check(c *Checker) {
	if f.Path == "" {
		c.Fail("path", "missing: the file to write JSON lines to")
	}
}

func (f *File) Uses() []Use { return []Use{{Field: "path", What: WritesFile, Path: f.Path}} }
