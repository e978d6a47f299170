package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cameo-go/cameo/actors"
	"github.com/cameo-go/cameo/client"
	"github.com/cameo-go/cameo/node"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

func newServeCmd() *cobra.Command {
	var cfg node.NodeConfig
	var workers int
	var scheduler string
	var cl runtime.ClusterConfig
	var peers []string
	var insecureRemote, metricsPerQuery bool
	var keepEnded int
	var keepEndedFor time.Duration
	var queryMemoryMiB, nodeMemoryMiB int64
	var tenantsFile string
	var admit runtime.Admission
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a node: the engine behind an HTTP API that many users submit queries to",
		Long: `Starts a node. The API (JSON): POST /v1/queries (a spec, YAML or JSON),
GET /v1/queries, GET /v1/queries/{id}, DELETE /v1/queries/{id} (drains, then
removes), GET /v1/tenants, GET /v1/load, GET /metrics (Prometheus), GET /healthz, GET /readyz.

The node listens on loopback unless told otherwise; any other address needs a
bearer token (--token or CAMEO_TOKEN). Specs may not touch the node's files
unless --allow-files DIR, and then only regular files inside DIR. SIGINT or
SIGTERM: stop accepting, drain every query, exit 0; a node that runs part of
a query another node coordinates asks it to drain that query first.

A cluster: give each node a --name, its --remote address and every other
node as --peer name=host:port. Each node also listens on the port after its
remote address (UDP and TCP; --gossip to choose another, and then
--peer name=host:port,gossip=host:port on the others) for the membership
protocol (SWIM, hashicorp/memberlist), which finds the peers that are up. A
query submitted to any node runs its sources and sink there; its steps run
where the spec's node:/nodes: put them, or spread over the nodes that are
up. GET /v1/cluster shows the peers, whether they are up, the measured round
trips and clock offsets. A node that stops answering probes is declared
down after --peer-timeout and fails the queries that use it; the others go on.

  cameo serve --name n1 --listen 127.0.0.1:7700 --remote 127.0.0.1:7800 --peer n2=127.0.0.1:7810
  cameo serve --name n2 --listen 127.0.0.1:7701 --remote 127.0.0.1:7810 --peer n1=127.0.0.1:7800`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkScheduler(cmd, scheduler); err != nil {
				return err
			}
			if cfg.Token == "" {
				cfg.Token = os.Getenv("CAMEO_TOKEN")
			}
			cfg.Engine = []runtime.Option{runtime.WithWorkers(workers), runtime.WithScheduler(scheduler), runtime.WithKeepEnded(keepEnded, keepEndedFor), runtime.WithQueryMemory(mib(queryMemoryMiB)), runtime.WithNodeMemory(mib(nodeMemoryMiB)), runtime.WithAdmission(admit)}
			if metricsPerQuery {
				cfg.Engine = append(cfg.Engine, runtime.WithMetricsPerQuery())
			}
			cfg.Version = version()
			if tenantsFile != "" {
				ts, err := query.ParseTenantsFile(tenantsFile)
				if err != nil {
					return fmt.Errorf("--tenants: %w", err)
				}
				cfg.Engine = append(cfg.Engine, runtime.WithTenants(ts))
			}
			if cl.Name != "" || len(peers) > 0 {
				if cl.Name == "" {
					return fmt.Errorf("--peer needs --name: this node's name in the cluster")
				}
				var err error
				if cl.Peers, cl.PeerGossip, err = runtime.ParsePeers(peers); err != nil {
					return fmt.Errorf("--peer: %w", err)
				}
				if host, _, err := net.SplitHostPort(cl.Address); err == nil && !node.Loopback(host) && !insecureRemote {
					return fmt.Errorf("--remote %s is not a loopback address: the remote layer is neither authenticated nor encrypted; pass --insecure-remote to accept that on a private network", cl.Address)
				}
				cfg.Engine = append(cfg.Engine, runtime.WithCluster(cl))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cmd.ErrOrStderr(), cfg)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Listen, "listen", node.DefaultListen, "address to listen on")
	fl.IntVar(&workers, "workers", 0, "worker goroutines shared by every query (0: GOMAXPROCS)")
	fl.StringVar(&scheduler, "scheduler", actors.SchedulerCameo, "scheduler: "+strings.Join(actors.SchedulerNames(), "|"))
	fl.StringVar(&cfg.Token, "token", "", "bearer token the API requires (default $CAMEO_TOKEN); required off loopback")
	fl.BoolVar(&cfg.Pprof, "pprof", false, "serve net/http/pprof under /debug/pprof/")
	fl.BoolVar(&metricsPerQuery, "metrics-per-query", false, "add a /metrics series per query and operator to the per-tenant ones (many queries: many series)")
	fl.StringVar(&cfg.FilesDir, "allow-files", "", "let specs read and write files in `DIR` (paths relative to it; nothing outside it, no devices or FIFOs)")
	fl.StringSliceVar(&cfg.AllowConnect, "allow-connect", nil, "let specs' connectors (webhook, brokers) connect to these `host:port`s (comma-separated or repeated; * for any)")
	fl.DurationVar(&cfg.DrainTimeout, "drain-timeout", 30*time.Second, "how long cancel and shutdown may drain")
	fl.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a request's headers may take to arrive")
	fl.DurationVar(&cfg.ReadTimeout, "read-timeout", 30*time.Second, "how long a whole request, body included, may take to arrive")
	fl.DurationVar(&cfg.WriteTimeout, "write-timeout", 60*time.Second, "how long writing an answer may take")
	fl.DurationVar(&cfg.IdleTimeout, "idle-timeout", 60*time.Second, "how long a keep-alive connection may stay idle between requests")
	fl.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", 64<<10, "largest request header accepted")
	fl.IntVar(&cfg.MaxConns, "max-conns", 1024, "most HTTP connections open at once; more wait to be accepted")
	fl.Float64Var(&admit.Below, "admit-below", 0.9, "refuse submits while the workers are this busy with feasible work over --admit-window (429; 0: admit everything)")
	fl.DurationVar(&admit.Window, "admit-window", 10*time.Second, "how far back --admit-below measures")
	fl.DurationVar(&admit.SchedLatency, "admit-sched-latency", 0, "also refuse while Go's scheduling latency p99 over the window is at least this (0: not used)")
	fl.StringVar(&tenantsFile, "tenants", "", "tenant file (YAML): each tenant's weight in the worker pool and its max_queries (default: equal weights, no quotas)")
	fl.Int64Var(&queryMemoryMiB, "query-memory", runtime.DefaultQueryMemory>>20, "each query's memory budget in MiB (window state and queued events); a query over it fails (-1: none)")
	fl.Int64Var(&nodeMemoryMiB, "node-memory", runtime.DefaultNodeMemory()>>20, "the node's memory budget in MiB (all queries' window state and queued events; default 3/4 of the machine's or cgroup's memory); over it the largest query of the tenant holding the most for its weight fails, near it submits are refused (-1: none)")
	fl.IntVar(&keepEnded, "keep-ended", 100, "ended queries the node remembers (newest first; -1: all)")
	fl.DurationVar(&keepEndedFor, "keep-ended-for", time.Hour, "how long the node remembers an ended query (-1s: forever)")
	fl.StringVar(&cl.Name, "name", "", "this node's name in a cluster (enables the remote layer)")
	fl.StringVar(&cl.Address, "remote", runtime.DefaultRemote, "address of the remote layer (gRPC) other nodes reach this one on")
	fl.StringVar(&cl.Gossip, "gossip", "", "address of the membership protocol, UDP and TCP (default: --remote's host and next port)")
	fl.StringArrayVar(&peers, "peer", nil, "another node: name=host:port of its remote layer, with ,gossip=host:port when its gossip is not at the next port (repeatable)")
	fl.DurationVar(&cl.Heartbeat, "heartbeat", 100*time.Millisecond, "how often to probe a peer (membership) and ping each (backlogs, clocks)")
	fl.DurationVar(&cl.PeerTimeout, "peer-timeout", 2*time.Second, "how long a peer that stopped answering probes stays suspect before it is down and the queries using it fail")
	fl.BoolVar(&insecureRemote, "insecure-remote", false, "allow a non-loopback --remote (no authentication, no encryption)")
	return cmd
}

