package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func fileSpec(in, sink string) string {
	return `
name: files
latency_target: 1s
sources: [{name: s, jsonl: {path: '` + in + `'}}]
sink: {file: {path: '` + sink + `'}}
`
}

// With a file root, a query's files are confined to it: nothing outside
// it is read or written, whatever the path or link, and no device or FIFO
// is opened.
func TestFileRootConfinesQueries(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "in.jsonl"), `{"key":"a"}`+"\n")
	write(filepath.Join(outside, "secret"), "root:x:0:0:root:/root:/bin/bash\n")
	write(filepath.Join(outside, "victim"), "precious\n")
	for name, target := range map[string]string{"secret-link": filepath.Join(outside, "secret"), "victim-link": filepath.Join(outside, "victim"), "zero-link": "/dev/zero"} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, WithFileRoot(root))
	for _, c := range []struct{ name, in, sink string }{
		{"climbs out", "../" + filepath.Base(outside) + "/secret", "out.jsonl"},
		{"absolute", "/etc/passwd", "out.jsonl"},
		{"link out", "secret-link", "out.jsonl"},
		{"link to a device", "zero-link", "out.jsonl"},
		{"fifo", "fifo", "out.jsonl"},
		{"sink through a link", "in.jsonl", "victim-link"},
		{"sink outside", "in.jsonl", "../" + filepath.Base(outside) + "/victim"},
		{"sink on a fifo", "in.jsonl", "fifo"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.Submit(context.Background(), mustParse(t, fileSpec(c.in, c.sink)))
			if !errors.Is(err, ErrFileRefused) {
				t.Fatalf("submit: %v, want ErrFileRefused", err)
			}
			if strings.Contains(err.Error(), "root:x") {
				t.Fatalf("the refusal echoes the file: %v", err)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "precious\n" {
		t.Fatalf("a file outside the root was written: %q", b)
	}
	q, err := e.Submit(context.Background(), mustParse(t, fileSpec("in.jsonl", "./out.jsonl")))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "out.jsonl")); !strings.Contains(string(b), `"key":"a"`) {
		t.Fatalf("inside the root: %q", b)
	}
}

// An endless input (a device without newlines) stops when its query is
// cancelled: the reader goroutine ends (goleak checks it at the end).
func TestEndlessInputStopsOnCancel(t *testing.T) {
	e := newEngine(t)
	q, err := e.Submit(context.Background(), mustParse(t, fileSpec("/dev/zero", os.DevNull)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	q.wg.Wait() // the reader is the query's: it has ended
	if st := q.Stats(); st.Dropped > 0 && st.DroppedBy["over_limit"] != st.Dropped {
		t.Errorf("dropped %v, want only over_limit lines", st.DroppedBy)
	}
}

// A query that fails to build after its input was opened stops the
// input's reader and closes its file: nothing outlives the refusal.
func TestBuildFailureStopsOpenedInputs(t *testing.T) {
	root := t.TempDir()
	var lines strings.Builder
	for i := range 20_000 { // more than the reader's chunks hold: it blocks until stopped
		fmt.Fprintf(&lines, "{\"key\":\"k%d\"}\n", i)
	}
	if err := os.WriteFile(filepath.Join(root, "in.jsonl"), []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, WithFileRoot(root))
	before := goleak.IgnoreCurrent()
	_, err := e.Submit(context.Background(), mustParse(t, fileSpec("in.jsonl", "no/such/dir/out.jsonl")))
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("submit: %v, want the sink's directory missing", err)
	}
	if err := goleak.Find(before); err != nil {
		t.Fatalf("after a failed build: %v", err)
	}
}
