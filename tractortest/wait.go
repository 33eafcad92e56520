package tractortest

import (
	"time"

	"github.com/tractor-go/tractor/internal/settle"
)

// Eventually polls check until it returns nil, and fails tb with its last
// error once bound has passed: the way to wait for a state another
// goroutine or process reaches (a goroutine parked, see [BlockedIn]; a
// process gone; a count reached) without sleeping for it. Make bound
// generous: it only turns a hang into a failure. tb is a *testing.T, a
// *testing.B or a *rapid.T.
func Eventually(tb interface {
	Helper()
	Fatalf(format string, args ...any)
}, bound time.Duration, check func() error) {
	tb.Helper()
	settle.Eventually(tb, bound, check)
}

// BlockedIn reports whether a goroutine of this process is parked (on a
// channel, a select, a lock, a condition, I/O or a sleep) with a function
// whose qualified name contains fn on its stack, as
// "tractor.(*registrar).wait" or "transport.(*tcpListener).Accept". A test
// that must act once another goroutine waits somewhere polls it, with a
// generous bound, instead of sleeping and hoping the goroutine got there.
func BlockedIn(fn string) bool { return settle.BlockedIn(fn) }

// ParkedIn counts the goroutines of this process parked with fn on their
// stack, as [BlockedIn] finds them: a test waits for several to wait.
func ParkedIn(fn string) int { return settle.ParkedIn(fn) }
