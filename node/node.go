package node

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"github.com/cameo-go/cameo/client"
	"github.com/cameo-go/cameo/connector"
	"github.com/cameo-go/cameo/query"
	"github.com/cameo-go/cameo/runtime"
)

// DefaultListen is where a node listens unless told otherwise.
const DefaultListen = "127.0.0.1:7700"

// NodeConfig configures a node: an engine behind an HTTP API.
type NodeConfig struct {
	// Listen is the address to listen on. Default DefaultListen.
	Listen string
	// Version is what GET /v1/node says the node runs (the command's
	// build); empty: not said.
	Version string
	// Token is the bearer token the API and /metrics require; required
	// when Listen is not a loopback address. /healthz and /readyz are open.
	Token string
	// Pprof serves net/http/pprof under /debug/pprof/ (behind the token).
	Pprof bool
	// FilesDir lets submitted specs read and write files in this
	// directory (jsonl paths, file sinks, late sinks), relative to it and
	// confined to it: no "..", absolute path or symbolic link out of it,
	// no devices or FIFOs (Config.FileRoot). "" (the default): specs touch
	// no files, since a spec is text from the network.
	FilesDir string
	// AllowConnect lists the host:port a spec's connectors may connect to
	// (a webhook sink, a broker); "*" allows any. Empty (the default):
	// none, since a spec is text from the network and would otherwise
	// reach whatever the node can.
	AllowConnect []string
	// MaxSpecBytes bounds a submitted spec. Default 1 MiB.
	MaxSpecBytes int64
	// HTTP bounds, so that slow or idle clients cannot hold the node's
	// connections: ReadHeaderTimeout (default 10 s) and ReadTimeout
	// (default 30 s, the whole request with its body) for a request to
	// arrive, WriteTimeout (default 60 s) for its answer, IdleTimeout
	// (default 60 s) for a keep-alive connection between requests,
	// MaxHeaderBytes (default 64 KiB), and MaxConns (default 1,024)
	// connections open at once: past it new connections wait to be
	// accepted.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
	MaxConns                                                  int
	// DrainTimeout bounds DELETE and shutdown draining. Default 30 s.
	DrainTimeout time.Duration
	// SampleEvery is how often the node samples each query's event rate
	// and forgets its records of queries the engine forgot. Default 1 s.
	SampleEvery time.Duration
	// Engine configures the node's engine.
	Engine []runtime.Option
}

func (c *NodeConfig) fill() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MaxSpecBytes == 0 {
		c.MaxSpecBytes = 1 << 20
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 30 * time.Second
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.ReadHeaderTimeout, 10 * time.Second}, {&c.ReadTimeout, 30 * time.Second}, {&c.WriteTimeout, 60 * time.Second}, {&c.IdleTimeout, 60 * time.Second}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.SampleEvery == 0 {
		c.SampleEvery = time.Second
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 64 << 10
	}
	if c.MaxConns == 0 {
		c.MaxConns = 1024
	}
}

