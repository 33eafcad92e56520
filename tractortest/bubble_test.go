package tractortest_test

import (
	"testing"

	"github.com/tractor-go/tractor/tractortest"
)

// TestUserEndpointsInBubble runs the example's cases, among hostile ones,
// with workers on goroutines, in virtual time.
func TestUserEndpointsInBubble(t *testing.T) {
	tractortest.Check(t, tractortest.Config{Cases: cases, Faults: true, Hostile: true, Bubble: true})
}
