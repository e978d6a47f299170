package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A node's error answer becomes an *APIError with its status and problems;
// a server address is host:port or an http(s) URL.
func TestClientErrorsAndAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"status":401,"error":"missing bearer token"}`))
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":400,"error":"invalid spec","problems":[{"line":2,"column":17,"field":"latency_target","message":"must be > 0"}]}`))
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, "tok")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Submit(context.Background(), []byte("name: q\n"))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || len(ae.Problems) != 1 || !strings.Contains(err.Error(), "line 2:17: latency_target: must be > 0") {
		t.Fatalf("submit: %v", err)
	}
	anon, _ := NewClient(strings.TrimPrefix(srv.URL, "http://"), "")
	if _, err := anon.List(context.Background()); !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("without a token: %v", err)
	}
	for _, bad := range []string{"ftp://x:1", "http://", "::"} {
		if _, err := NewClient(bad, ""); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
}

// A server given without a port is the node's default port, not HTTP's
// 80; a node that is not there is said so, with what to do.
func TestClientDefaultsAndUnreachable(t *testing.T) {
	c, err := NewClient("localhost", "")
	if err != nil || c.base != "http://localhost:7700" {
		t.Fatalf("base %q, %v", c.base, err)
	}
	if c, _ := NewClient("https://example.org", ""); c.base != "https://example.org" {
		t.Fatalf("https keeps its port: %q", c.base)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err = NewClient(addr, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(context.Background()); err == nil || !strings.Contains(err.Error(), "no node answers at http://"+addr+" (start one with `cameo serve`") {
		t.Fatalf("err %v", err)
	}
}
