package connector

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cameo-go/cameo/query"
)

// NATSConn is how a NATS source or sink reaches its servers: the settings
// both kinds share.
//
//	servers: [nats://127.0.0.1:4222]   # or host:port; tls:// for TLS
//	user: u                            # with password; or token
//	password: p
//	tls: false
type NATSConn struct {
	Servers  []string
	User     string
	Password string
	Token    string
	TLS      bool
}

const (
	maxNATSServers = 64
	// natsConnectTimeout bounds a query's first connection: a server that
	// does not answer fails the query, with the address, rather than
	// holding it. Once connected, a lost connection is retried for good
	// (what was not acknowledged is sent again).
	natsConnectTimeout = 5 * time.Second
	// natsReconnectWait is the wait between reconnection attempts.
	natsReconnectWait = 250 * time.Millisecond
)

// natsFields are the connection's fields, for a kind's parser.
func (c *NATSConn) natsFields(fields map[string]func(*query.Value)) map[string]func(*query.Value) {
	fields["servers"] = func(v *query.Value) { c.Servers = v.Strings() }
	fields["user"] = func(v *query.Value) { c.User = v.Text() }
	fields["password"] = func(v *query.Value) { c.Password = v.Text() }
	fields["token"] = func(v *query.Value) { c.Token = v.Text() }
	fields["tls"] = func(v *query.Value) { c.TLS = v.Bool() }
	return fields
}

// check validates the connection settings.
func (c *NATSConn) check(ch *query.Checker) {
	switch {
	case len(c.Servers) == 0:
		ch.Fail("servers", "missing: at least one server (nats://host:port or host:port)")
	case len(c.Servers) > maxNATSServers:
		ch.Fail("servers", "%d servers: at most %d", len(c.Servers), maxNATSServers)
	}
	for i, s := range c.Servers {
		if _, err := natsHostPort(s); err != nil {
			ch.Fail(fmt.Sprintf("servers[%d]", i), "%v", err)
		}
	}
	if c.Token != "" && (c.User != "" || c.Password != "") {
		ch.Fail("token", "give a token or a user and password, not both")
	}
	if c.Password != "" && c.User == "" {
		ch.Fail("user", "missing: a password needs its user")
	}
}

// natsHostPort is a server's host:port, from nats://host:port,
// tls://host:port or host:port.
func natsHostPort(s string) (string, error) {
	hp := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("%q does not parse: %v", s, err)
		}
		switch u.Scheme {
		case "nats", "tls":
		default:
			return "", fmt.Errorf("%q: want nats:// or tls://, or host:port", s)
		}
		if u.User != nil || (u.Path != "" && u.Path != "/") {
			return "", fmt.Errorf("%q: want only a scheme, host and port (credentials go in user/password or token)", s)
		}
		hp = u.Host
	}
	if h, p, err := net.SplitHostPort(hp); err != nil || h == "" || p == "" {
		return "", fmt.Errorf("%q: want host:port, nats://host:port or tls://host:port", s)
	}
	return hp, nil
}

// uses is each server it connects to.
func (c *NATSConn) uses() []query.Use {
	var out []query.Use
	for i, s := range c.Servers {
		if hp, err := natsHostPort(s); err == nil {
			out = append(out, query.Use{Field: fmt.Sprintf("servers[%d]", i), What: query.Connects, Path: hp})
		}
	}
	return out
}

func (c *NATSConn) clone() NATSConn {
	d := *c
	d.Servers = append([]string(nil), c.Servers...)
	return d
}

// connect dials the servers. A connection once made reconnects for good:
// the engine's own bounds (the in-flight bound, the query's end) decide
// how long a query waits for its servers, not the client's.
func (c *NATSConn) connect(env *Env, role string) (*nats.Conn, error) {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		if !strings.Contains(s, "://") {
			s = "nats://" + s
		}
		urls[i] = s
	}
	opts := []nats.Option{
		nats.Name("cameo " + env.Query + " " + role),
		nats.Timeout(natsConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(natsReconnectWait),
		nats.ReconnectJitter(50*time.Millisecond, 250*time.Millisecond),
		nats.NoCallbacksAfterClientClose(),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { env.Count(role+".disconnects", 1) }),
		nats.ReconnectHandler(func(*nats.Conn) { env.Count(role+".reconnects", 1) }),
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.Token != "" {
		opts = append(opts, nats.Token(c.Token))
	}
	if c.TLS {
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	nc, err := nats.Connect(strings.Join(urls, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connecting to %s: %w", strings.Join(c.Servers, ", "), err)
	}
	return nc, nil
}

// validNATSName says whether s can name a stream or a consumer: no
// whitespace, no '.', '*', '>', path separators or control characters.
func validNATSName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(".*>/\\", r) {
			return false
		}
	}
	return true
}

// validSubject says whether s is a subject (wild is whether * and > may
// appear, as tokens).
func validSubject(s string, wild bool) bool {
	if s == "" || len(s) > 1024 {
		return false
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return false
		case strings.ContainsAny(t, " \t\r\n"):
			return false
		case t == "*" || t == ">":
			if !wild || (t == ">" && i != len(toks)-1) {
				return false
			}
		case strings.ContainsAny(t, "*>"):
			return false
		}
	}
	return true
}
