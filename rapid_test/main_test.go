// Package rapid_test property-tests the runtime's protocol invariants (the
// README's "Semantics") with state machines drawn by
// pgregory.net/rapid, over every hosting. The default run is sized for CI;
// RAPID_CHECKS and RAPID_STEPS raise it.
package rapid_test

import (
	"testing"

	"github.com/tractor-go/tractor/tractortest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	tractortest.Setup()
	goleak.VerifyTestMain(m)
}
