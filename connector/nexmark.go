package connector

import (
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/cameo-go/cameo/query"
)

// The nexmark source: the persons, auctions and bids of the NEXMark
// benchmark, as its reference generator (Beam's, and the nexmark-flink
// one derived from it) makes them. Event n of the stream is a person, an
// auction or a bid in the proportions 1:3:46 (n mod 50); ids run from 1000
// and refer to recent persons and auctions (a bid is for a "hot" auction
// with probability 1/2, by a "hot" bidder with probability 3/4; an auction
// by a hot seller with probability 3/4; others among the last 100 auctions
// or 1,000 persons, plus a few not created yet); prices are 10^U(0,6)
// dollars in cents; an auction expires within twice the time it takes the
// stream to open 100 more. Event n is due at start + n/rate (rate is the
// whole stream's, NEXMark's first_event_rate), and its date_time is
// base_time (Unix ms; default the query's start) + m/rate, where m is its
// place within groups of out_of_order_group events, shuffled as NEXMark's
// out-of-order mode does (1: in order: m = n).
//
// Each event's values come from a generator seeded by (seed, n) alone, so
// a source that yields only some kinds (kinds: [bid], say) yields the same
// events as one yielding all and filtering: two sources with the same seed
// and rate, one of persons and one of auctions, join as NEXMark's q3 and
// q8 expect.
//
//	sources:
//	  - name: bids
//	    nexmark: {rate: 100000, events: 1000000, seed: 1, kinds: [bid]}
//	    event_time: {field: date_time, format: unix_ms, max_out_of_order: 0s}
//
// Fields (type is person, auction or bid; a field of another kind is
// absent):
//
//	all:     type, date_time (Unix ms), extra (padding to NEXMark's average
//	         sizes: 200, 500 and 100 bytes; extra: false leaves it out)
//	person:  id, name, email_address, credit_card, city, state
//	auction: id, item_name, description, initial_bid, reserve, expires
//	         (Unix ms), seller, category
//	bid:     auction, bidder, price, channel, url
//
// The channel and url of a bid follow nexmark-flink: one of four hot
// channels nine times in ten, otherwise one of 10,000 numbered ones. The
// event's key is empty: key_by sets it.

// Nexmark is the nexmark source's settings.
type Nexmark struct {
	Rate     float64       // events per second of the whole stream
	Events   int64         // how many events of the whole stream (0: no bound)
	Duration time.Duration // how long it runs (0: no bound)
	Seed     uint64
	Kinds    []string // of person, auction, bid; default all
	Group    int      // out_of_order_group; 1: in order
	Extra    bool
	BaseTime int64 // Unix ms of event 0's date_time; 0: the query's start
}

// NEXMark's proportions and constants.
const (
	nxPersons, nxAuctions, nxBids = 1, 3, 46
	nxTotal                       = nxPersons + nxAuctions + nxBids
	nxFirstPerson                 = 1000
	nxFirstAuction                = 1000
	nxFirstCategory               = 10
	nxCategories                  = 5
	nxPersonLead                  = 10
	nxAuctionLead                 = 10
	nxHotBatch                    = 100 // hot ids are the first of each batch of this many
	nxActivePeople                = 1000
	nxInFlightAuctions            = 100
	nxHotAuctionRatio             = 2
	nxHotSellerRatio              = 4
	nxHotBidderRatio              = 4
	nxChannels                    = 10_000
	nxHotChannelRatio             = 10
	nxPersonBytes                 = 200
	nxAuctionBytes                = 500
	nxBidBytes                    = 100
)

// Bounds on a nexmark source's settings.
const (
	maxNexmarkRate   = 1e9
	maxNexmarkEvents = 1 << 50
	maxNexmarkGroup  = 1 << 20
	// maxNexmarkBaseTime is the year 2200: event times stay far inside
	// int64 nanoseconds.
	maxNexmarkBaseTime = 7_258_118_400_000
)

