// Package settle waits, with a bound, for a state that other goroutines
// or processes reach. It holds the waits of package tractortest without the
// runtime, so that the transport's own tests can use them and still build
// without the runtime linked in (a mutant of transport/ then rebuilds only
// transport/).
package settle

import (
	"runtime"
	"strings"
	"time"
)

// Eventually polls check until it returns nil, and fails tb with its last
// error once bound has passed (tractortest.Eventually says when to use it).
func Eventually(tb interface {
	Helper()
	Fatalf(format string, args ...any)
}, bound time.Duration, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(bound)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%v, after %v", err, bound)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BlockedIn reports whether a goroutine of this process is parked (on a
// channel, a select, a lock, a condition, I/O or a sleep) with a function
// whose qualified name contains fn on its stack, as
// "tractor.(*registrar).wait" or "transport.(*tcpListener).Accept". A test
// that must act once another goroutine waits somewhere polls it, with a
// generous bound, instead of sleeping and hoping the goroutine got there.
func BlockedIn(fn string) bool { return ParkedIn(fn) > 0 }

// ParkedIn counts the goroutines of this process parked with fn on their
// stack, as [BlockedIn] finds them: a test waits for several to wait.
func ParkedIn(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, stack, _ := strings.Cut(g, "\n")
		// "goroutine 7 [chan receive]:": running and runnable goroutines
		// have not parked yet.
		if strings.Contains(header, "[running]") || strings.Contains(header, "[runnable]") {
			continue
		}
		if strings.Contains(stack, fn+"(") {
			count++
		}
	}
	return count
}
