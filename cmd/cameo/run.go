package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

type runFlags struct {
	duration       time.Duration
	drain          time.Duration
	workers        int
	scheduler      string
	summary        string
	interval       time.Duration
	intervalSet    bool // --interval was given
	sharedTerminal bool // results and the live lines go to one terminal
	quiet          bool
	queryMemoryMiB int64
	nodeMemoryMiB  int64
	tenants        string
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [flags] SPEC... (- for stdin)",
		Short: "Run queries in this process and report their latency against their targets",
		Long: `Runs the queries of the specs (YAML or JSON) together on one engine: every
actor of every query shares one worker pool ordered by the scheduler. Stdout
sinks write JSON lines to stdout; a live line per query goes to stderr every
second (events/s, results, p99 and deadline-met ratio so far), and a final
table when every query has ended.

The run ends when every source has ended and drained, after --duration, or
on Ctrl-C (SIGINT/SIGTERM): sources stop, open windows flush, sinks close.
Exits 1 when a spec is invalid or a query failed.`,
		Example: `  cameo run examples/quickstart.yaml
  cameo run --scheduler fifo --summary fifo.json examples/two-tenants/*.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkScheduler(cmd, f.scheduler); err != nil {
				return err
			}
			if f.interval <= 0 {
				return usage(cmd, fmt.Errorf("--interval %v: want > 0", f.interval))
			}
			f.intervalSet = cmd.Flags().Changed("interval")
			f.sharedTerminal = isTerminal(cmd.OutOrStdout()) && isTerminal(cmd.ErrOrStderr())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runRun(ctx, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f, args)
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&f.duration, "duration", 0, "stop the sources after this long and drain (0: run until they end)")
	fl.DurationVar(&f.drain, "drain-timeout", 30*time.Second, "how long draining may take before queries are aborted")
	fl.IntVar(&f.workers, "workers", 0, "worker goroutines shared by every query (0: GOMAXPROCS)")
	fl.StringVar(&f.scheduler, "scheduler", actors.SchedulerCameo, "scheduler: "+strings.Join(actors.SchedulerNames(), "|"))
	fl.StringVar(&f.summary, "summary", "", "write a JSON summary of every query to this file")
	fl.DurationVar(&f.interval, "interval", time.Second, "how often to print the live lines")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no live lines")
	fl.StringVar(&f.tenants, "tenants", "", "tenant file (YAML): each tenant's weight in the worker pool and its max_queries (default: equal weights, no quotas)")
	fl.Int64Var(&f.queryMemoryMiB, "query-memory", runtime.DefaultQueryMemory>>20, "each query's memory budget in MiB (window state and queued events); a query over it fails (-1: none)")
	fl.Int64Var(&f.nodeMemoryMiB, "node-memory", runtime.DefaultNodeMemory()>>20, "the memory budget in MiB of all queries together (default 3/4 of the machine's or cgroup's memory; -1: none)")
	return cmd
}

// Summary is what --summary writes.
type Summary struct {
	Scheduler string         `json:"scheduler"`
	Workers   int            `json:"workers"`
	Seconds   float64        `json:"seconds"`
	Queries   []QuerySummary `json:"queries"`
}

// QuerySummary is one query's line of a Summary.
type QuerySummary struct {
	runtime.QueryStats
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

func runRun(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, f runFlags, files []string) error {
	var specs []*query.Plan
	bad := false
	for _, file := range files {
		s, err := parseSpec(stdin, file)
		if err != nil {
			bad = true
			printSpecError(stderr, file, err)
			continue
		}
		specs = append(specs, s)
	}
	if bad {
		return exitError{code: 1}
	}
	opts := []runtime.Option{runtime.WithWorkers(f.workers), runtime.WithScheduler(f.scheduler), runtime.WithStdout(stdout), runtime.WithQueryMemory(mib(f.queryMemoryMiB)), runtime.WithNodeMemory(mib(f.nodeMemoryMiB))}
	if f.tenants != "" {
		ts, err := query.ParseTenantsFile(f.tenants)
		if err != nil {
			printSpecError(stderr, f.tenants, err)
			return exitError{code: 1}
		}
		opts = append(opts, runtime.WithTenants(ts))
	}
	eng, err := runtime.New(opts...)
	if err != nil {
		return err
	}
	start := time.Now()
	var qs []*runtime.Query
	for _, s := range specs {
		q, err := eng.Submit(ctx, s)
		if err != nil {
			_ = eng.Stop(context.Background())
			return fmt.Errorf("%s: %w", s.File(), err)
		}
		qs = append(qs, q)
	}
	allDone := make(chan struct{})
	go func() {
		for _, q := range qs {
			<-q.Done()
		}
		close(allDone)
	}()
	var deadline <-chan time.Time
	if f.duration > 0 {
		t := time.NewTimer(f.duration)
		defer t.Stop()
		deadline = t.C
	}
	interval := f.interval
	if f.sharedTerminal && !f.intervalSet && !f.quiet && writesStdout(specs) {
		// Results scroll through the terminal the live lines go to: a line
		// a second would drown among them.
		interval = terminalInterval
		fmt.Fprintf(stderr, "results go to this terminal: live lines every %v (--interval to change, -q for none, or send the results elsewhere)\n", interval)
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	prev := map[string]uint64{}
	last := time.Now()
loop:
	for {
		select {
		case <-allDone:
			break loop
		case <-deadline:
			break loop
		case <-ctx.Done():
			fmt.Fprintln(stderr, "interrupted: draining")
			break loop
		case now := <-tick.C:
			if !f.quiet {
				liveLines(stderr, qs, prev, now.Sub(last), now.Sub(start))
			}
			last = now
		}
	}
	dctx, cancel := context.WithTimeout(context.Background(), f.drain)
	defer cancel()
	stopErr := eng.Stop(dctx)
	elapsed := time.Since(start)

	sum := Summary{Scheduler: f.scheduler, Workers: eng.Config().Workers, Seconds: elapsed.Seconds()}
	failed := false
	for _, q := range qs {
		qsum := QuerySummary{QueryStats: q.Stats(), State: string(q.State())}
		if err := q.Err(); err != nil {
			qsum.Error, failed = err.Error(), true
		}
		sum.Queries = append(sum.Queries, qsum)
	}
	finalTable(stderr, sum)
	if f.summary != "" {
		data, err := json.MarshalIndent(sum, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.summary, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("--summary: %w", err)
		}
	}
	if stopErr != nil {
		fmt.Fprintln(stderr, "stop:", stopErr)
		return exitError{code: 1}
	}
	if failed {
		return exitError{code: 1}
	}
	return nil
}

func printSpecError(w io.Writer, file string, err error) {
	var es query.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintln(w, e)
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", file, err)
}

// liveLines prints one line per query: its rate since the last line and
// its latency figures so far.
// terminalInterval is how often the live lines come while results scroll
// through the same terminal.
const terminalInterval = 10 * time.Second

// writesStdout says whether a query's sink writes standard output.
func writesStdout(specs []*query.Plan) bool {
	for _, s := range specs {
		for _, u := range s.Uses() {
			if u.What == query.WritesStdout {
				return true
			}
		}
	}
	return false
}

func liveLines(w io.Writer, qs []*runtime.Query, prev map[string]uint64, since, elapsed time.Duration) {
	for _, q := range qs {
		s := q.Stats()
		rate := float64(s.EventsRead-min(s.EventsRead, prev[s.ID])) / since.Seconds()
		prev[s.ID] = s.EventsRead
		r := s.Recent
		if r == nil {
			r = &runtime.RecentStats{}
		}
		mark := " "
		if r.Results > 0 && r.MetRatio < missThreshold {
			mark = "!"
		}
		fmt.Fprintf(w, "%s[%4.0fs] %-20s %-10s %9.0f ev/s  results %-8d last 10s: p99 %8s met %6s  late %d  dropped %d  %s\n",
			mark, elapsed.Seconds(), s.Name, s.Tenant, rate, s.Results, ms(r.P99Ms, r.Results), pct(r.MetRatio, r.Results), s.Late, s.Dropped, q.State())
	}
}

func ms(v float64, n uint64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fms", v)
}

func pct(v float64, n uint64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

func finalTable(w io.Writer, s Summary) {
	fmt.Fprintf(w, "\nscheduler %s, %d workers, %.1f s\n", s.Scheduler, s.Workers, s.Seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUERY\tTENANT\tTARGET\tEVENTS\tRESULTS\tP50\tP99\tMAX\tMET\tLATE\tDROPPED\tSTATE")
	for _, q := range s.Queries {
		fmt.Fprintf(tw, "%s\t%s\t%gms\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", q.Name, q.Tenant, q.LatencyTargetMs, q.EventsIn, q.Results,
			ms(q.P50Ms, q.Results), ms(q.P99Ms, q.Results), ms(q.MaxMs, q.Results), pct(q.MetRatio, q.Results), q.Late, q.Dropped, q.State)
	}
	_ = tw.Flush()
	for _, q := range s.Queries {
		if q.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", q.Name, q.Error)
		}
		if q.LastDropReason != "" {
			fmt.Fprintf(w, "%s: last dropped event: %s\n", q.Name, q.LastDropReason)
		}
		if len(q.Connectors) > 0 {
			fmt.Fprintf(w, "%s: connectors: %s\n", q.Name, connectorCounts(q.Connectors))
		}
	}
}
