package tractortest_test

import (
	"testing"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
)

// TestUserEndpoints runs the example's cases on both hostings, among
// hostile ones: with workers on goroutines in virtual time (Bubble), 100
// runs; with process workers, 40, each run's workers being processes
// started and ended (about two seconds a run with -race, where a bubbled
// run takes a fifth of that), still some 400 steps crossing processes.
func TestUserEndpoints(t *testing.T) {
	t.Run("goroutine", func(t *testing.T) {
		tractortest.Check(t, tractortest.Config{Cases: cases, Faults: true, Hostile: true, Bubble: true})
	})
	t.Run("process", func(t *testing.T) {
		fewerChecks(t, 40)
		tractortest.Check(t, tractortest.Config{
			Cases: cases, Faults: true, Hostile: true,
			Options: []tractor.Option{tractor.Spawn(tractor.Process)},
		})
	})
}
