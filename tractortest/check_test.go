package tractortest_test

import (
	"testing"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
)

// TestUserEndpoints runs the example's cases on both hostings, among
// hostile ones.
func TestUserEndpoints(t *testing.T) {
	t.Run("goroutine", func(t *testing.T) {
		tractortest.Check(t, tractortest.Config{Cases: cases, Faults: true, Hostile: true})
	})
	t.Run("process", func(t *testing.T) {
		tractortest.Check(t, tractortest.Config{
			Cases: cases, Faults: true, Hostile: true,
			Options: []tractor.Option{tractor.Spawn(tractor.Process)},
		})
	})
}
