package main

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cameo-go/cameo/actors"
)

// usageError is a command line the command does not take (an unknown
// command or flag, a flag's bad value, the wrong arguments): main prints
// it with the command's usage and exits 2, as command-line tools do.
type usageError struct {
	err error
	cmd *cobra.Command
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usage marks err as a usage error of cmd.
func usage(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	return usageError{err: err, cmd: cmd}
}

// markUsageErrors makes the argument checks and flag errors of root and
// every command under it usage errors.
func markUsageErrors(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usage(c, err) })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if check := c.Args; check != nil {
			c.Args = func(cmd *cobra.Command, args []string) error { return usage(cmd, check(cmd, args)) }
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// checkScheduler refuses a --scheduler the engine does not know, as a
// usage error naming the flag.
func checkScheduler(cmd *cobra.Command, name string) error {
	if slices.Contains(actors.SchedulerNames(), name) {
		return nil
	}
	return usage(cmd, fmt.Errorf("--scheduler %q: unknown scheduler (valid: %s)", name, strings.Join(actors.SchedulerNames(), ", ")))
}

// internalPrefix is a package's name at the start of an error message
// ("runtime: ", "actors: "): the library's way to say where, not what a
// user of the command needs.
var internalPrefix = regexp.MustCompile(`(^|: )(runtime|actors|query|node|client|connector|priority|experiments): `)

// userMessage is err's message as the command prints it: without the
// library's package prefixes, and "bad engine config" said once.
func userMessage(err error) string {
	msg := err.Error()
	for {
		next := internalPrefix.ReplaceAllString(msg, "$1")
		if next == msg {
			break
		}
		msg = next
	}
	msg = strings.Replace(msg, "bad engine config: ", "", 1)
	return parseNoise.ReplaceAllString(msg, "")
}

// parseNoise is what strconv adds to a flag's bad number: pflag already
// said which flag and value.
var parseNoise = regexp.MustCompile(`strconv\.\w+: parsing "[^"]*": `)

// report prints err for the user and returns the exit code: 2 for a usage
// error (with the usage), an exitError's own, else 1.
func report(w io.Writer, root *cobra.Command, err error) int {
	var exit exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	var ue usageError
	if !errors.As(err, &ue) && strings.HasPrefix(err.Error(), "unknown command ") {
		ue = usageError{err: err, cmd: root} // cobra's own, before any command ran
	}
	fmt.Fprintln(w, "cameo:", userMessage(err))
	if ue.cmd != nil {
		fmt.Fprintf(w, "\n%s", ue.cmd.UsageString())
		return 2
	}
	return 1
}
