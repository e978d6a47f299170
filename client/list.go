package client

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Pages of GET /v1/queries.
const (
	// DefaultListLimit is the page size when ?limit= is not given.
	DefaultListLimit = 1000
	// MaxListLimit is the largest page a node answers.
	MaxListLimit = 10000
)

// ListOptions filter and page GET /v1/queries.
type ListOptions struct {
	Tenant string // only this tenant's queries ("" : all)
	State  State  // only queries in this state ("": all)
	Limit  int    // page size: 0 means DefaultListLimit
	After  string // the page starts after this query id
}

// states are the values ?state= takes.
var states = []State{StateRunning, StateDraining, StateDone, StateCancelled, StateFailed}

// ParseListOptions reads ?tenant=, ?state=, ?limit= and ?after=; a bad
// value is an error that names it.
func ParseListOptions(v url.Values) (ListOptions, error) {
	o := ListOptions{Tenant: v.Get("tenant"), State: State(v.Get("state")), After: v.Get("after")}
	if o.State != "" && !slices.Contains(states, o.State) {
		return o, fmt.Errorf("state %q: want one of %s", o.State, joinStates())
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			return o, fmt.Errorf("limit %q: want a whole number from 1 to %d", s, MaxListLimit)
		}
		o.Limit = n
	}
	if o.Limit == 0 {
		o.Limit = DefaultListLimit
	}
	return o, nil
}

func joinStates() string {
	s := make([]string, len(states))
	for i, st := range states {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

// Match reports whether a query of tenant in state st passes the filter.
func (o ListOptions) Match(tenant string, st State) bool {
	return (o.Tenant == "" || o.Tenant == tenant) && (o.State == "" || o.State == st)
}

// Next returns the options of the page after the query id last.
func (o ListOptions) Next(last string) ListOptions {
	o.After = last
	return o
}

// Path is the request path of these options.
func (o ListOptions) Path() string {
	v := url.Values{}
	if o.Tenant != "" {
		v.Set("tenant", o.Tenant)
	}
	if o.State != "" {
		v.Set("state", string(o.State))
	}
	if o.Limit != 0 {
		v.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.After != "" {
		v.Set("after", o.After)
	}
	if len(v) == 0 {
		return "/v1/queries"
	}
	return "/v1/queries?" + v.Encode()
}

// Page is one page of GET /v1/queries.
type Page struct {
	Queries []QueryInfo
	// Total is how many queries the filter matched on the node.
	Total int
	// Next is the options of the next page; nil on the last.
	Next *ListOptions
}
