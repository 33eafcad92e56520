package tractortest

import (
	"os"

	"github.com/tractor-go/tractor"
)

// Setup prepares a test binary whose tests host process actors. Call it
// first in TestMain, then check for leaks as every test package should:
//
//	func TestMain(m *testing.M) {
//		tractortest.Setup()
//		goleak.VerifyTestMain(m)
//	}
//
// A process actor is the test binary re-executed, so Setup first serves as
// that child if it is one ([tractor.ServeIfChild], with opts: give it the
// options main would give [tractor.Run]), and then does not return. In the
// test process it sets GORACE=atexit_sleep_ms=0 for the children it
// spawns, since a child built with -race otherwise sleeps a second at
// exit, and marks the processes it spawns as its tree's ([Kin]).
func Setup(opts ...tractor.Option) {
	tractor.ServeIfChild(opts...)
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	markKin()
}