func init() {
	RegisterInput(query.InputKind{Name: "nexmark", Parse: func(s *query.Section) query.InputSpec {
		n := &Nexmark{Rate: 10_000, Group: 1, Extra: true}
		s.Fields(map[string]func(*query.Value){
			"rate":               func(v *query.Value) { n.Rate = v.Float() },
			"events":             func(v *query.Value) { n.Events = v.Int() },
			"duration":           func(v *query.Value) { n.Duration = v.Duration() },
			"seed":               func(v *query.Value) { n.Seed = uint64(v.Int()) },
			"kinds":              func(v *query.Value) { n.Kinds = v.Strings() },
			"out_of_order_group": func(v *query.Value) { n.Group = int(v.Int()) },
			"extra":              func(v *query.Value) { n.Extra = v.Bool() },
			"base_time":          func(v *query.Value) { n.BaseTime = v.Int() },
		})
		return n
	}}, openNexmark)
}

// Kind is "nexmark".
func (*Nexmark) Kind() string { return "nexmark" }

// Check validates the settings and returns the fields of the kinds it
// yields.
func (n *Nexmark) Check(c *query.Checker) map[string]string {
	if !(n.Rate >= 1 && n.Rate <= maxNexmarkRate) {
		c.Fail("rate", "must be 1 to %v events per second, got %v", float64(maxNexmarkRate), n.Rate)
	}
	if n.Events < 0 || n.Events > maxNexmarkEvents {
		c.Fail("events", "must be 0 (no bound) to %d, got %d", int64(maxNexmarkEvents), n.Events)
	}
	if n.Duration < 0 || n.Duration > query.MaxRunFor {
		c.Fail("duration", "must be 0 (no bound) to %v, got %v", query.MaxRunFor, n.Duration)
	}
	if n.BaseTime < 0 || n.BaseTime > maxNexmarkBaseTime {
		c.Fail("base_time", "must be 0 (the query's start) to %d (Unix ms), got %d", int64(maxNexmarkBaseTime), n.BaseTime)
	}
	if n.Group < 1 || n.Group > maxNexmarkGroup {
		c.Fail("out_of_order_group", "must be 1 (in order) to %d, got %d", maxNexmarkGroup, n.Group)
	}
	seen := map[string]bool{}
	for i, k := range n.Kinds {
		switch {
		case k != "person" && k != "auction" && k != "bid":
			c.Fail(fmt.Sprintf("kinds[%d]", i), "%q: want person, auction or bid", k)
		case seen[k]:
			c.Fail(fmt.Sprintf("kinds[%d]", i), "%q twice", k)
		}
		seen[k] = true
	}
	if n.Kinds != nil && len(n.Kinds) == 0 {
		c.Fail("kinds", "empty: want some of person, auction and bid (or leave it out for all)")
	}
	fields := map[string]string{"type": "string", "date_time": "int"}
	if n.Extra {
		fields["extra"] = "string"
	}
	if n.yields(nxKindPerson) {
		maps.Copy(fields, map[string]string{"id": "int", "name": "string", "email_address": "string", "credit_card": "string", "city": "string", "state": "string"})
	}
	if n.yields(nxKindAuction) {
		maps.Copy(fields, map[string]string{"id": "int", "item_name": "string", "description": "string", "initial_bid": "int", "reserve": "int", "expires": "int", "seller": "int", "category": "int"})
	}
	if n.yields(nxKindBid) {
		maps.Copy(fields, map[string]string{"auction": "int", "bidder": "int", "price": "int", "channel": "string", "url": "string"})
	}
	return fields
}

// yields says whether the source yields events of kind k.
func (n *Nexmark) yields(k nxKind) bool {
	return len(n.Kinds) == 0 || slices.Contains(n.Kinds, nxKindNames[k])
}

// Clone implements query.Cloner.
func (n *Nexmark) Clone() query.InputSpec {
	c := *n
	c.Kinds = slices.Clone(n.Kinds)
	return &c
}

type nxKind int

const (
	nxKindPerson nxKind = iota
	nxKindAuction
	nxKindBid
)

