package tractor

import (
	"errors"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

// ladderProc is a process for processHost with nothing behind it, for the
// ladder's timing in a synctest bubble (a real process cannot live in
// one: its exit is not an event of the bubble). It exits by itself after
// exitAfter (if positive); Terminate ends it after the whole grace, as a
// process that ignores SIGTERM is ended by the SIGKILL that follows.
type ladderProc struct {
	done       chan struct{}
	err        error
	terminated []time.Duration // the grace of each Terminate
	at         []time.Time     // when each was called
}

var errSIGKILL = errors.New("signal: killed")

func newLadderProc(exitAfter time.Duration) *ladderProc {
	p := &ladderProc{done: make(chan struct{})}
	if exitAfter > 0 {
		time.AfterFunc(exitAfter, func() { close(p.done) })
	}
	return p
}

func (p *ladderProc) Pid() int              { return 1 << 30 }
func (p *ladderProc) Done() <-chan struct{} { return p.done }
func (p *ladderProc) Signals() []os.Signal  { return nil }

func (p *ladderProc) ExitErr() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

func (p *ladderProc) Terminate(grace time.Duration) {
	p.terminated = append(p.terminated, grace)
	p.at = append(p.at, time.Now())
	select {
	case <-p.done:
	case <-time.After(grace):
		p.err = errSIGKILL
		close(p.done)
	}
}

// TestProcessReapLadder: reaping a process child waits up to grace for it
// to exit by itself, then terminates it with hardKillAfter between
// SIGTERM and SIGKILL; a process that exits in time is not signalled.
// Time is the bubble's: the waits are exact, and cost no real time.
func TestProcessReapLadder(t *testing.T) {
	const grace = 3 * time.Second
	t.Run("exits in time", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := newLadderProc(grace - time.Millisecond)
			start := time.Now()
			err := processHost{proc: p}.reap(grace)
			if took := time.Since(start); err != nil || took != grace-time.Millisecond || len(p.terminated) != 0 {
				t.Fatalf("reap returned %v after %v, terminating %v; want nil after %v, no Terminate", err, took, p.terminated, grace-time.Millisecond)
			}
		})
	})
	t.Run("hangs", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := newLadderProc(0)
			start := time.Now()
			err := processHost{proc: p}.reap(grace)
			took := time.Since(start)
			if len(p.terminated) != 1 || p.terminated[0] != hardKillAfter || p.at[0].Sub(start) != grace {
				t.Fatalf("reap terminated with graces %v at %v, want once, with hardKillAfter (%v), after %v", p.terminated, p.at, hardKillAfter, grace)
			}
			if !errors.Is(err, errSIGKILL) || took != grace+hardKillAfter {
				t.Fatalf("reap returned %v after %v, want the kill after %v", err, took, grace+hardKillAfter)
			}
		})
	})
	t.Run("terminate passes its grace on", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := newLadderProc(0)
			processHost{proc: p}.terminate(grace)
			if len(p.terminated) != 1 || p.terminated[0] != grace || !errors.Is(p.ExitErr(), errSIGKILL) {
				t.Fatalf("terminate(%v) terminated with graces %v, exit %v", grace, p.terminated, p.ExitErr())
			}
		})
	})
}
