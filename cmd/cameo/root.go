package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cameo-go/cameo/priority"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "cameo",
		Short:         "A latency-aware, multi-tenant stream processing runtime (Cameo, NSDI'21) in Go",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCmd(), newServeCmd(), newSubmitCmd(), newListCmd(), newStatsCmd(), newCancelCmd(), newTailCmd(), newTenantsCmd(), newClusterCmd(), newExperimentCmd(), newMotivatingCmd(), newValidateCmd(), newVersionCmd(), newSoakCmd())
	markUsageErrors(root)
	return root
}

func newMotivatingCmd() *cobra.Command {
	var policies []string
	var trace bool
	cmd := &cobra.Command{
		Use:   "motivating",
		Short: "Run the paper's motivating example (slides 17–23) on the scheduler simulator",
		Long: `Runs the paper's motivating example on the discrete-event simulator, which
drives the same run queue, per-actor queues, turn rules and policies as the
real dispatcher: one worker busy until 80; a bulk window query (M1, M3,
target 100) and a latency-sensitive filter (M2, M4, target 50). The paper's
outcome: fifo misses M2 and M4, llf misses M4, cameo misses none.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMotivating(cmd.OutOrStdout(), policies, trace)
		},
	}
	cmd.Flags().StringSliceVar(&policies, "policy", []string{"fifo", "llf", "cameo"},
		"policies to compare ("+strings.Join(priority.PolicyNames(), ", ")+")")
	cmd.Flags().BoolVar(&trace, "trace", false, "print each policy's schedule trace")
	return cmd
}

func runMotivating(w io.Writer, policies []string, trace bool) error {
	for _, name := range policies {
		p, err := priority.PolicyByName(name)
		if err != nil {
			return fmt.Errorf("--policy: %w", err)
		}
		var tr strings.Builder
		out, err := priority.MotivatingExample(p, &tr)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-6s %s\n", name, out)
		if trace {
			for _, line := range strings.SplitAfter(tr.String(), "\n") {
				if line != "" {
					fmt.Fprint(w, "         ", line)
				}
			}
		}
	}
	return nil
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), version())
		},
	}
}

// version is the module's version, or for a build from a checkout the
// commit, its time and whether the tree was modified; and Go's version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "cameo (no build information)"
	}
	v := bi.Main.Version
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v = fmt.Sprintf("%s (commit %s, %s%s)", v, rev, at, dirty)
	}
	return fmt.Sprintf("cameo %s, %s", v, bi.GoVersion)
}
