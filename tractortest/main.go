package tractortest

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/tractor-go/tractor"
)

// Main is the TestMain of a package whose tests host process actors:
//
//	func TestMain(m *testing.M) { tractortest.Main(m) }
//
// A process actor is the test binary re-executed, so Main first serves as
// that child if it is one ([tractor.ServeIfChild], with opts: give it the
// options main would give [tractor.Run]), and then does not return. In the
// test process it sets GORACE=atexit_sleep_ms=0 for the children it
// spawns, since a child built with -race otherwise sleeps a second at
// exit, marks the processes it spawns as its tree's ([Kin]), and runs the tests, failing the binary if any goroutine outlives
// them ([goleak.VerifyTestMain]). A TestMain with more to do before (a
// role the binary plays when re-executed as a program of its own) does it
// and then calls Main.
func Main(m *testing.M, opts ...tractor.Option) {
	tractor.ServeIfChild(opts...)
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	markKin()
	goleak.VerifyTestMain(m)
}
