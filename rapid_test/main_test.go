// Package rapid_test property-tests the runtime's protocol invariants (the
// README's "Semantics") with state machines drawn by
// pgregory.net/rapid, over every hosting. The default run is sized for CI;
// RAPID_CHECKS and RAPID_STEPS raise it.
package rapid_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/tractor-go/tractor"
)

func TestMain(m *testing.M) {
	tractor.ServeIfChild()
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	goleak.VerifyTestMain(m)
}
