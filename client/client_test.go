package client

import (
	"context"
	"errors"
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
