package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
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
	// One request per command: no idle connections left behind.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return &Client{base: strings.TrimRight(u.String(), "/"), token: token, http: &http.Client{Timeout: 2 * time.Minute, Transport: tr}}, nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/yaml")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("node %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("node %s: reading the answer: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		e := &APIError{}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e = &APIError{Message: strings.TrimSpace(string(data))}
		}
		e.Status = resp.StatusCode
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("node %s: %s %s answered %q: %w", c.base, method, path, data, err)
	}
	return nil
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
	var qs []QueryInfo
	err := c.do(ctx, http.MethodGet, "/v1/queries", nil, &qs)
	return qs, err
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