// mib turns a flag in MiB into bytes; negative stays negative (no budget).
func mib(n int64) int64 {
	if n < 0 {
		return -1
	}
	return min(n, 1<<40) << 20
}

func serve(ctx context.Context, log io.Writer, cfg node.NodeConfig) error {
	n, err := node.NewNode(cfg)
	if err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		_ = n.Shutdown(context.Background())
		return err
	}
	e := n.Engine().Config()
	fmt.Fprintf(log, "cameo node on http://%s (scheduler %s, %d workers)\n", n.Addr(), e.Scheduler, e.Workers)
	if gc != "" {
		fmt.Fprintf(log, "collector: %s\n", gc)
	}
	if ci, ok := n.Engine().Cluster(); ok {
		names := make([]string, len(ci.Peers))
		for i, p := range ci.Peers {
			names[i] = p.Name + "=" + p.Address
		}
		fmt.Fprintf(log, "cluster node %s, remote on %s, peers: %s\n", ci.Name, ci.Address, strings.Join(names, " "))
	}
	<-ctx.Done()
	fmt.Fprintln(log, "shutting down: draining queries")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout+5*time.Second)
	defer cancel()
	if err := n.Shutdown(sctx); err != nil {
		return err
	}
	fmt.Fprintln(log, "stopped")
	return nil
}