var nxKindNames = [...]string{"person", "auction", "bid"}

// Boxed once: the values events share.
var (
	nxKindValues = [...]any{"person", "auction", "bid"}
	nxStates     = boxAll("AZ", "CA", "ID", "OR", "WA", "WY")
	nxCities     = boxAll("Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne")
	nxFirstNames = []string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	nxLastNames  = []string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	nxHotChans   = boxAll("Google", "Facebook", "Baidu", "Apple")
	nxHotURLs    = boxAll(
		"https://www.nexmark.com/googl/item.htm?query=1",
		"https://www.nexmark.com/faceb/item.htm?query=1",
		"https://www.nexmark.com/baidu/item.htm?query=1",
		"https://www.nexmark.com/apple/item.htm?query=1")
)

func boxAll(s ...string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// nxChannels and their urls, made and boxed on first use.
var nxChannelTable struct {
	once       sync.Once
	names, url []any
}

func nxChannel(i int) (any, any) {
	t := &nxChannelTable
	t.once.Do(func() {
		t.names = make([]any, nxChannels)
		t.url = make([]any, nxChannels)
		r := nxRand{s: 0x6e65786d61726b} // fixed: the table is the same everywhere
		for j := range nxChannels {
			t.names[j] = fmt.Sprintf("channel-%d", j)
			t.url[j] = fmt.Sprintf("https://www.nexmark.com/%s/%s/%s/item.htm?query=1&channel_id=%d", r.letters(5), r.letters(5), r.letters(5), j)
		}
	})
	return t.names[i], t.url[i]
}

// nxPadding is the text extra fields are cut from: a fixed random text,
// so that an extra is a substring (no copy) of the length NEXMark's
// average event size asks for.
var nxPadding = func() string {
	r := nxRand{s: 0x7061646469e67}
	return r.letters(4096)
}()

// nxRand is a small generator (SplitMix64) seeded per event.
type nxRand struct{ s uint64 }

func nxSeeded(seed, n uint64) nxRand {
	r := nxRand{s: seed*0x9e3779b97f4a7c15 ^ n}
	r.next()
	return r
}

func (r *nxRand) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn is uniform in [0, n), n > 0.
func (r *nxRand) intn(n int64) int64 {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int64(hi)
}

func (r *nxRand) float() float64 { return float64(r.next()>>11) / (1 << 53) }

func (r *nxRand) letters(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(r.intn(26))
	}
	return string(b)
}

// extra is padding up to avg bytes for an event of size bytes so far:
// within a fifth of what is missing either way, as NEXMark's.
func (r *nxRand) extra(size, avg int) string {
	want := max(avg-size, 0)
	delta := int(math.Round(float64(want) * 0.2))
	n := want - delta + int(r.intn(int64(2*delta+1)))
	n = min(n, len(nxPadding))
	at := int(r.intn(int64(len(nxPadding) - n + 1)))
	return nxPadding[at : at+n]
}

// price is 10^U(0,6) dollars, in cents.
func (r *nxRand) price() int { return int(math.Round(math.Exp(r.float()*6*math.Ln10) * 100)) }

// nexmarkGen makes the stream's events.
type nexmarkGen struct {
	spec  *Nexmark
	start int64   // Unix ns of event 0's due time
	base  int64   // Unix ns of event 0's event time
	delay float64 // ns between events
	end   int64   // due times at or after it are not produced (0: none)
	n     int64   // the next event number to look at
	sel   [3]bool
	nsel  int        // how many of the 50 slots are selected
	shape [3]nxShape // each kind's row shape
}

// nxShape lays out one kind's rows: its fields in the order its builder
// writes them, their places in the row's shape, and the values not yet
// handed out of the current allocation (one per nxChunk rows).
type nxShape struct {
	names *query.Names
	at    []int
	vals  []any
}

const nxChunk = 256