func (c *NodeConfig) validate() error {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("%w: listen %q: %v", runtime.ErrBadConfig, c.Listen, err)
	}
	if c.Token == "" && !loopback(host) {
		return fmt.Errorf("%w: listen %q is not a loopback address: set a token (--token or CAMEO_TOKEN)", runtime.ErrBadConfig, c.Listen)
	}
	if c.MaxSpecBytes < 1 || c.DrainTimeout <= 0 {
		return fmt.Errorf("%w: max spec bytes %d and drain timeout %v must be > 0", runtime.ErrBadConfig, c.MaxSpecBytes, c.DrainTimeout)
	}
	if c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0 {
		return fmt.Errorf("%w: HTTP timeouts must be > 0: read header %v, read %v, write %v, idle %v", runtime.ErrBadConfig, c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout)
	}
	if c.SampleEvery < 0 {
		return fmt.Errorf("%w: sample interval %v must be > 0", runtime.ErrBadConfig, c.SampleEvery)
	}
	if c.MaxHeaderBytes < 1<<10 || c.MaxConns < 1 {
		return fmt.Errorf("%w: max header bytes %d must be >= 1024 and max connections %d >= 1", runtime.ErrBadConfig, c.MaxHeaderBytes, c.MaxConns)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Node is a long-running engine that many users submit queries to over
// HTTP. Safe for concurrent use.
type Node struct {
	cfg   NodeConfig
	eng   *runtime.Engine
	reg   *prometheus.Registry
	srv   *http.Server
	ln    net.Listener
	ready atomic.Bool
	stop  chan struct{}
	wg    sync.WaitGroup

	// submitMu makes the duplicate check and the submit one step, one
	// submit at a time; it is held across a cluster deploy, so nothing
	// else waits on it. Lock order: submitMu, then mu.
	submitMu sync.Mutex
	mu       struct {
		sync.Mutex
		specs map[string]string  // id → submitted text
		rates map[string]float64 // id → events/s over the last sample interval
		last  map[string]uint64  // id → events in at the last sample
	}
	shutdownOnce sync.Once
	shutdownErr  error
}

// NewNode returns a node; Start starts it.
func NewNode(cfg NodeConfig) (*Node, error) {
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	eng, err := runtime.New(append(cfg.Engine[:len(cfg.Engine):len(cfg.Engine)], runtime.WithFileRoot(cfg.FilesDir))...)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, eng: eng, reg: prometheus.NewRegistry(), stop: make(chan struct{})}
	n.mu.specs, n.mu.rates, n.mu.last = map[string]string{}, map[string]float64{}, map[string]uint64{}
	n.reg.MustRegister(eng.Metrics(), runtime.SchedulerCollector{S: eng.Scheduler()}, runtime.ClusterCollector{E: eng}, runtime.MemoryCollector{E: eng},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n.srv = &http.Server{Handler: n.Handler(), ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: cfg.MaxHeaderBytes}
	return n, nil
}

// runtime.Engine returns the node's engine.
func (n *Node) Engine() *runtime.Engine { return n.eng }

// Start listens and serves in the background.
func (n *Node) Start() error {
	ln, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	n.ln = netutil.LimitListener(ln, n.cfg.MaxConns)
	ln = n.ln
	n.ready.Store(true)
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		if err := n.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.eng.Config().Logger.Error("serve", "err", err)
		}
	}()
	go func() {
		defer n.wg.Done()
		n.sample()
	}()
	return nil
}

// Addr returns the address the node listens on.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Shutdown stops accepting requests, lets those in flight finish, drains
// every query within ctx and stops the engine. It may be called twice.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutdownOnce.Do(func() {
		n.ready.Store(false)
		close(n.stop)
		err := n.srv.Shutdown(ctx)
		n.wg.Wait()
		n.shutdownErr = errors.Join(err, n.eng.Stop(ctx))
	})
	return n.shutdownErr
}

// sample computes each query's events/s once a second.
func (n *Node) sample() {
	t := time.NewTicker(n.cfg.SampleEvery)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		n.eng.SampleLoad()
		qs := n.eng.Queries()
		known := make(map[string]bool, len(qs))
		for _, q := range qs {
			known[q.ID()] = true
			read := q.Stats().EventsRead // monotonic, unlike in (late and drops are counted after)
			n.mu.Lock()
			n.mu.rates[q.ID()] = float64(read-min(read, n.mu.last[q.ID()])) / n.cfg.SampleEvery.Seconds()
			n.mu.last[q.ID()] = read
			n.mu.Unlock()
		}
		// Forget what the node kept of queries the engine forgot
		// (Config.KeepEnded).
		n.mu.Lock()
		for id := range n.mu.specs {
			if _, ok := n.eng.Query(id); !known[id] && !ok { // not one submitted since the list
				delete(n.mu.specs, id)
				delete(n.mu.rates, id)
				delete(n.mu.last, id)
			}
		}
		n.mu.Unlock()
	}
}

