package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/cameo-go/cameo/experiments"
)

// lockedBuffer takes writes from several goroutines: `run` reports on
// stderr while the engine's stdout sinks write results.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out lockedBuffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestMotivatingCommand(t *testing.T) {
	out, err := run(t, "motivating")
	if err != nil {
		t.Fatal(err)
	}
	want := "fifo   order M1 M2 M3 M4; misses: M2 M4\n" +
		"llf    order M2 M1 M4 M3; misses: M4\n" +
		"cameo  order M2 M4 M1 M3; misses: none\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestMotivatingCommandBadPolicy(t *testing.T) {
	_, err := run(t, "motivating", "--policy", "lifo")
	if err == nil || !strings.Contains(err.Error(), `--policy: priority: unknown policy "lifo" (valid: cameo, llf`) {
		t.Errorf("err = %v", err)
	}
}

func TestMotivatingTrace(t *testing.T) {
	out, err := run(t, "motivating", "--policy", "cameo", "--trace")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "t=80 w0 start o2 M2 key=85") {
		t.Errorf("trace missing the first LS start:\n%s", out)
	}
}

func TestValidateCommand(t *testing.T) {
	out, err := run(t, "validate", "../../examples/quickstart.yaml", "../../examples/join.json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, `quickstart.yaml: ok: query "error-alerts" of tenant "ops", latency target 50ms, 1 source(s), 3 step(s)`) {
		t.Errorf("output:\n%s", out)
	}
}

func TestValidateCommandReportsEveryError(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.yaml"
	spec := "name: q\nlatency_target: 0s\nsources:\n  - name: a\n    generator: {rate: -1}\n"
	if err := os.WriteFile(bad, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "validate", "../../examples/quickstart.yaml", bad)
	var exit exitError
	if !errors.As(err, &exit) || exit.code != 1 {
		t.Fatalf("err = %v, want exit 1", err)
	}
	for _, want := range []string{
		bad + ":2:17: latency_target: must be > 0 and at most 24h0m0s, got 0s",
		bad + ":5:23: sources[0].generator.rate: must be 0.001 to 1e+07 events per second, got -1",
		"quickstart.yaml: ok",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// validate - and run - read the spec from stdin; a spec from stdin whose
// source would read stdin too is refused.
func TestSpecFromStdin(t *testing.T) {
	exec := func(stdin string, args ...string) (string, error) {
		var out lockedBuffer
		cmd := newRootCmd()
		cmd.SetIn(strings.NewReader(stdin))
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.Execute()
		return out.String(), err
	}
	const spec = "name: q\nlatency_target: 1s\nsources: [{name: s, generator: {rate: 1000, duration: 50ms}}]\nsink: {stdout: {}}\n"
	if out, err := exec(spec, "validate", "-"); err != nil || !strings.Contains(out, `-: ok: query "q"`) {
		t.Fatalf("validate -: %v\n%s", err, out)
	}
	if out, err := exec(spec, "run", "-q", "-"); err != nil || strings.Count(out, `{"key":`) != 50 {
		t.Fatalf("run -: %v\n%s", err, out)
	}
	reads := strings.Replace(spec, "generator: {rate: 1000, duration: 50ms}", "jsonl: {stdin: true}", 1)
	if out, err := exec(reads, "validate", "-"); err == nil || !strings.Contains(out, "sources[0].jsonl.stdin reads stdin, which the spec itself came from") {
		t.Fatalf("validate - of a stdin source: %v\n%s", err, out)
	}
}

// A command line the command does not take exits 2 with the usage; other
// errors exit 1, without the library's package prefixes.
func TestUsageErrorsExit2(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bogus"}, 2, `cameo: unknown command "bogus" for "cameo"`},
		{[]string{"stats", "--bogus"}, 2, "cameo: unknown flag: --bogus"},
		{[]string{"run"}, 2, "cameo: requires at least 1 arg(s)"},
		{[]string{"run", "--scheduler", "cameoo", "x.yaml"}, 2, `cameo: --scheduler "cameoo": unknown scheduler (valid: cameo, llf`},
		{[]string{"run", "--workers", "many", "x.yaml"}, 2, `cameo: invalid argument "many" for "--workers" flag: invalid syntax`},
		{[]string{"run", "--workers", "-3", "../../examples/quickstart.yaml"}, 1, "cameo: workers -3: want 1 to"},
	} {
		var out lockedBuffer
		root := newRootCmd()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(c.args)
		err := root.Execute()
		if err == nil {
			t.Fatalf("%v: no error", c.args)
		}
		var msg lockedBuffer
		code := report(&msg, root, err)
		got := msg.String()
		if code != c.code || !strings.HasPrefix(got, c.want) || (code == 2) != strings.Contains(got, "Usage:") || strings.Contains(got, "runtime: ") {
			t.Errorf("%v: exit %d\n%s\nwant exit %d and %q", c.args, code, got, c.code, c.want)
		}
	}
}

// Each experiment gets a status line: which of how many, with the time so
// far and an estimate of the time left from the second on; no line is
// rewritten in place (a log reads them as they are).
func TestExperimentStatusLines(t *testing.T) {
	var out, status strings.Builder
	if err := runExperiments(context.Background(), &out, &status, experiments.Options{Out: t.TempDir()}, []string{"E1", "e1"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(status.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "[1/2] E1: ") || !strings.HasPrefix(lines[1], "[2/2] E1: ") || !strings.Contains(lines[1], "left") || strings.Contains(status.String(), "\r") {
		t.Fatalf("status:\n%s", status.String())
	}
	var unknown unknownExperiment
	if err := runExperiments(context.Background(), &out, &status, experiments.Options{}, []string{"E99"}); !errors.As(err, &unknown) {
		t.Fatalf("unknown experiment: %v", err)
	}
}