func newNxShape(fields ...string) nxShape {
	s := nxShape{names: query.NamesOf(fields...)}
	for _, f := range fields {
		s.at = append(s.at, s.names.Index(f))
	}
	return s
}

// row returns the fields of vals, given in the order the shape was made
// with.
func (s *nxShape) row(vals ...any) query.Fields {
	n := len(s.at)
	if len(s.vals) < n {
		s.vals = make([]any, n*nxChunk)
	}
	row := s.vals[:n:n]
	s.vals = s.vals[n:]
	for i, v := range vals {
		row[s.at[i]] = v
	}
	return query.NewFields(s.names, row)
}

func newNexmarkGen(spec *Nexmark, start int64) *nexmarkGen {
	g := &nexmarkGen{spec: spec, start: start, base: start, delay: 1e9 / spec.Rate}
	if spec.BaseTime > 0 {
		g.base = spec.BaseTime * 1e6
	}
	if spec.Duration > 0 {
		g.end = start + int64(spec.Duration)
	}
	for k := range g.sel {
		g.sel[k] = spec.yields(nxKind(k))
	}
	// Each kind's fields in the order its builder (person, auction, bid)
	// passes them.
	var extra []string
	if spec.Extra {
		extra = []string{"extra"}
	}
	g.shape[nxKindPerson] = newNxShape(append([]string{"type", "date_time", "id", "name", "email_address", "credit_card", "city", "state"}, extra...)...)
	g.shape[nxKindAuction] = newNxShape(append([]string{"type", "date_time", "id", "item_name", "description", "initial_bid", "reserve", "expires", "seller", "category"}, extra...)...)
	g.shape[nxKindBid] = newNxShape(append([]string{"type", "date_time", "auction", "bidder", "price", "channel", "url"}, extra...)...)
	for slot := range nxTotal {
		if g.sel[nxKindOf(int64(slot))] {
			g.nsel++
		}
	}
	g.skip()
	return g
}

func nxKindOf(id int64) nxKind {
	switch off := id % nxTotal; {
	case off < nxPersons:
		return nxKindPerson
	case off < nxPersons+nxAuctions:
		return nxKindAuction
	}
	return nxKindBid
}

// adjusted is the number whose id and time event n takes: n itself in
// order, or its place shuffled within its group (NEXMark's
// nextAdjustedEventNumber).
func (g *nexmarkGen) adjusted(n int64) int64 {
	k := int64(g.spec.Group)
	if k == 1 {
		return n
	}
	return n/k*k + int64((uint64(n)*953)%uint64(k))
}

// due is when event n is due (saturated).
func (g *nexmarkGen) due(n int64) int64 {
	d := float64(n) * g.delay
	if d >= float64(math.MaxInt64-g.start) {
		return math.MaxInt64
	}
	return g.start + int64(d)
}

// skip moves n to the next selected event.
func (g *nexmarkGen) skip() {
	for !g.sel[nxKindOf(g.adjusted(g.n))] {
		g.n++
	}
}

func (g *nexmarkGen) done() bool {
	return g.spec.Events > 0 && g.n >= g.spec.Events || g.end > 0 && g.due(g.n) >= g.end || g.due(g.n) == math.MaxInt64
}

// until appends the selected events due at or before now, at most max.
func (g *nexmarkGen) until(now int64, max int, out []query.Event) []query.Event {
	for i := 0; i < max && !g.done(); i++ {
		at := g.due(g.n)
		if at > now {
			break
		}
		out = append(out, g.event(g.n, at))
		g.n++
		g.skip()
	}
	return out
}

// event makes event n, due at at.
func (g *nexmarkGen) event(n, at int64) query.Event {
	id := g.adjusted(n)
	t := g.base + int64(float64(id)*g.delay) // its event time, ns
	ms := int(t / 1e6)
	r := nxSeeded(g.spec.Seed, uint64(id))
	kind := nxKindOf(id)
	var f query.Fields
	switch kind {
	case nxKindPerson:
		f = g.person(id, ms, &r)
	case nxKindAuction:
		f = g.auction(id, n, t, ms, &r)
	default:
		f = g.bid(id, ms, &r)
	}
	return query.Event{Arrival: at, EventTime: t, Fields: f}
}