// Handler returns the node's HTTP API.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/queries", n.auth(n.submit))
	mux.HandleFunc("GET /v1/queries", n.auth(n.list))
	mux.HandleFunc("GET /v1/queries/{id}", n.auth(n.get))
	mux.HandleFunc("DELETE /v1/queries/{id}", n.auth(n.cancel))
	mux.HandleFunc("GET /v1/queries/{id}/results", n.auth(n.results))
	mux.HandleFunc("GET /v1/tenants", n.auth(n.tenants))
	mux.HandleFunc("GET /v1/load", n.auth(n.loadInfo))
	mux.HandleFunc("GET /v1/cluster", n.auth(n.clusterInfo))
	mux.HandleFunc("GET /v1/node", n.auth(n.nodeInfo))
	mux.Handle("GET /metrics", n.auth(promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !n.ready.Load() {
			writeError(w, http.StatusServiceUnavailable, "draining: the node is shutting down")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if n.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", n.auth(pprof.Index))
		mux.HandleFunc("GET /debug/pprof/profile", n.auth(pprof.Profile))
		mux.HandleFunc("GET /debug/pprof/trace", n.auth(pprof.Trace))
		mux.HandleFunc("GET /debug/pprof/symbol", n.auth(pprof.Symbol))
	}
	n.dashboardRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route %s %s (the API: /v1/queries, /v1/tenants, /v1/load, /v1/cluster, /metrics, /healthz, /readyz; the dashboard: /)", r.Method, r.URL.Path))
	})
	return mux
}

// authorized says whether r carries the node's token: as a bearer token,
// or in the dashboard's cookie.
func (n *Node) authorized(r *http.Request) bool {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+n.cfg.Token)) == 1 {
		return true
	}
	c, err := r.Cookie(tokenCookie)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(n.cfg.Token)) == 1
}

func (n *Node) auth(h http.HandlerFunc) http.HandlerFunc {
	if n.cfg.Token == "" {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if !n.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cameo"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token (send Authorization: Bearer TOKEN)")
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away: nothing to do
}

func writeError(w http.ResponseWriter, status int, msg string, problems ...client.Problem) {
	writeJSON(w, status, &client.APIError{Status: status, Message: msg, Problems: problems})
}

func (n *Node) info(q *runtime.Query) client.QueryInfo {
	s := q.Stats()
	n.mu.Lock()
	rate := n.mu.rates[q.ID()]
	n.mu.Unlock()
	info := client.QueryInfo{ID: q.ID(), Name: s.Name, Tenant: s.Tenant, State: q.State(), UptimeSeconds: q.Uptime().Seconds(),
		EventsPerSec: rate, LatencyTarget: s.LatencyTargetMs, Results: s.Results, P99Ms: s.P99Ms, MetRatio: s.MetRatio, Recent: s.Recent,
		Late: s.Late, Dropped: s.Dropped, Shed: s.DroppedBy["shed"]}
	if err := q.Err(); err != nil {
		info.Error = err.Error()
	}
	return info
}

func (n *Node) detail(q *runtime.Query) client.QueryDetail {
	d := client.QueryDetail{ID: q.ID(), State: q.State(), Uptime: q.Uptime().Seconds(), Stats: q.Stats()}
	if err := q.Err(); err != nil {
		d.Error = err.Error()
	}
	n.mu.Lock()
	d.Spec = n.mu.specs[q.ID()]
	n.mu.Unlock()
	return d
}

func (n *Node) submit(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, n.cfg.MaxSpecBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("spec over the node's limit of %d bytes", n.cfg.MaxSpecBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "reading the spec: "+err.Error())
		return
	}
	spec, err := query.Parse("request", body)
	if err != nil {
		var es query.Errors
		if !errors.As(err, &es) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeError(w, http.StatusBadRequest, "invalid query spec", problems(es)...)
		return
	}
	if ps := n.nodeRules(spec); len(ps) > 0 {
		writeError(w, http.StatusBadRequest, "the spec needs what this node does not allow", ps...)
		return
	}
	n.submitMu.Lock()
	defer n.submitMu.Unlock()
	if q, ok := n.eng.Active(spec.Tenant(), spec.Name()); ok {
		writeError(w, http.StatusConflict, fmt.Sprintf("tenant %q already runs a query named %q (%s); cancel it or choose another name", spec.Tenant(), spec.Name(), q.ID()))
		return
	}
	q, err := n.eng.Submit(r.Context(), spec)
	var es query.Errors
	switch {
	case errors.Is(err, runtime.ErrStopped):
		writeError(w, http.StatusServiceUnavailable, "the node is shutting down")
		return
	case errors.As(err, &es):
		writeError(w, http.StatusBadRequest, "the query cannot be placed", problems(es)...)
		return
	case errors.Is(err, runtime.ErrCluster):
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	case errors.Is(err, runtime.ErrTenantQuota), errors.Is(err, runtime.ErrOverloaded):
		writeError(w, http.StatusTooManyRequests, strings.TrimPrefix(err.Error(), "runtime: "))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n.mu.Lock()
	n.mu.specs[q.ID()] = string(body)
	n.mu.Unlock()
	w.Header().Set("Location", "/v1/queries/"+q.ID())
	writeJSON(w, http.StatusCreated, map[string]string{"id": q.ID(), "name": spec.Name(), "tenant": spec.Tenant(), "state": string(q.State())})
}

