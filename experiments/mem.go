package experiments

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// resetPeakRSS returns freed memory to the system and resets the kernel's
// high-water mark of the process's resident set (Linux: clear_refs 5), so
// that peakRSS after a run is that run's. Elsewhere peakRSS reports -1.
func resetPeakRSS() {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS returns the process's peak resident set since resetPeakRSS, in
// bytes; -1 when the system does not say.
func peakRSS() int64 { return procStatusBytes("VmHWM:") }

// currentRSS returns the process's resident set now, in bytes; -1 when
// the system does not say.
func currentRSS() int64 { return procStatusBytes("VmRSS:") }

// procStatusBytes reads a "NAME: n kB" line of /proc/self/status.
func procStatusBytes(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return -1
}

// heapBytes returns the bytes of live and not yet swept heap objects.
func heapBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return -1
	}
	return int64(s[0].Value.Uint64())
}