// lastPerson is the last person id (base 0) at event id.
func nxLastPerson(id int64) int64 {
	epoch, off := id/nxTotal, id%nxTotal
	if off >= nxPersons {
		off = nxPersons - 1
	}
	return epoch*nxPersons + off
}

// lastAuction is the last auction id (base 0) at event id.
func nxLastAuction(id int64) int64 {
	epoch, off := id/nxTotal, id%nxTotal
	switch {
	case off < nxPersons:
		epoch--
		off = nxAuctions - 1
	case off >= nxPersons+nxAuctions:
		off = nxAuctions - 1
	default:
		off -= nxPersons
	}
	return epoch*nxAuctions + off
}

// nextPerson is a random active person (base 0), a few not created yet
// included.
func nxNextPerson(id int64, r *nxRand) int64 {
	people := nxLastPerson(id) + 1
	active := min(people, nxActivePeople)
	return people - active + r.intn(active+nxPersonLead)
}

// nextAuction is a random auction in flight (base 0), a few not created
// yet included.
func nxNextAuction(id int64, r *nxRand) int64 {
	last := nxLastAuction(id)
	lo := max(last-nxInFlightAuctions, 0)
	return lo + r.intn(last-lo+1+nxAuctionLead)
}

func (g *nexmarkGen) person(id int64, ms int, r *nxRand) query.Fields {
	name := nxFirstNames[r.intn(int64(len(nxFirstNames)))] + " " + nxLastNames[r.intn(int64(len(nxLastNames)))]
	email := r.letters(7) + "@" + r.letters(5) + ".com"
	card := fmt.Sprintf("%04d %04d %04d %04d", r.intn(10000), r.intn(10000), r.intn(10000), r.intn(10000))
	city, state := nxCities[r.intn(int64(len(nxCities)))], nxStates[r.intn(int64(len(nxStates)))]
	pid := int(nxLastPerson(id) + nxFirstPerson)
	sh := &g.shape[nxKindPerson]
	if g.spec.Extra {
		extra := r.extra(8+len(name)+len(email)+len(card)+len(city.(string))+len(state.(string)), nxPersonBytes)
		return sh.row(nxKindValues[nxKindPerson], ms, pid, name, email, card, city, state, extra)
	}
	return sh.row(nxKindValues[nxKindPerson], ms, pid, name, email, card, city, state)
}

func (g *nexmarkGen) auction(id, n, t int64, ms int, r *nxRand) query.Fields {
	seller := nxNextPerson(id, r)
	if r.intn(nxHotSellerRatio) > 0 {
		seller = nxLastPerson(id) / nxHotBatch * nxHotBatch
	}
	category := nxFirstCategory + r.intn(nxCategories)
	initial := r.price()
	// It expires within twice the time the stream takes to open
	// nxInFlightAuctions more auctions.
	ahead := int64(nxInFlightAuctions) * nxTotal / nxAuctions
	horizon := int64(float64(g.adjusted(n)+ahead)*g.delay)/1e6 - int64(float64(g.adjusted(n))*g.delay)/1e6
	expires := t/1e6 + 1 + r.intn(max(horizon*2, 1))
	name, desc := r.letters(20), r.letters(100)
	reserve := initial + r.price()
	aid := int(nxLastAuction(id) + nxFirstAuction)
	sh := &g.shape[nxKindAuction]
	if g.spec.Extra {
		extra := r.extra(8+len(name)+len(desc)+40, nxAuctionBytes)
		return sh.row(nxKindValues[nxKindAuction], ms, aid, name, desc, initial, reserve, int(expires), int(seller+nxFirstPerson), int(category), extra)
	}
	return sh.row(nxKindValues[nxKindAuction], ms, aid, name, desc, initial, reserve, int(expires), int(seller+nxFirstPerson), int(category))
}

