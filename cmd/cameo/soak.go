package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/cameo-go/cameo/experiments"
)

func newSoakCmd() *cobra.Command {
	var o experiments.SoakOptions
	cmd := &cobra.Command{
		Use:   "soak",
		Short: "Run a node and a peer under churn, kill the peer, and check the node returns to its baseline",
		Long: `Starts two node processes on loopback (this binary, "serve"), keeps three
tenants' queries running on the first (one with steps on the second),
submits and cancels short queries twice a second, kills the peer with
SIGKILL and restarts it every quarter of the run, and samples the first
node's goroutines, heap and open files. At the end every query is ended, a
GC is forced, and the node must be back near its baseline, every ended
query must account for its events (read = in + late + dropped), and the node
must exit 0 on SIGTERM. Writes soak-samples.csv and soak-summary.md to --out;
exits 1 when a check fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			o.Binary, o.Progress = bin, cmd.ErrOrStderr()
			rep, err := experiments.Soak(cmd.Context(), o)
			if rep != nil {
				fmt.Fprint(cmd.OutOrStdout(), rep.Summary())
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&o.Duration, "duration", 10*time.Minute, "how long the churn runs")
	fl.StringVar(&o.Out, "out", "soak-out", "directory for the node logs, samples and summary")
	fl.Uint64Var(&o.Seed, "seed", 1, "seed of the churn")
	return cmd
}
