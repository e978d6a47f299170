//go:build unix

package experiments

import "syscall"

// processCPU is the user and system CPU time this process has used, in
// nanoseconds; -1 if the system does not say.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
