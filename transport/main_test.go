package transport_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain does without tractortest.Setup: the runtime is built
// on this package, and its tests run without the runtime linked in.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" { // re-executed by TestSocketpairSubprocess
		os.Exit(socketpairChildEcho())
	}
	goleak.VerifyTestMain(m)
}
