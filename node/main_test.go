package node

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// protoactor's dead-letter throttle keeps a goroutine for its period
		// (one second) after messages reach stopped actors. And a node of a
		// cluster test that was stopped may still be dialling its peer that
		// is gone: protoactor's endpoint writer and the gRPC connection it
		// dials end by themselves within the runtime's dial timeout (one
		// second), which goleak's own retries (about half a second) do not
		// cover. Wait for them, bounded, as runtime's TestMain does.
		opts := []goleak.Option{goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1")}
		err := goleak.Find(opts...)
		for deadline := time.Now().Add(5 * time.Second); err != nil && time.Now().Before(deadline); err = goleak.Find(opts...) {
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
