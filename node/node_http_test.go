package node

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cameo-go/cameo/runtime"
)

// closedWithin reports whether the server closes c within d (a read gives
// EOF or a reset). d only bounds the test: the server's own timeouts are
// far shorter.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// A slow or idle client cannot hold a node's connection: a body dripped
// byte by byte is cut at the read timeout, an idle keep-alive connection
// at the idle timeout, a huge header is refused, and connections past
// MaxConns wait to be accepted until one closes.
func TestNodeHTTPBounds(t *testing.T) {
	n, _ := startNode(t, NodeConfig{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 300 * time.Millisecond,
		IdleTimeout: 300 * time.Millisecond, MaxHeaderBytes: 4 << 10, MaxConns: 2, Engine: []runtime.Option{runtime.WithWorkers(1)}})
	addr := n.Addr()
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("dripped body", func(t *testing.T) {
		c := dial()
		_, _ = io.WriteString(c, "POST /v1/queries HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { // one byte every 50 ms: the whole body would take 50 s
			for range 100 {
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
		if !closedWithin(t, c, 10*time.Second) {
			t.Fatal("the node kept a connection whose body dripped in past its 300 ms read timeout")
		}
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial()
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %v %v", resp, err)
		}
		resp.Body.Close()
		if !closedWithin(t, c, 10*time.Second) {
			t.Fatal("an idle keep-alive connection outlived the 300 ms idle timeout")
		}
	})

	t.Run("huge header", func(t *testing.T) {
		c := dial()
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 64<<10)+"\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("64 KiB header: %v %v, want 431", resp, err)
		}
	})

	t.Run("connection bound", func(t *testing.T) {
		a, b := dial(), dial() // both accepted: the bound is 2
		_, _ = io.WriteString(a, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(a), nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("first connection: %v %v", resp, err)
		}
		_, _ = io.WriteString(b, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, err := http.ReadResponse(bufio.NewReader(b), nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("second connection: %v %v", resp, err)
		}
		c := dial() // queued in the listen backlog: not accepted while a and b are open
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a third connection was served past MaxConns 2")
		}
		a.Close()
		b.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("third connection after two closed: %v %v", resp, err)
		}
	})
}
