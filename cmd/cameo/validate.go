package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/cameo-go/cameo/query"
)

// exitError ends the command with a code; its problems were printed already.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate SPEC... (- for stdin)",
		Short: "Check query specs (YAML or JSON) and print every problem with file:line:column",
		Long: `Parses and validates each spec: fields, values, sources, the pipeline and its
expressions (compiled against the fields the stream has at that step). Prints
one line per valid spec on stdout; prints every problem of an invalid one on
stderr and exits 1.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runValidate(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args)
		},
	}
}

// maxStdinSpec bounds a spec read from stdin (a node's default bound).
const maxStdinSpec = 1 << 20

// parseSpec parses the spec in file, or read from in when file is "-".
func parseSpec(in io.Reader, file string) (*query.Plan, error) {
	if file != "-" {
		return query.ParseFile(file)
	}
	data, err := io.ReadAll(io.LimitReader(in, maxStdinSpec+1))
	if err != nil {
		return nil, fmt.Errorf("reading the spec from stdin: %w", err)
	}
	if len(data) > maxStdinSpec {
		return nil, fmt.Errorf("the spec on stdin is over %d bytes", maxStdinSpec)
	}
	p, err := query.Parse("stdin", data)
	if err == nil {
		for _, u := range p.Uses() {
			if u.What == query.ReadsStdin {
				return nil, fmt.Errorf("stdin: %s reads stdin, which the spec itself came from: give the spec as a file", u.Field)
			}
		}
	}
	return p, err
}

func runValidate(stdin io.Reader, stdout, stderr io.Writer, files []string) error {
	bad := 0
	for _, f := range files {
		s, err := parseSpec(stdin, f)
		if err != nil {
			bad++
			var es query.Errors
			if errors.As(err, &es) {
				for _, e := range es {
					fmt.Fprintln(stderr, e)
				}
			} else {
				fmt.Fprintf(stderr, "%s: %v\n", f, err)
			}
			continue
		}
		fmt.Fprintf(stdout, "%s: ok: query %q of tenant %q, latency target %v, %d source(s), %d step(s)\n",
			f, s.Name(), s.Tenant(), s.LatencyTarget(), len(s.Spec().Sources), len(s.Spec().Pipeline))
	}
	if bad > 0 {
		return exitError{code: 1}
	}
	return nil
}
