package query

// The jsonl input kind: JSON objects, one per line, from a file or from
// standard input (DecodeLine reads each).

func init() {
	RegisterInput(InputKind{Name: "jsonl", Parse: func(s *Section) InputSpec {
		j := &JSONL{}
		s.Fields(map[string]func(*Value){
			"path":  func(v *Value) { j.Path = v.Text() },
			"stdin": func(v *Value) { j.Stdin = v.Bool() },
		})
		return j
	}})
}

// JSONL reads JSON objects, one per line, from a file or standard input.
type JSONL struct {
	Path  string
	Stdin bool
}

// Kind is "jsonl".
func (j *JSONL) Kind() string { return "jsonl" }

// Check wants exactly one of a path and stdin; the fields are known only
// when the lines are read.
func (j *JSONL) Check(c *Checker) map[string]string {
	switch {
	case j.Stdin && j.Path != "":
		c.Fail("", "both path and stdin: give one")
	case !j.Stdin && j.Path == "":
		c.Fail("", "want path: FILE or stdin: true")
	}
	return nil
}

// Uses is the file it reads, or standard input.
func (j *JSONL) Uses() []Use {
	if j.Stdin {
		return []Use{{Field: "stdin", What: ReadsStdin}}
	}
	return []Use{{Field: "path", What: ReadsFile, Path: j.Path}}
}