func (g *nexmarkGen) bid(id int64, ms int, r *nxRand) query.Fields {
	var auction, bidder int64
	if r.intn(nxHotAuctionRatio) > 0 {
		auction = nxLastAuction(id) / nxHotBatch * nxHotBatch
	} else {
		auction = nxNextAuction(id, r)
	}
	if r.intn(nxHotBidderRatio) > 0 {
		// The second person of the batch, so that hot bidders and hot
		// sellers differ.
		bidder = nxLastPerson(id)/nxHotBatch*nxHotBatch + 1
	} else {
		bidder = nxNextPerson(id, r)
	}
	price := r.price()
	var channel, url any
	if r.intn(nxHotChannelRatio) > 0 {
		i := r.intn(int64(len(nxHotChans)))
		channel, url = nxHotChans[i], nxHotURLs[i]
	} else {
		channel, url = nxChannel(int(r.intn(nxChannels)))
	}
	sh := &g.shape[nxKindBid]
	if g.spec.Extra {
		return sh.row(nxKindValues[nxKindBid], ms, int(auction+nxFirstAuction), int(bidder+nxFirstPerson), price, channel, url, r.extra(32, nxBidBytes))
	}
	return sh.row(nxKindValues[nxKindBid], ms, int(auction+nxFirstAuction), int(bidder+nxFirstPerson), price, channel, url)
}

func openNexmark(spec query.InputSpec, env *Env) (Input, error) {
	n := spec.(*Nexmark)
	if !(n.Rate >= 1) || n.Group < 1 {
		return nil, fmt.Errorf("nexmark: rate %v and out_of_order_group %d must be >= 1 (validate the spec with query.Parse)", n.Rate, n.Group)
	}
	return &nexmarkInput{g: newNexmarkGen(n, env.Start), env: env}, nil
}

// nexmarkInput is the stream as a Scheduled input.
type nexmarkInput struct {
	g   *nexmarkGen
	env *Env
}

func (in *nexmarkInput) Read(now int64, max int, buf []query.Event) ([]query.Event, bool, error) {
	if in.env.Unpaced {
		now = math.MaxInt64
	}
	from := len(buf)
	buf = in.g.until(now, max, buf)
	if et := in.env.EventTime; et != nil {
		for i := from; i < len(buf); i++ {
			t, err := query.EventTimeOf(buf[i].Fields, et)
			if err != nil {
				return buf, false, fmt.Errorf("nexmark: %w", err)
			}
			buf[i].EventTime = t
		}
	}
	return buf, in.g.done(), nil
}

func (in *nexmarkInput) NextDue() (int64, bool) { return in.g.due(in.g.n), !in.g.done() }

func (in *nexmarkInput) Behind(now int64) int64 {
	if in.g.done() {
		return 0
	}
	return max(0, now-in.g.due(in.g.n))
}

// Unproduced is the selected events due from the next until stop (or the
// end).
func (in *nexmarkInput) Unproduced(stop int64) uint64 {
	g := in.g
	if g.done() {
		return 0
	}
	if g.end > 0 {
		stop = min(stop, g.end)
	}
	from := g.due(g.n)
	if stop <= from {
		return 0
	}
	to := g.n + int64(math.Ceil(float64(stop-from)/g.delay)) // one past the last due before stop
	if g.spec.Events > 0 {
		to = min(to, g.spec.Events)
	}
	return uint64(g.selected(g.n, to))
}

// selected counts the selected events among numbers [from, to), by their
// slots in order (a shuffled group moves kinds only within the group).
func (g *nexmarkGen) selected(from, to int64) int64 {
	if to <= from {
		return 0
	}
	// Whole cycles of 50, then the slots left over.
	n := (to - from) / nxTotal * int64(g.nsel)
	for i := from + (to-from)/nxTotal*nxTotal; i < to; i++ {
		if g.sel[nxKindOf(i)] {
			n++
		}
	}
	return n
}

func (in *nexmarkInput) Close() error { return nil }
