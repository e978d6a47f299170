package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestGCSettings: without GOGC and GOMEMLIMIT in the environment the
// binary collects at 400 % and sets a soft limit under the machine's
// memory; with them, it leaves both alone.
func TestGCSettings(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	debug.SetGCPercent(100)
	got := gcSettings(func(string) string { return "" })
	if p := debug.SetGCPercent(100); p != defaultGCPercent {
		t.Fatalf("GC percent %d, want %d", p, defaultGCPercent)
	}
	if !strings.HasPrefix(got, "GOGC=400, ") {
		t.Fatalf("described as %q", got)
	}
	if strings.Contains(got, "memory limit") {
		if l := debug.SetMemoryLimit(-1); l <= 0 || l == 1<<63-1 {
			t.Fatalf("memory limit %d after %q", l, got)
		}
	}
	debug.SetGCPercent(150)
	debug.SetMemoryLimit(1 << 40)
	got = gcSettings(func(k string) string { return map[string]string{"GOGC": "150", "GOMEMLIMIT": "1TiB"}[k] })
	if p := debug.SetGCPercent(-1); p != 150 {
		t.Fatalf("GC percent %d with GOGC=150 in the environment", p)
	}
	if l := debug.SetMemoryLimit(-1); l != 1<<40 {
		t.Fatalf("memory limit %d with GOMEMLIMIT in the environment", l)
	}
	if got != "GOGC from the environment, GOMEMLIMIT from the environment" {
		t.Fatalf("described as %q", got)
	}
}
