//go:build !unix

package experiments

// processCPU reports nothing where there is no getrusage.
func processCPU() int64 { return -1 }
