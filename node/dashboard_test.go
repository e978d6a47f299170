package node

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cameo-go/cameo/client"
	"github.com/cameo-go/cameo/runtime"
)

// chromium finds Debian's Chromium: required in CI (.ci/run installs it),
// else the browser test is skipped with the reason.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium: .ci/run installs Debian's chromium for this test")
	}
	t.Skip("no chromium on this machine (apt-get install chromium)")
	return ""
}

// browser starts headless Chromium with what this machine needs (no
// sandbox as root; nothing that calls out to the network) and returns a
// tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	return ctx
}

// The dashboard in a real browser: the page loads without console errors,
// shows a running query with the node's own figures, and updates; a
// screenshot is written to the test's directory.
func TestDashboardInBrowser(t *testing.T) {
	ctx := browser(t)
	_, base := startNode(t, NodeConfig{Engine: []runtime.Option{runtime.WithWorkers(2)}})
	c, err := client.NewClient(base, "")
	if err != nil {
		t.Fatal(err)
	}
	spec := strings.Replace(finite, "duration: 1500ms", "duration: 60s", 1)
	sub, err := c.Submit(context.Background(), []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = c.Cancel(context.Background(), sub.ID) }()

	// Collect what the page writes to the console, errors counted.
	var mu sync.Mutex
	var consoleErrors []string
	if err := chromedp.Do(ctx); err != nil { // the browser and its tab
		t.Fatal(err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				mu.Lock()
				consoleErrors = append(consoleErrors, fmt.Sprintf("%s: %s %q (%s:%d)", m.Type, m.String(), m.Text, m.URL, m.Line))
				mu.Unlock()
			}
		}
	}()

	row := fmt.Sprintf(`#queries tbody tr[data-id=%q]`, sub.ID)
	// The page draws its tables anew at each poll: conditions on them are
	// checked in the page, in one step each.
	shows := func(sel string) chromedp.Action[chromedp.Void] {
		poll := chromedp.Poll[bool](fmt.Sprintf(`!!document.querySelector(%q)`, sel), chromedp.WithPollingTimeout(30*time.Second))
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := poll(ctx, tg)
			return err
		})
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/?every=300"),
		shows(row+` td[data-field="results"]`),
		shows(`#graph .op`),
		shows(`#tenants tbody tr[data-tenant="keep"]`),
		shows(`#chart canvas`),
	); err != nil {
		t.Fatal(err)
	}
	// The figures match the API's: the target, and results that only grow
	// (the page read them before this call).
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(td => td.textContent)`, row+" td")))
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Get(context.Background(), sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	shown, _ := strconv.ParseUint(cells[10], 10, 64)
	if len(cells) != 14 || cells[1] != sub.ID || cells[2] != d.Stats.Name || cells[3] != d.Stats.Tenant || cells[5] != fmt.Sprintf("%g ms", d.Stats.LatencyTargetMs) ||
		shown == 0 || shown > d.Stats.Results {
		t.Fatalf("row %q; the API: %d results, target %g ms", cells, d.Stats.Results, d.Stats.LatencyTargetMs)
	}
	// It updates: the time of the last poll moves on, and so do the results.
	first, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#updated`), "data-at"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		now, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#updated`), "data-at"))
		if err != nil {
			t.Fatal(err)
		}
		// Read in the page, in one step: the table is drawn anew at each
		// poll, so a node found by one call can be gone by the next.
		later, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, row+` td[data-field="results"]`)))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseUint(later, 10, 64)
		if now.Value != first.Value && n > shown {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not update: polled at %s then %s, results %d then %d", first.Value, now.Value, shown, n)
		}
		time.Sleep(100 * time.Millisecond) // the page polls every 300 ms
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if d := os.Getenv("CAMEO_SCREENSHOT_DIR"); d != "" { // to keep it and look
		dir = d
	}
	path := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
	mu.Lock()
	defer mu.Unlock()
	if len(consoleErrors) > 0 {
		t.Fatalf("console errors:\n%s", strings.Join(consoleErrors, "\n"))
	}
}

// With a token, the page wants it too: without it the page says how to
// give it; /?token= puts it in a cookie, which the page's API calls carry.
func TestDashboardTokenRules(t *testing.T) {
	_, base := startNode(t, NodeConfig{Token: "s3cret"})
	if a := call(t, "GET", base+"/", "", nil); a.status != 401 || !strings.Contains(a.body, "/?token=") {
		t.Fatalf("without the token: %d %s", a.status, a.body)
	}
	if a := call(t, "GET", base+"/?token=wrong", "", nil); a.status != 401 {
		t.Fatalf("a wrong token: %d", a.status)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	resp, err := cl.Get(base + "/?token=s3cret&every=500")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == tokenCookie {
			cookie = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?every=500" || cookie == nil || !cookie.HttpOnly {
		t.Fatalf("with the token: %d to %q, cookie %+v", resp.StatusCode, resp.Header.Get("Location"), cookie)
	}
	for _, path := range []string{"/", "/v1/queries", "/v1/node"} {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.AddCookie(cookie)
		r, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("%s with the cookie: %d", path, r.StatusCode)
		}
	}
	if a := call(t, "GET", base+"/ui/app.js", "", nil); a.status != 200 || !strings.Contains(a.body, "poll") {
		t.Fatalf("the page's script (no data, no token needed): %d", a.status)
	}
}
