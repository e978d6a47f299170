package connector

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a test starts is stopped by its owner before the test
// ends.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
