package connector

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cameo-go/cameo/query"
)

// nexmarkEvents makes the first n events of the stream (unpaced).
func nexmarkEvents(t testing.TB, spec *Nexmark, n int) []query.Event {
	t.Helper()
	in, err := openNexmark(spec, &Env{Start: 1_700_000_000e9, Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []query.Event
	for len(out) < n {
		var done bool
		out, done, err = in.Read(0, min(1024, n-len(out)), out)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
	}
	return out
}

func nexmarkSpec(kinds ...string) *Nexmark {
	return &Nexmark{Rate: 10_000, Seed: 7, Group: 1, Extra: true, Kinds: kinds}
}

// The stream has NEXMark's proportions, ids that start at 1000 and refer
// to persons and auctions that exist or are about to, and its fields.
func TestNexmarkStream(t *testing.T) {
	evs := nexmarkEvents(t, nexmarkSpec(), 50_000)
	count := map[string]int{}
	var persons, auctions int // created so far
	var hotAuction, hotBidder, existing int
	lastTime := 0
	for i, ev := range evs {
		f := ev.Fields.Map()
		kind := f["type"].(string)
		count[kind]++
		if ms := f["date_time"].(int); ms < lastTime || int64(ms) != ev.EventTime/1e6 {
			t.Fatalf("event %d: date_time %d after %d, event time %d", i, ms, lastTime, ev.EventTime)
		} else {
			lastTime = ms
		}
		switch kind {
		case "person":
			if f["id"] != nxFirstPerson+persons || !strings.Contains(f["email_address"].(string), "@") || len(f["credit_card"].(string)) != 19 {
				t.Fatalf("person %d: %v", persons, f)
			}
			persons++
		case "auction":
			seller := f["seller"].(int)
			if f["id"] != nxFirstAuction+auctions || seller < nxFirstPerson || seller >= nxFirstPerson+persons+nxPersonLead ||
				f["reserve"].(int) < f["initial_bid"].(int) || f["expires"].(int) <= f["date_time"].(int) ||
				f["category"].(int) < nxFirstCategory || f["category"].(int) >= nxFirstCategory+nxCategories {
				t.Fatalf("auction %d (of %d persons): %v", auctions, persons, f)
			}
			auctions++
		case "bid":
			a, b, p := f["auction"].(int), f["bidder"].(int), f["price"].(int)
			if a < nxFirstAuction || a >= nxFirstAuction+auctions+nxAuctionLead || b < nxFirstPerson || b >= nxFirstPerson+persons+nxPersonLead ||
				p < 100 || p > 100_000_000 || f["channel"] == nil || !strings.HasPrefix(f["url"].(string), "https://www.nexmark.com/") {
				t.Fatalf("bid %d (of %d auctions, %d persons): %v", i, auctions, persons, f)
			}
			if (a-nxFirstAuction)%nxHotBatch == 0 {
				hotAuction++
			}
			if (b-nxFirstPerson)%nxHotBatch == 1 {
				hotBidder++
			}
			if a < nxFirstAuction+auctions {
				existing++
			}
		}
		if n, avg := len(f["extra"].(string)), map[string]int{"person": nxPersonBytes, "auction": nxAuctionBytes, "bid": nxBidBytes}[kind]; n > avg {
			t.Fatalf("event %d: extra of %d bytes for a %s of %d on average", i, n, kind, avg)
		}
	}
	if count["person"] != 1000 || count["auction"] != 3000 || count["bid"] != 46000 {
		t.Fatalf("kinds %v, want 1000, 3000, 46000", count)
	}
	bids := float64(count["bid"])
	// A hot auction half the time (plus the random ones that hit one), a
	// hot bidder three times in four.
	if r := float64(hotAuction) / bids; r < 0.49 || r > 0.53 {
		t.Errorf("%.3f of bids for hot auctions, want about 0.5", r)
	}
	if r := float64(hotBidder) / bids; r < 0.74 || r > 0.77 {
		t.Errorf("%.3f of bids by hot bidders, want about 0.75", r)
	}
	if r := float64(existing) / bids; r < 0.95 {
		t.Errorf("%.3f of bids for auctions that exist, want most", r)
	}
}

// The same seed gives the same events; a source of bids only gives the
// bids of the whole stream, with their due times; another seed differs.
func TestNexmarkDeterministic(t *testing.T) {
	all := nexmarkEvents(t, nexmarkSpec(), 5000)
	again := nexmarkEvents(t, nexmarkSpec(), 5000)
	bids := nexmarkEvents(t, nexmarkSpec("bid"), 5000)
	other := nexmarkSpec()
	other.Seed = 8
	if fmt.Sprint(all) != fmt.Sprint(again) {
		t.Fatal("the same seed gave other events")
	}
	if fmt.Sprint(all[10].Fields) == fmt.Sprint(nexmarkEvents(t, other, 11)[10].Fields) {
		t.Fatal("another seed gave the same event")
	}
	var want []query.Event
	for _, ev := range all {
		if ev.Fields.Get("type") == "bid" {
			want = append(want, ev)
		}
	}
	if fmt.Sprint(bids[:len(want)]) != fmt.Sprint(want) {
		t.Fatal("a bids-only source differs from the bids of the whole stream")
	}
}

// Out of order: within groups the event times are shuffled, never by more
// than a group; the same events, ids and times come out as in order.
func TestNexmarkOutOfOrder(t *testing.T) {
	in := nexmarkEvents(t, nexmarkSpec(), 2000)
	spec := nexmarkSpec()
	spec.Group = 10
	out := nexmarkEvents(t, spec, 2000)
	delay := int64(1e9 / spec.Rate)
	seen := map[string]bool{}
	disordered := 0
	for i, ev := range out {
		if ev.Arrival != in[i].Arrival {
			t.Fatalf("event %d due at %d, in order %d", i, ev.Arrival, in[i].Arrival)
		}
		if d := ev.EventTime - ev.Arrival; d < -10*delay || d > 10*delay {
			t.Fatalf("event %d: event time %d ns from its due time", i, d)
		}
		if i > 0 && ev.EventTime < out[i-1].EventTime {
			disordered++
		}
		seen[fmt.Sprint(ev.Fields)] = true
	}
	for _, ev := range in {
		if !seen[fmt.Sprint(ev.Fields)] {
			t.Fatalf("event %v of the ordered stream is missing", ev.Fields)
		}
	}
	if disordered < 100 {
		t.Fatalf("only %d events before their predecessor", disordered)
	}
}

// The schedule: event n is due at start + n/rate; a bounded stream ends
// after its events or its duration; what a stopped one never produced is
// counted.
func TestNexmarkSchedule(t *testing.T) {
	const start = int64(1e18)
	spec := nexmarkSpec("bid")
	spec.Events = 100
	in, _ := openNexmark(spec, &Env{Start: start})
	s := in.(*nexmarkInput)
	if at, ok := s.NextDue(); !ok || at != start+400_000 { // the first bid is event 4, 100 µs apart
		t.Fatalf("first bid due at +%d", at-start)
	}
	evs, done, _ := in.Read(start+time.Millisecond.Nanoseconds(), 1000, nil)
	if len(evs) != 7 || done { // events 4..10
		t.Fatalf("%d bids by 1 ms (done %v)", len(evs), done)
	}
	if lag := s.Behind(start + 2*time.Millisecond.Nanoseconds()); lag != 900_000 {
		t.Fatalf("behind %d ns", lag)
	}
	if u := s.Unproduced(start + 5*time.Millisecond.Nanoseconds()); u != 39 { // events 11..49, all bids
		t.Fatalf("unproduced %d", u)
	}
	evs, done, _ = in.Read(math.MaxInt64, 1000, nil)
	if len(evs) != 92-7 || !done { // 100 events hold 2×46 bids
		t.Fatalf("%d more bids, done %v", len(evs), done)
	}
	spec = nexmarkSpec()
	spec.Duration = time.Second
	in, _ = openNexmark(spec, &Env{Start: start})
	evs, done, _ = in.Read(math.MaxInt64, 100_000, nil)
	if len(evs) != 10_000 || !done {
		t.Fatalf("%d events in 1 s at 10,000/s, done %v", len(evs), done)
	}
}

// Settings errors name the field with its position.
func TestNexmarkSettingsErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{rate: 0}`, "sources[0].nexmark.rate: must be 1 to"},
		{`{events: -1}`, "sources[0].nexmark.events: must be 0"},
		{`{kinds: [bids]}`, `sources[0].nexmark.kinds[0]: "bids": want person, auction or bid`},
		{`{kinds: [bid, bid]}`, `sources[0].nexmark.kinds[1]: "bid" twice`},
		{`{kinds: []}`, "sources[0].nexmark.kinds: empty"},
		{`{out_of_order_group: 0}`, "sources[0].nexmark.out_of_order_group: must be 1"},
		{`{base_time: -5}`, "sources[0].nexmark.base_time: must be 0"},
		{`{rate: fast}`, "sources[0].nexmark.rate:"},
		{`{first_event_rate: 10}`, `unknown field "first_event_rate"`},
	} {
		spec := "name: x\nlatency_target: 1s\nsources:\n  - name: s\n    nexmark: " + c.in + "\nsink: {discard: {}}\n"
		_, err := query.Parse("x.yaml", []byte(spec))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "x.yaml:") {
			t.Errorf("%s: got %v, want %q with its position", c.in, err, c.want)
		}
	}
	// Expressions are checked against the kinds' fields.
	spec := "name: x\nlatency_target: 1s\nsources:\n  - name: s\n    nexmark: {kinds: [person]}\npipeline:\n  - filter: price > 10\nsink: {discard: {}}\n"
	if _, err := query.Parse("x.yaml", []byte(spec)); err == nil || !strings.Contains(err.Error(), "price") {
		t.Errorf("a bid field on persons: %v", err)
	}
}

// How fast the stream is made, alone: one op is one event (all kinds,
// with extra).
//
//	go test -run XXX -bench Nexmark -count 6 ./connector
func BenchmarkNexmarkGenerator(b *testing.B) {
	for _, kinds := range [][]string{nil, {"bid"}} {
		b.Run(fmt.Sprintf("kinds=%v", kinds), func(b *testing.B) {
			in, err := openNexmark(&Nexmark{Rate: 1e6, Seed: 1, Group: 1, Extra: true, Kinds: kinds}, &Env{Unpaced: true})
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]query.Event, 0, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; {
				buf, _, _ = in.Read(0, min(1024, b.N-n), buf[:0])
				n += len(buf)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
