package runtime

import (
	"testing"

	"github.com/cameo-go/cameo/query"
)

// TestEventSlicesPool: a slice from getEvents holds n events without
// growing, and one handed back is cleared, so that a pooled slice keeps no
// event's key or fields alive (one above maxPooled is left to the GC).
func TestEventSlicesPool(t *testing.T) {
	for _, n := range []int{1, 15, 16, 17, 100, 1024, 4096, 4097} {
		s := getEvents(n)
		if len(s) != 0 || cap(s) < n {
			t.Fatalf("getEvents(%d): len %d cap %d", n, len(s), cap(s))
		}
		if n <= maxPooled && cap(s) > 2*max(n, minPooled) {
			t.Fatalf("getEvents(%d): cap %d, more than the next power of two", n, cap(s))
		}
		for i := range n {
			s = append(s, query.Event{Key: "k", Fields: query.MakeFields(map[string]any{"i": i})})
		}
		putEvents(s)
		if n <= maxPooled && (s[0].Key != "" || s[n-1].Fields.Len() != 0) {
			t.Fatalf("putEvents(%d events) left them in the slice", n)
		}
	}
}