// clientFlags are the flags of the commands that talk to a node.
type clientFlags struct {
	server, token, output string
}

func (f *clientFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.server, "server", "", "the node (default $CAMEO_SERVER, else "+node.DefaultListen+")")
	cmd.Flags().StringVar(&f.token, "token", "", "bearer token (default $CAMEO_TOKEN)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "table or json")
}

func (f *clientFlags) client() (*client.Client, error) {
	if f.output != "table" && f.output != "json" {
		return nil, fmt.Errorf("-o %q: want table or json", f.output)
	}
	server, token := f.server, f.token
	if server == "" {
		server = os.Getenv("CAMEO_SERVER")
	}
	if token == "" {
		token = os.Getenv("CAMEO_TOKEN")
	}
	return client.NewClient(server, token)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// apiError prints a node's refusal with its problems, one per line.
func apiError(err error) error {
	var e *client.APIError
	if errors.As(err, &e) {
		return fmt.Errorf("node refused (%w)", err)
	}
	return err
}

func newSubmitCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "submit SPEC",
		Short: "Submit a query spec (YAML or JSON; - for stdin) to a node; prints its id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var data []byte
			if args[0] == "-" {
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return err
			}
			s, err := c.Submit(cmd.Context(), data)
			if err != nil {
				return apiError(err)
			}
			if f.output == "json" {
				return printJSON(cmd.OutOrStdout(), s)
			}
			fmt.Fprintln(cmd.OutOrStdout(), s.ID)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newListCmd() *cobra.Command {
	var f clientFlags
	var o client.ListOptions
	var state string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List a node's queries: state, uptime, events/s, p99 against target, met ratio",
		Long: `Lists a node's queries in submission order: state, uptime, events/s, p99
and met ratio of the last 10 s and since the start. --tenant and --state
filter; --limit shows one page (then --after ID the next); without it every
query is listed, page after page.`,
		Example: `  cameo list
  cameo list --tenant ads --state running
  cameo list --limit 100 --after q200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			o.State = client.State(state)
			if o.Limit < 0 || o.Limit > client.MaxListLimit {
				return usage(cmd, fmt.Errorf("--limit %d: want 1 to %d (0: every query)", o.Limit, client.MaxListLimit))
			}
			if o.After != "" && o.Limit == 0 {
				return usage(cmd, errors.New("--after needs --limit"))
			}
			var qs []client.QueryInfo
			var page client.Page
			if o.Limit == 0 {
				qs, err = c.ListAll(cmd.Context(), o)
			} else {
				page, err = c.ListPage(cmd.Context(), o)
				qs = page.Queries
			}
			if err != nil {
				return apiError(err)
			}
			if f.output == "json" {
				return printJSON(cmd.OutOrStdout(), qs)
			}
			listTable(cmd.OutOrStdout(), qs)
			if page.Next != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%d of %d; the next page: --after %s\n", len(qs), page.Total, page.Next.After)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Tenant, "tenant", "", "only this tenant's queries")
	cmd.Flags().StringVar(&state, "state", "", "only queries in this state: running|draining|done|cancelled|failed")
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "show one page of at most this many (0: every query)")
	cmd.Flags().StringVar(&o.After, "after", "", "the page starts after this query id (with --limit)")
	f.add(cmd)
	return cmd
}

// missThreshold is the met ratio under which `list` and `stats` mark a
// query as missing its target.
const missThreshold = 0.99

func listTable(w io.Writer, qs []client.QueryInfo) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tID\tNAME\tTENANT\tSTATE\tUPTIME\tEVENTS/S\tTARGET\tP99 10S\tMET 10S\tP99 ALL\tMET ALL\tRESULTS")
	missing := 0
	for _, q := range qs {
		r := q.Recent
		if r == nil {
			r = &client.RecentStats{}
		}
		mark := ""
		if r.Results > 0 && r.MetRatio < missThreshold {
			mark, missing = "!", missing+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%gms\t%s\t%s\t%s\t%s\t%d\n", mark, q.ID, q.Name, q.Tenant, q.State,
			(time.Duration(q.UptimeSeconds) * time.Second).String(), q.EventsPerSec, q.LatencyTarget,
			ms(r.P99Ms, r.Results), pct(r.MetRatio, r.Results), ms(q.P99Ms, q.Results), pct(q.MetRatio, q.Results), q.Results)
	}
	_ = tw.Flush()
	if missing > 0 {
		fmt.Fprintf(w, "! %d of %d queries met their target for less than %.0f %% of their results of the last 10 s\n", missing, len(qs), 100*missThreshold)
	}
	for _, q := range qs {
		if q.Error != "" {
			fmt.Fprintf(w, "%s: %s\n", q.ID, q.Error)
		}
	}
}

func newStatsCmd() *cobra.Command {
	var f clientFlags
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "stats [ID]",
		Short: "Latency against target per query (all, or one with its operators); --watch refreshes",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			w := cmd.OutOrStdout()
			for {
				if !watch {
					if err := printStats(ctx, w, c, args, f.output); err != nil {
						return apiError(err)
					}
					return nil
				}
				// Watching: a screen a poll, with its time (JSON: a document a
				// poll, no screen control); a node that does not answer is
				// said so and asked again.
				var page bytes.Buffer
				err := printStats(ctx, &page, c, args, f.output)
				if f.output != "json" {
					fmt.Fprint(w, "\033[H\033[2J")
					fmt.Fprintf(w, "%s  %s  every %v (Ctrl-C to stop)\n\n", time.Now().Format("2006-01-02 15:04:05"), c.Base(), interval)
				}
				switch {
				case ctx.Err() != nil:
					return nil
				case err != nil:
					fmt.Fprintf(w, "%s: %v (asking again)\n", time.Now().Format("15:04:05"), apiError(err))
				default:
					_, _ = w.Write(page.Bytes())
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "refresh until Ctrl-C")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "refresh interval of --watch")
	return cmd
}

// connectorCounts prints connector counters sorted by name.
func connectorCounts(m map[string]int64) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func printStats(ctx context.Context, w io.Writer, c *client.Client, args []string, output string) error {
	if len(args) == 1 {
		d, err := c.Get(ctx, args[0])
		if err != nil {
			return err
		}
		if output == "json" {
			return printJSON(w, d)
		}
		s := d.Stats
		fmt.Fprintf(w, "%s  %s (tenant %s)  %s  up %s\n", d.ID, s.Name, s.Tenant, d.State, (time.Duration(d.Uptime) * time.Second).String())
		fmt.Fprintf(w, "latency target %gms, since the start: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  met %s\n", s.LatencyTargetMs,
			ms(s.P50Ms, s.Results), ms(s.P90Ms, s.Results), ms(s.P99Ms, s.Results), ms(s.P999Ms, s.Results), ms(s.MaxMs, s.Results), pct(s.MetRatio, s.Results))
		if r := s.Recent; r != nil {
			mark := ""
			if r.Results > 0 && r.MetRatio < missThreshold {
				mark = "  ! missing its target"
			}
			fmt.Fprintf(w, "last %gs: p50 %s  p99 %s  max %s  met %s  (%d results)%s\n", r.WindowS, ms(r.P50Ms, r.Results), ms(r.P99Ms, r.Results), ms(r.MaxMs, r.Results), pct(r.MetRatio, r.Results), r.Results, mark)
		}
		fmt.Fprintf(w, "events in %d  results %d  late %d  dropped %d  backlog %d\n", s.EventsIn, s.Results, s.Late, s.Dropped, s.Backlog)
		if d.Error != "" {
			fmt.Fprintln(w, "error:", d.Error)
		}
		if len(s.Connectors) > 0 {
			fmt.Fprintln(w, "connectors:", connectorCounts(s.Connectors))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "STEP\tINSTANCES\tMESSAGES\tEVENTS IN\tEVENTS OUT\tCOST/MSG\tQUEUEING MEAN\tQUEUEING MAX")
		for _, o := range s.Operators {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1fµs\t%.1fµs\t%.1fµs\n", o.Step, o.Instances, o.Messages, o.EventsIn, o.EventsOut, o.CostMeanUs, o.QueueingMeanUs, o.QueueingMaxUs)
		}
		return tw.Flush()
	}
	qs, err := c.List(ctx)
	if err != nil {
		return err
	}
	if output == "json" {
		return printJSON(w, qs)
	}
	listTable(w, qs)
	return nil
}

func newCancelCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a query on a node: it drains (open windows flush), then is removed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			d, err := c.Cancel(cmd.Context(), args[0])
			if err != nil {
				return apiError(err)
			}
			if f.output == "json" {
				return printJSON(cmd.OutOrStdout(), d)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %d results, p99 %s, met %s\n", d.ID, d.State, d.Stats.Results, ms(d.Stats.P99Ms, d.Stats.Results), pct(d.Stats.MetRatio, d.Stats.Results))
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newTailCmd() *cobra.Command {
	var f clientFlags
	var noFollow bool
	cmd := &cobra.Command{
		Use:   "tail ID",
		Short: "Print a query's results as its sink writes them (JSON lines), until it ends",
		Long: `Print a query's results on a node as JSON lines, one per result (the
format of the stdout and file sinks): first the latest results the query
kept, then each new one until the query ends. Whatever its sink is, the
results can be read here; reading never slows the query: results this
reader falls behind on are skipped and said so on standard error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			err = c.Results(cmd.Context(), args[0], !noFollow, func(ev client.ResultsEvent) error {
				switch {
				case ev.Result != nil:
					_, err := fmt.Fprintf(out, "%s\n", ev.Result)
					return err
				case ev.End != nil:
					switch {
					case ev.End.Partial:
						fmt.Fprintf(errw, "%s: %s (the results it kept; it goes on)\n", args[0], ev.End.State)
					case ev.End.Error != "":
						fmt.Fprintf(errw, "%s: %s: %s\n", args[0], ev.End.State, ev.End.Error)
					default:
						fmt.Fprintf(errw, "%s: %s\n", args[0], ev.End.State)
					}
				default:
					fmt.Fprintf(errw, "%s: skipped %d results (this reader fell behind)\n", args[0], ev.Skipped)
				}
				return nil
			})
			if err != nil {
				return apiError(err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noFollow, "no-follow", false, "print only the results the query kept, then stop")
	f.add(cmd)
	return cmd
}

func newTenantsCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "tenants",
		Short: "Show each tenant of a node: its weight and share of the worker time used, latency and met ratio",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ts, err := c.Tenants(cmd.Context())
			if err != nil {
				return apiError(err)
			}
			if f.output == "json" {
				return printJSON(cmd.OutOrStdout(), ts)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TENANT\tQUERIES\tWEIGHT\tSHARE USED\tEVENTS IN\tRESULTS\tP50\tP99\tMET\tLATE\tDROPPED")
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%d\t%g\t%s\t%d\t%d\t%s\t%s\t%s\t%d\t%d\n", t.Tenant, t.Queries, t.Weight, pct(t.ShareUsed, 1), t.EventsIn, t.Results,
					ms(t.P50Ms, t.Results), ms(t.P99Ms, t.Results), pct(t.MetRatio, t.Results), t.Late, t.Dropped)
			}
			return tw.Flush()
		},
	}
	f.add(cmd)
	return cmd
}

func newClusterCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show a node's peers: up or down and why, round trip and clock offset",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ci, err := c.Cluster(cmd.Context())
			if err != nil {
				return apiError(err)
			}
			if f.output == "json" {
				return printJSON(cmd.OutOrStdout(), ci)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "node %s, remote %s, gossip %s; a silent peer is down after about %.0f ms\n", ci.Name, ci.Address, ci.Gossip, ci.DetectionMs)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PEER\tADDRESS\tSTATE\tLAST SEEN\tRTT\tCLOCK OFFSET\tDOWNS")
			for _, p := range ci.Peers {
				state, seen := "down", "never"
				if p.Up {
					state = "up"
				}
				if p.LastSeenMs >= 0 {
					seen = fmt.Sprintf("%.0f ms ago", p.LastSeenMs)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f ms\t%+.2f ms\t%d\n", p.Name, p.Address, state, seen, p.RTTMs, p.ClockOffsetMs, p.Downs)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, p := range ci.Peers {
				if !p.Up && p.Reason != "" {
					fmt.Fprintf(w, "%s: %s\n", p.Name, p.Reason)
				}
			}
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