// nodeRules are what a node refuses of a valid spec: whatever its
// connectors and side sinks would touch that a node does not give
// queries (standard input; files, unless --allow-files).
func (n *Node) nodeRules(s *query.Plan) []client.Problem {
	var ps []client.Problem
	for _, u := range s.Uses() {
		switch u.What {
		case query.ReadsStdin:
			ps = append(ps, client.Problem{Line: u.Pos.Line, Column: u.Pos.Column, Field: u.Field, Message: "a node has no standard input for queries: use a generator, or a file with --allow-files"})
		case query.ReadsFile:
			ps = n.fileRule(ps, u.Pos, u.Field, u.Path, "read")
		case query.WritesFile:
			ps = n.fileRule(ps, u.Pos, u.Field, u.Path, "write")
		case query.Connects:
			if !slices.Contains(n.cfg.AllowConnect, "*") && !slices.Contains(n.cfg.AllowConnect, u.Path) {
				ps = append(ps, client.Problem{Line: u.Pos.Line, Column: u.Pos.Column, Field: u.Field, Message: fmt.Sprintf("this node does not let queries connect to %s (start it with --allow-connect %s)", u.Path, u.Path)})
			}
		}
	}
	return ps
}

// fileRule refuses a path when the node allows no files, or one that
// would leave its files directory (symbolic links are the engine's to
// refuse when it opens them).
func (n *Node) fileRule(ps []client.Problem, pos query.Pos, field, path, verb string) []client.Problem {
	switch {
	case n.cfg.FilesDir == "":
		return append(ps, client.Problem{Line: pos.Line, Column: pos.Column, Field: field, Message: "this node does not " + verb + " files for queries (start it with --allow-files DIR)"})
	case filepath.IsAbs(path) || !filepath.IsLocal(path):
		return append(ps, client.Problem{Line: pos.Line, Column: pos.Column, Field: field, Message: fmt.Sprintf("%q: paths are relative to the node's files directory and stay inside it", path)})
	}
	return ps
}

