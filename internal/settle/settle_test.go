package settle_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tractor-go/tractor/internal/settle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// parkHere parks on release until it is closed: a function name for
// ParkedIn to find on a stack.
func parkHere(release <-chan struct{}, done chan<- struct{}) {
	<-release
	done <- struct{}{}
}

// TestParkedIn counts the goroutines parked in a function, and no others.
func TestParkedIn(t *testing.T) {
	release, done := make(chan struct{}), make(chan struct{})
	for range 3 {
		go parkHere(release, done)
	}
	const fn = "settle_test.parkHere"
	settle.Eventually(t, time.Minute, func() error {
		if n := settle.ParkedIn(fn); n != 3 {
			return fmt.Errorf("%d goroutines parked in %s, want 3", n, fn)
		}
		return nil
	})
	if !settle.BlockedIn(fn) {
		t.Errorf("BlockedIn(%q) = false with 3 parked", fn)
	}
	if settle.BlockedIn("settle_test.nowhere") {
		t.Error("BlockedIn found a function no goroutine runs")
	}
	close(release)
	for range 3 {
		<-done
	}
	if n := settle.ParkedIn(fn); n != 0 {
		t.Errorf("ParkedIn after release = %d, want 0", n)
	}
}

// fatalRecorder records the failure Eventually reports.
type fatalRecorder struct{ msg string }

func (*fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
}

// TestEventually returns at the first nil from check, and fails with the
// last error once the bound has passed.
func TestEventually(t *testing.T) {
	calls := 0
	var r fatalRecorder
	settle.Eventually(&r, time.Minute, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 || r.msg != "" {
		t.Errorf("Eventually: %d calls, failure %q; want 3 calls and none", calls, r.msg)
	}

	// Fatalf is a recorder here and returns, so the loop would go on: the
	// check ends it by succeeding once the failure is recorded.
	settle.Eventually(&r, time.Millisecond, func() error {
		if r.msg != "" {
			return nil
		}
		return errors.New("never")
	})
	if want := "never, after 1ms"; r.msg != want {
		t.Errorf("failure %q, want %q", r.msg, want)
	}
}
