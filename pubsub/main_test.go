package pubsub_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/tractor-go/tractor"
)

func TestMain(m *testing.M) {
	// A process actor is this test binary re-executed: serve and exit.
	tractor.ServeIfChild()
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	goleak.VerifyTestMain(m)
}