// list answers GET /v1/queries: the queries in id order, filtered by
// ?tenant= and ?state=, a page of at most ?limit= (default
// client.DefaultListLimit, at most client.MaxListLimit) after the id
// ?after=. The body is the page's array; X-Total-Count says how many
// queries the filter matched, and a Link header with rel="next" gives the
// next page's URL while there is one.
func (n *Node) list(w http.ResponseWriter, r *http.Request) {
	opts, err := client.ParseListOptions(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := []client.QueryInfo{}
	total, last := 0, ""
	for _, q := range n.eng.Queries() {
		if !opts.Match(q.Tenant(), q.State()) {
			continue
		}
		total++
		if opts.After != "" && !runtime.IDAfter(q.ID(), opts.After) {
			continue
		}
		if len(out) < opts.Limit {
			out = append(out, n.info(q))
			last = q.ID()
		} else if last != "" {
			w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", opts.Next(last).Path()))
			last = ""
		}
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	writeJSON(w, http.StatusOK, out)
}

// query finds a query by id, or answers 404.
func (n *Node) query(w http.ResponseWriter, id string) (*runtime.Query, bool) {
	q, ok := n.eng.Query(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no query %q on this node", id))
	}
	return q, ok
}

func (n *Node) get(w http.ResponseWriter, r *http.Request) {
	q, ok := n.query(w, r.PathValue("id"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, n.detail(q))
}

// resultsKeepAlive is how often an idle results stream gets a comment
// line, so that proxies and clients see it alive.
const resultsKeepAlive = 15 * time.Second

// results streams a query's results as server-sent events: the latest
// results it kept (runtime.RecentResults), then each new one until it
// ends ("follow", the default) or only those kept (?follow=false).
// Events: "result" (one result, the sinks' JSON line), "skipped" (how
// many results this reader missed because it fell behind), "end" (the
// query's state and error). Reading never slows the query.
func (n *Node) results(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q, ok := n.query(w, id)
	if !ok {
		return
	}
	follow := true
	switch f := r.URL.Query().Get("follow"); f {
	case "", "true":
	case "false":
		follow = false
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("follow=%q: want true or false", f))
		return
	}
	rd, err := q.Results()
	if err != nil {
		writeError(w, http.StatusTooManyRequests, strings.TrimPrefix(err.Error(), "runtime: "))
		return
	}
	defer rd.Close()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() { // ends the stream when the node shuts down; returns with the handler
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var buf []byte
	for {
		wait, stop := context.WithTimeout(ctx, resultsKeepAlive)
		if !follow {
			stop() // only what is queued now
		}
		evs, skipped, ended, err := rd.Next(wait)
		stop()
		buf = buf[:0]
		for i := range evs {
			buf = append(buf, "event: result\ndata: "...)
			buf = connector.AppendJSON(buf, &evs[i]) // ends with its newline
			buf = append(buf, '\n')
		}
		if skipped > 0 {
			buf = fmt.Appendf(buf, "event: skipped\ndata: {\"skipped\":%d}\n\n", skipped)
		}
		done := ended || !follow && err != nil
		switch {
		case done:
			end := client.ResultsEnd{State: client.State(q.State()), Partial: !ended}
			if qerr := q.Err(); qerr != nil {
				end.Error = qerr.Error()
			}
			data, _ := json.Marshal(end)
			buf = fmt.Appendf(buf, "event: end\ndata: %s\n\n", data)
		case err != nil && ctx.Err() != nil:
			return // the client left, or the node is stopping
		case err != nil:
			buf = append(buf, ": keep-alive\n\n"...)
		}
		_ = rc.SetWriteDeadline(time.Now().Add(n.cfg.WriteTimeout))
		if _, err := w.Write(buf); err != nil {
			return
		}
		if err := rc.Flush(); err != nil || done {
			return
		}
	}
}

func (n *Node) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q, ok := n.query(w, id)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.DrainTimeout)
	defer cancel()
	err := n.eng.Cancel(ctx, id)
	d := n.detail(q)
	n.forget(id)
	if err != nil && !errors.Is(err, runtime.ErrUnknownQuery) {
		d.Error = err.Error()
	}
	writeJSON(w, http.StatusOK, d)
}

// forget drops what the node keeps of a query the engine forgot.
func (n *Node) forget(id string) {
	n.mu.Lock()
	delete(n.mu.specs, id)
	delete(n.mu.rates, id)
	delete(n.mu.last, id)
	n.mu.Unlock()
}

// loadInfo is GET /v1/load: the capacity the node measured and whether it
// admits queries now.
// nodeInfo is GET /v1/node: what the node is (its scheduler, its workers,
// whether it is in a cluster), for the dashboard and scripts.
func (n *Node) nodeInfo(w http.ResponseWriter, _ *http.Request) {
	cfg := n.eng.Config()
	_, clustered := n.eng.Cluster()
	writeJSON(w, http.StatusOK, client.NodeInfo{Scheduler: cfg.Scheduler, Workers: cfg.Workers, Clustered: clustered, Version: n.cfg.Version})
}

func (n *Node) loadInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, n.eng.LoadInfo())
}

func (n *Node) tenants(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, n.eng.Metrics().Tenants())
}

func problems(es query.Errors) []client.Problem {
	ps := make([]client.Problem, len(es))
	for i, e := range es {
		ps[i] = client.Problem{Line: e.Pos.Line, Column: e.Pos.Column, Field: e.Field, Message: e.Msg}
	}
	return ps
}

// clusterInfo is GET /v1/cluster: the node's peers, whether they are up,
// their measured clock offsets and round trips.
func (n *Node) clusterInfo(w http.ResponseWriter, _ *http.Request) {
	ci, ok := n.eng.Cluster()
	if !ok {
		writeError(w, http.StatusNotFound, "this node is not in a cluster (cameo serve --name and --peer make one)")
		return
	}
	writeJSON(w, http.StatusOK, ci)
}

// Loopback reports whether host is a loopback name or address.
func Loopback(host string) bool { return loopback(host) }
