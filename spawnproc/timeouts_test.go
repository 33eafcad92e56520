package spawnproc

import (
	"errors"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// fakeProc is a Proc with no process behind it, for the ladder's timing in
// a synctest bubble (a real process cannot live in one: its exit is not
// an event of the bubble). A SIGTERM ends it after termExit, unless
// termExit is negative (it ignores SIGTERM); a SIGKILL ends it at once.
// It records when each signal was sent, since it was made.
type fakeProc struct {
	*Proc
	start time.Time
	sent  []time.Duration
	once  sync.Once
}

var errKilled = errors.New("signal: killed")

func newFakeProc(termExit time.Duration) *fakeProc {
	f := &fakeProc{Proc: &Proc{done: make(chan struct{})}, start: time.Now()}
	f.send = func(sig os.Signal) error {
		f.sent = append(f.sent, time.Since(f.start))
		switch {
		case sig == syscall.SIGKILL:
			time.AfterFunc(0, f.exit) // reaped in a goroutine, as Start's are
		case sig == syscall.SIGTERM && termExit >= 0:
			time.AfterFunc(termExit, f.exit)
		}
		return nil
	}
	return f
}

// exit ends the process, once: the first signal to take effect kills it.
func (f *fakeProc) exit() {
	f.once.Do(func() {
		f.err = errKilled
		close(f.done)
	})
}

// TestTerminateLadder: Terminate sends SIGTERM, waits up to grace for the
// process to end, then sends SIGKILL, and returns once the process is
// reaped; a process already reaped gets no signal. Time is the bubble's:
// the waits are exact, and cost no real time.
func TestTerminateLadder(t *testing.T) {
	const grace = 1600 * time.Millisecond
	term, kill := os.Signal(syscall.SIGTERM), os.Signal(syscall.SIGKILL)
	for _, tc := range []struct {
		name     string
		termExit time.Duration // see newFakeProc
		reaped   bool          // the process was reaped before Terminate
		signals  []os.Signal
		at       []time.Duration // when each was sent
		took     time.Duration
	}{
		{"ends on SIGTERM within the grace", 300 * time.Millisecond, false, []os.Signal{term}, []time.Duration{0}, 300 * time.Millisecond},
		{"ignores SIGTERM", -1, false, []os.Signal{term, kill}, []time.Duration{0, grace}, grace},
		{"ends on SIGTERM just too late", grace + time.Millisecond, false, []os.Signal{term, kill}, []time.Duration{0, grace}, grace},
		{"already reaped", -1, true, nil, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeProc(tc.termExit)
				if tc.reaped {
					f.exit()
				}
				f.Terminate(grace)
				took := time.Since(f.start)
				if !slices.Equal(f.Signals(), tc.signals) || !slices.Equal(f.sent, tc.at) || took != tc.took {
					t.Fatalf("Terminate sent %v at %v and returned after %v; want %v at %v and a return after %v",
						f.Signals(), f.sent, took, tc.signals, tc.at, tc.took)
				}
				if !errors.Is(f.ExitErr(), errKilled) {
					t.Fatalf("ExitErr after Terminate = %v, want the process's end", f.ExitErr())
				}
			})
		})
	}
}
