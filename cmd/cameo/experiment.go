package main

import (
	"context"
	"errors"
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
			status := cmd.ErrOrStderr()
			// The running figures rewrite one line: on a terminal only (a
			// log, CI's, gets a line per experiment instead).
			if isTerminal(status) {
				o.Progress = status
			}
			err := runExperiments(ctx, cmd.OutOrStdout(), status, o, args)
			var unknown unknownExperiment
			if errors.As(err, &unknown) {
				return usage(cmd, err)
			}
			return err
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

// unknownExperiment is a name the catalogue does not have.
type unknownExperiment string

func (u unknownExperiment) Error() string {
	return fmt.Sprintf("unknown experiment %q; the catalogue:\n%s", string(u), catalogue())
}

// isTerminal says whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// runExperiments runs the experiments named, writing their findings to w
// and a line per experiment to status: which of how many, the time so
// far, and an estimate of the time left (the mean so far per experiment).
func runExperiments(ctx context.Context, w, status io.Writer, o experiments.Options, names []string) error {
	var list []experiments.Experiment
	for _, n := range names {
		if n == "all" {
			list = append(list, experiments.Catalogue()...)
			continue
		}
		e, ok := experiments.Lookup(n)
		if !ok {
			return unknownExperiment(n)
		}
		list = append(list, e)
	}
	begin := time.Now()
	for k, e := range list {
		start := time.Now()
		eta := ""
		if k > 0 {
			spent := time.Since(begin)
			eta = fmt.Sprintf(", %v so far, about %v left", spent.Round(time.Second), (spent / time.Duration(k) * time.Duration(len(list)-k)).Round(time.Second))
		}
		fmt.Fprintf(status, "[%d/%d] %s: %s%s\n", k+1, len(list), e.Name, e.Title, eta)
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
