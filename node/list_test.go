package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cameo-go/cameo/client"
)

// TestListPagesAndFilters: GET /v1/queries filters by tenant and state,
// answers pages in id order with the total and a link to the next page,
// refuses a bad filter with a message that names it; the client's List
// follows the pages to the end.
func TestListPagesAndFilters(t *testing.T) {
	_, base := startNode(t, NodeConfig{})
	c, err := client.NewClient(base, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var ids []string
	for i := range 25 {
		gen := "rate: 1"
		if i == 4 { // one of t1's ends at once: done
			gen = "rate: 1000, duration: 10ms"
		}
		spec := fmt.Sprintf("name: q%d\ntenant: t%d\nlatency_target: 50ms\nsources: [{name: s, generator: {%s, keys: {count: 2}}}]\npipeline: [{filter: 'true'}]\nsink: {discard: {}}\n", i, i%3, gen)
		s, err := c.Submit(ctx, []byte(spec))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		d, err := c.Get(ctx, ids[4])
		if err != nil {
			t.Fatal(err)
		}
		if d.State == client.StateDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the finite query is %s after 20 s", d.State)
		}
		time.Sleep(10 * time.Millisecond)
	}

	all, err := c.List(ctx)
	if err != nil || len(all) != 25 {
		t.Fatalf("list: %d queries, %v", len(all), err)
	}
	// Pages of 10 of tenant t1's (ids 1, 4, 7, … 22: 8 of them) and of all.
	p, err := c.ListPage(ctx, client.ListOptions{Tenant: "t1", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 8 || len(p.Queries) != 3 || p.Next == nil || p.Next.After != p.Queries[2].ID {
		t.Fatalf("first page of t1: total %d, %d queries, next %+v", p.Total, len(p.Queries), p.Next)
	}
	t1, err := c.ListAll(ctx, client.ListOptions{Tenant: "t1", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range t1 {
		if q.Tenant != "t1" {
			t.Fatalf("tenant filter let through %s of %s", q.ID, q.Tenant)
		}
		got = append(got, q.ID)
	}
	var want []string
	for i := 1; i < 25; i += 3 {
		want = append(want, ids[i])
	}
	if !slices.Equal(got, want) {
		t.Fatalf("t1 in pages of 3: %v, want %v", got, want)
	}
	running, err := c.ListAll(ctx, client.ListOptions{State: client.StateRunning})
	if err != nil || len(running) != 24 {
		t.Fatalf("running: %d, %v", len(running), err)
	}
	done, err := c.ListAll(ctx, client.ListOptions{State: client.StateDone})
	if err != nil || len(done) != 1 || done[0].ID != ids[4] {
		t.Fatalf("done: %+v, %v", done, err)
	}
	for q, msg := range map[string]string{
		"?state=sleeping": `state "sleeping": want one of running, draining, done, cancelled, failed`,
		"?limit=0":        `limit "0": want a whole number from 1 to 10000`,
		"?limit=x":        `limit "x": want a whole number from 1 to 10000`,
	} {
		if a := call(t, "GET", base+"/v1/queries"+q, "", nil); a.status != 400 || !strings.Contains(a.err.Message, msg) {
			t.Errorf("%s: %d %q", q, a.status, a.err.Message)
		}
	}
}
