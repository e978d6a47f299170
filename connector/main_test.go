package connector

import (
	"testing"

	"go.uber.org/goleak"
)

// protoactor's dead-letter throttle keeps a goroutine for its period (one
// second) after messages reach a failed query's stopped actors.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}
