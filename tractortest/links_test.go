package tractortest_test

import (
	"flag"
	"strconv"
	"testing"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
)

// fewerChecks lowers rapid's number of checks to at most n for the rest
// of the test: runs with faulty links are slow, their sizes bounded.
func fewerChecks(t *testing.T, n int) {
	f := flag.Lookup("rapid.checks")
	old := f.Value.String()
	if cur, err := strconv.Atoi(old); err == nil && cur <= n {
		return
	}
	flag.Set("rapid.checks", strconv.Itoa(n))
	t.Cleanup(func() { flag.Set("rapid.checks", old) })
}

// TestLinks runs the example's cases with faulty workers among the
// others, over the in-memory connection (goroutine workers under
// WireCheck) and over each wire.
func TestLinks(t *testing.T) {
	fewerChecks(t, 10)
	for _, h := range []struct {
		name string
		opts []tractor.Option
	}{
		{"goroutine", nil},
		{"process-pipe", []tractor.Option{tractor.Spawn(tractor.Process)}},
		{"process-tcp", []tractor.Option{tractor.Spawn(tractor.Process), tractor.Transport(tractor.TCP)}},
	} {
		t.Run(h.name, func(t *testing.T) {
			tractortest.Check(t, tractortest.Config{Cases: cases, Options: h.opts, Links: true, Faults: true})
		})
	}
}
