package main

import (
	"bytes"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
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
