package rapid_test

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
)

// withChecks sets rapid's number of runs for t, fewer under -short, unless
// the command line (-rapid.checks) or RAPID_CHECKS asked for a number.
func withChecks(t *testing.T, full, short int) {
	t.Helper()
	if _, ok := os.LookupEnv("RAPID_CHECKS"); ok {
		return
	}
	f := flag.Lookup("rapid.checks")
	if f.Value.String() != f.DefValue {
		return
	}
	n := full
	if testing.Short() {
		n = 5 * short // rapid runs a fifth of its checks under -short
	}
	if err := f.Value.Set(strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Value.Set(f.DefValue) })
}

// TestContextEndpoints draws context dialogs only, over every hosting:
// the first value, a two-way exchange of Sends and Receives closed early
// by either side, then the result or the caller's cancellation, with
// cancelled steps and cancelled workers among them.
func TestContextEndpoints(t *testing.T) {
	checkCases(t, relayCase)
}

// TestStreamPrefix draws streams closed early anywhere along them, or
// cancelled mid-stream, over every hosting: what the caller received is
// a prefix of what the generator sends, in order, without duplicates or
// gaps.
func TestStreamPrefix(t *testing.T) {
	checkCases(t, countPrefix)
}

// checkCases checks c alone, with cancelled steps and workers (Faults),
// over every hosting: 12 runs each, 3 under -short. The in-process rows
// stay in real time, out of a synctest bubble: they cost a second or two
// (the process rows are the cost), and they keep the interleavings that
// only real time gives, a timer firing while the tree is busy, which a
// bubble (whose clock moves only once every goroutine is blocked) never
// draws; TestProtocol's in-process rows are the ones in bubbles.
func checkCases(t *testing.T, c tractortest.Case) {
	for _, h := range hostings {
		t.Run(h.name, func(t *testing.T) {
			withChecks(t, 12, 3)
			tractortest.Check(t, tractortest.Config{
				Options: h.opts,
				Cases:   []tractortest.Case{c},
				Faults:  true,
			})
		})
	}
}

// TestChildrenOfKilledWorker kills process workers that have process
// actors of their own: no child survives, orphaned or not.
func TestChildrenOfKilledWorker(t *testing.T) {
	for _, h := range hostings {
		if !strings.HasPrefix(h.name, "process") {
			continue // a goroutine worker cannot be killed alone
		}
		t.Run(h.name, func(t *testing.T) {
			withChecks(t, 8, 3)
			tractortest.Check(t, tractortest.Config{
				Options: h.opts,
				Cases:   []tractortest.Case{tractortest.Func(square, rapid.IntRange(-10, 10), nil)},
				Expose:  []tractor.Endpoint{brood},
				Actions: map[string]func(*rapid.T, *tractortest.World){
					"worker with children killed": broodKilled,
				},
			})
		})
	}
}
