package rapid_test

import (
	"flag"
	"strconv"
	"testing"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
)

// linkChecks bounds the runs of TestProtocolLinks, whose faulty links
// (delays, frames split at every byte) make them slow: RAPID_CHECKS or
// -rapid.checks lower it, never raise it.
const linkChecks = 10

// TestProtocolLinks is TestProtocol's state machine with workers whose
// connections carry injected faults among the others (tractortest's
// Config.Links): delays and split frames change no outcome, a window
// overrun fails its stream with a protocol error, a cut or corrupted link
// loses its worker with ErrActorGone naming it, and nothing hangs or
// leaks. The model of processes (TestProtocol's invariant) does not hold
// here: a worker whose link broke exits before any dialog has seen it.
func TestProtocolLinks(t *testing.T) {
	f := flag.Lookup("rapid.checks")
	if old := f.Value.String(); old != "" {
		if n, err := strconv.Atoi(old); err == nil && n > linkChecks {
			flag.Set("rapid.checks", strconv.Itoa(linkChecks))
			t.Cleanup(func() { flag.Set("rapid.checks", old) })
		}
	}
	for _, h := range hostings {
		t.Run(h.name, func(t *testing.T) {
			tractortest.Check(t, tractortest.Config{
				Options: h.opts,
				// Not hostile payloads: tens of MiB a byte at a time.
				Cases:  cases,
				Expose: []tractor.Endpoint{echo, grow, nap},
				Faults: true,
				Links:  true,
			})
		})
	}
}
