package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultServer is where a node listens unless told otherwise.
const DefaultServer = "127.0.0.1:7700"

// Client talks to a node's HTTP API; the CLI's submit, list, stats and
// cancel use it.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// Base is the node's address, as the client calls it.
func (c *Client) Base() string { return c.base }

// NewClient returns a client of the node at server: "host:port" or a URL.
func NewClient(server, token string) (*Client, error) {
	if server == "" {
		server = DefaultServer
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	u, err := url.Parse(server)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("server %q: want host:port or http(s)://host:port", server)
	}
	if u.Port() == "" && u.Scheme == "http" { // "localhost" means the node's port, not 80
		_, port, _ := net.SplitHostPort(DefaultServer)
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	// One request per command: no idle connections left behind.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return &Client{base: strings.TrimRight(u.String(), "/"), token: token, http: &http.Client{Timeout: 2 * time.Minute, Transport: tr}}, nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	_, err := c.doHeader(ctx, method, path, body, out)
	return err
}

// doHeader is do that also returns the answer's headers.
func (c *Client) doHeader(ctx context.Context, method, path string, body []byte, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/yaml")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.unreachable(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("node %s: reading the answer: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		e := &APIError{}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e = &APIError{Message: strings.TrimSpace(string(data))}
		}
		e.Status = resp.StatusCode
		return nil, e
	}
	if out == nil {
		return resp.Header, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("node %s: %s %s answered %q: %w", c.base, method, path, data, err)
	}
	return resp.Header, nil
}

// Submit sends a spec (YAML or JSON); an invalid one is an *APIError with
// its problems.
func (c *Client) Submit(ctx context.Context, spec []byte) (Submitted, error) {
	var s Submitted
	err := c.do(ctx, http.MethodPost, "/v1/queries", spec, &s)
	return s, err
}

// List returns the node's queries.
func (c *Client) List(ctx context.Context) ([]QueryInfo, error) {
	return c.ListAll(ctx, ListOptions{})
}

// ListAll returns every query the filter of o matches, page after page.
func (c *Client) ListAll(ctx context.Context, o ListOptions) ([]QueryInfo, error) {
	all := []QueryInfo{}
	next := &o
	for next != nil {
		p, err := c.ListPage(ctx, *next)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Queries...)
		next = p.Next
	}
	return all, nil
}

// ListPage returns one page of the queries the filter of o matches.
func (c *Client) ListPage(ctx context.Context, o ListOptions) (Page, error) {
	var p Page
	h, err := c.doHeader(ctx, http.MethodGet, o.Path(), nil, &p.Queries)
	if err != nil {
		return Page{}, err
	}
	p.Total, _ = strconv.Atoi(h.Get("X-Total-Count"))
	if link := h.Get("Link"); strings.Contains(link, `rel="next"`) {
		if l, ok := nextLink(link); ok {
			p.Next = &l
		}
	}
	return p, nil
}

// nextLink reads the options of the rel="next" URL of a Link header.
func nextLink(link string) (ListOptions, bool) {
	for _, part := range strings.Split(link, ",") {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, `rel="next"`) {
			continue
		}
		start, end := strings.Index(part, "<"), strings.Index(part, ">")
		if start < 0 || end <= start {
			return ListOptions{}, false
		}
		u, err := url.Parse(part[start+1 : end])
		if err != nil {
			return ListOptions{}, false
		}
		o, err := ParseListOptions(u.Query())
		return o, err == nil
	}
	return ListOptions{}, false
}

// Get returns one query with its spec and full statistics.
func (c *Client) Get(ctx context.Context, id string) (QueryDetail, error) {
	var d QueryDetail
	err := c.do(ctx, http.MethodGet, "/v1/queries/"+url.PathEscape(id), nil, &d)
	return d, err
}

// Cancel drains a query and removes it; it returns its last statistics.
func (c *Client) Cancel(ctx context.Context, id string) (QueryDetail, error) {
	var d QueryDetail
	err := c.do(ctx, http.MethodDelete, "/v1/queries/"+url.PathEscape(id), nil, &d)
	return d, err
}

// Tenants returns the per-tenant totals.
func (c *Client) Tenants(ctx context.Context) ([]TenantStats, error) {
	var ts []TenantStats
	err := c.do(ctx, http.MethodGet, "/v1/tenants", nil, &ts)
	return ts, err
}

// Metrics returns the node's /metrics text.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/metrics", nil)
	if err != nil {
		return "", err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", &APIError{Status: resp.StatusCode, Message: strings.TrimSpace(string(data))}
	}
	return string(data), err
}

// Cluster returns the node's view of its cluster (GET /v1/cluster).
func (c *Client) Cluster(ctx context.Context) (ClusterInfo, error) {
	var ci ClusterInfo
	err := c.do(ctx, http.MethodGet, "/v1/cluster", nil, &ci)
	return ci, err
}

// unreachable explains a request that reached no node.
func (c *Client) unreachable(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("no node answers at %s (start one with `cameo serve`, or point --server or CAMEO_SERVER at one): %w", c.base, err)
	}
	return fmt.Errorf("node %s: %w", c.base, err)
}

// Results reads a query's results as the node streams them (GET
// /v1/queries/{id}/results): the latest results the query kept, then,
// with follow, each new one until the query ends. fn gets each event; an
// error from it stops the stream and is returned. The stream ends with an
// End event; ctx bounds it.
func (c *Client) Results(ctx context.Context, id string, follow bool, fn func(ResultsEvent) error) error {
	path := "/v1/queries/" + url.PathEscape(id) + "/results"
	if !follow {
		path += "?follow=false"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	stream := &http.Client{Transport: c.http.Transport} // no overall timeout: a stream lasts
	resp, err := stream.Do(req)
	if err != nil {
		return c.unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		e := &APIError{}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e = &APIError{Message: strings.TrimSpace(string(data))}
		}
		e.Status = resp.StatusCode
		return e
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var event string
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0: // dispatch
			if event == "" && data == nil {
				continue
			}
			ev, err := parseResultsEvent(event, data)
			if err != nil {
				return fmt.Errorf("node %s: results of %s: %w", c.base, id, err)
			}
			if err := fn(ev); err != nil {
				return err
			}
			if ev.End != nil {
				return nil
			}
			event, data = "", nil
		case line[0] == ':': // a comment: keep-alive
		default:
			k, v, _ := bytes.Cut(line, []byte(":"))
			v = bytes.TrimPrefix(v, []byte(" "))
			switch string(k) {
			case "event":
				event = string(v)
			case "data":
				if data != nil {
					data = append(data, '\n')
				}
				data = append(data, v...)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("node %s: results of %s: %w", c.base, id, err)
	}
	return fmt.Errorf("node %s: results of %s: the stream ended without its end event", c.base, id)
}

func parseResultsEvent(event string, data []byte) (ResultsEvent, error) {
	switch event {
	case "result":
		return ResultsEvent{Result: json.RawMessage(bytes.Clone(data))}, nil
	case "skipped":
		var s struct {
			Skipped uint64 `json:"skipped"`
		}
		if err := json.Unmarshal(data, &s); err != nil {
			return ResultsEvent{}, fmt.Errorf("skipped event %q: %w", data, err)
		}
		return ResultsEvent{Skipped: s.Skipped}, nil
	case "end":
		end := &ResultsEnd{}
		if err := json.Unmarshal(data, end); err != nil {
			return ResultsEvent{}, fmt.Errorf("end event %q: %w", data, err)
		}
		return ResultsEvent{End: end}, nil
	}
	return ResultsEvent{}, fmt.Errorf("unknown event %q", event)
}
