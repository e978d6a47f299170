package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cameo-go/cameo/experiments"
)

func newExperimentCmd() *cobra.Command {
	var o experiments.Options
	cmd := &cobra.Command{
		Use:   "experiment NAME...|all",
		Short: "Reproduce the paper's experiments (E1–E10) and E11: CSV files, plots and findings",
		Long: `Runs experiments of experiments.Catalogue: each compares, in the same run,
the schedulers it needs, writes OUT/NAME.csv and PNG plots, and prints its
findings beside the paper's numbers. --quick runs the small versions (CI).

` + catalogue(),
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.Progress = cmd.ErrOrStderr()
			return runExperiments(ctx, cmd.OutOrStdout(), o, args)
		},
	}
	cmd.Flags().BoolVar(&o.Quick, "quick", false, "the small versions")
	cmd.Flags().StringVar(&o.Out, "out", "experiments/out", "directory for CSV files and plots")
	cmd.Flags().IntVar(&o.Workers, "workers", 2, "worker pool size")
	return cmd
}

func catalogue() string {
	var b strings.Builder
	for _, e := range experiments.Catalogue() {
		fmt.Fprintf(&b, "  %-4s %s\n", e.Name, e.Title)
	}
	return b.String()
}

func runExperiments(ctx context.Context, w io.Writer, o experiments.Options, names []string) error {
	var list []experiments.Experiment
	for _, n := range names {
		if n == "all" {
			list = append(list, experiments.Catalogue()...)
			continue
		}
		e, ok := experiments.Lookup(n)
		if !ok {
			return fmt.Errorf("unknown experiment %q; the catalogue:\n%s", n, catalogue())
		}
		list = append(list, e)
	}
	for _, e := range list {
		start := time.Now()
		fmt.Fprintf(o.Progress, "%s: %s\n", e.Name, e.Title)
		rep, err := e.Run(ctx, o)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		fmt.Fprintf(w, "## %s — %s (%.0f s%s)\n", rep.Name, e.Title, time.Since(start).Seconds(), map[bool]string{true: ", quick", false: ""}[o.Quick])
		for _, f := range rep.Findings {
			if f.Paper != "" {
				fmt.Fprintf(w, "- %s: %s (paper: %s)\n", f.Metric, f.Ours, f.Paper)
			} else {
				fmt.Fprintf(w, "- %s: %s\n", f.Metric, f.Ours)
			}
		}
		fmt.Fprintf(w, "- files: %s\n\n", strings.Join(rep.Files, ", "))
	}
	return nil
}
