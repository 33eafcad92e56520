package debuglock

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tractor-go/tractor"
)

// The caller's side of the lock's bounds, tested in virtual time: each
// test runs a tree of goroutine actors inside a testing/synctest bubble
// (such a tree opens no socket), where the clock advances only once every
// goroutine of the bubble is blocked, so a bound ends exactly when it is
// due, in microseconds of real time. No terminal is involved: the timing
// does not depend on one (the prompts are tested over a pty in
// debuglock_test.go, with process actors, which cannot run in a bubble).

var (
	// holdFor takes the terminal in its actor, says so with Started,
	// holds it for its argument (virtual time), whatever its ctx, and
	// releases it.
	holdFor = tractor.Ctx("debuglock.test.holdFor", func(c *tractor.Context, d time.Duration) (bool, error) {
		lease, err := Acquire(c)
		if err != nil {
			return false, err
		}
		defer lease.Release()
		if err := c.Started(0); err != nil {
			return false, err
		}
		<-time.After(d) // the bubble's clock: the holder holds the lock for d
		return true, nil
	})
	// lateAcquire is a lock endpoint that grants the terminal, sees it
	// released, and then does not confirm the release until its dialog
	// is cancelled: a root that has stopped answering.
	lateAcquire = tractor.Ctx("debuglock.test.lateAcquire", func(c *tractor.Context, _ request) (bool, error) {
		if err := c.Started(grant{}); err != nil {
			return false, err
		}
		st, err := tractor.OpenStream[struct{}, int](c)
		if err != nil {
			return false, err
		}
		_, _ = st.Receive(c)
		<-c.Done()
		return false, c.Err()
	})
	// idle serves nothing: a child to cancel.
	idle = tractor.Func("debuglock.test.idle", func(context.Context, int) (int, error) { return 0, nil })
)

// lockTree runs body inside a bubble, in a root that serves the lock
// with opts, and a child "holder" that can take it (see holdFor).
func lockTree(t *testing.T, body func(ctx context.Context, holder *tractor.Portal), opts ...Option) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		runOpts := append(Enable(opts...), tractor.Expose(lateAcquire), tractor.LogHandler(slog.DiscardHandler))
		err := tractor.Run(t.Context(), func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				defer n.Cancel()
				holder, err := n.StartActor(ctx, "holder", tractor.Expose(holdFor))
				if err != nil {
					return err
				}
				body(ctx, holder)
				return nil
			})
		}, runOpts...)
		if err != nil {
			t.Error(err)
		}
	})
}

// held has the holder take the terminal for d, and returns once it has
// it, with a function that waits for the holder to release it.
func held(ctx context.Context, t *testing.T, holder *tractor.Portal, d time.Duration) (released func()) {
	t.Helper()
	c, err := holdFor.Open(ctx, holder, d)
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		if ok, err := holdFor.Result(ctx, c); err != nil || !ok {
			t.Errorf("the holder: %v, %v", ok, err)
		}
	}
}

// holdings are how long the holder keeps the terminal in the tests, and
// the bound they run with: released within it, and held past it.
var holdings = []holding{
	{"released within the default bound", 3 * time.Second, 0, 3 * time.Second, false},
	{"released within WaitBound", 3 * time.Second, time.Minute, 3 * time.Second, false},
	{"held past the default bound", time.Hour, 0, DefaultWaitBound, true},
	{"held past WaitBound", time.Hour, time.Minute, time.Minute, true},
}

type holding struct {
	name      string
	hold      time.Duration // how long the holder keeps the terminal
	bound     time.Duration // WaitBound; 0 for the default
	waited    time.Duration // how long a wait for the terminal lasts
	boundEnds bool          // the wait ends by its bound
}

// opts returns the options that set h's bound.
func (h holding) opts() []Option {
	if h.bound == 0 {
		return nil
	}
	return []Option{WaitBound(h.bound)}
}

// TestVirtualWaitFreeInTree: waitFree, called in an actor that does not
// hold the terminal while another does, returns nil when the holder
// releases it, or its bound's DeadlineExceeded, exactly then; the actor
// that holds it does not wait for itself.
func TestVirtualWaitFreeInTree(t *testing.T) {
	for _, h := range holdings {
		t.Run(h.name, func(t *testing.T) {
			lockTree(t, func(ctx context.Context, holder *tractor.Portal) {
				released := held(ctx, t, holder, h.hold)
				defer released()
				bound := cmp.Or(h.bound, DefaultWaitBound)
				start := time.Now()
				waited, err := waitFree(ctx, bound)
				if took := time.Since(start); took != h.waited || waited == h.boundEnds {
					t.Errorf("waitFree returned after %v, waited=%v; want after %v, waited=%v", took, waited, h.waited, !h.boundEnds)
				}
				if h.boundEnds && !errors.Is(err, context.DeadlineExceeded) || !h.boundEnds && err != nil {
					t.Errorf("waitFree: %v, want DeadlineExceeded: %v", err, h.boundEnds)
				}
			})
		})
	}
}

// TestVirtualBeforeCancelWaits: a nursery cancelling a child first waits
// for the terminal, through Enable's BeforeCancel hook, until it is
// released or WaitBound ends, exactly; a nursery whose own actor holds the
// terminal does not wait.
func TestVirtualBeforeCancelWaits(t *testing.T) {
	for _, h := range holdings {
		t.Run(h.name, func(t *testing.T) {
			lockTree(t, func(ctx context.Context, holder *tractor.Portal) {
				released := held(ctx, t, holder, h.hold)
				defer released()
				start := time.Now()
				err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					_, err := n.StartActor(ctx, "child", tractor.Expose(idle))
					n.Cancel()
					return err
				})
				if took := time.Since(start); took != h.waited {
					t.Errorf("the nursery cancelled its child after %v, want %v", took, h.waited)
				}
				if err != nil {
					t.Errorf("the nursery: %v", err)
				}
			}, h.opts()...)
		})
	}
	t.Run("the nursery's actor holds it", func(t *testing.T) {
		lockTree(t, func(ctx context.Context, _ *tractor.Portal) {
			lease, err := Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer lease.Release()
			start := time.Now()
			err = tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				_, err := n.StartActor(ctx, "child", tractor.Expose(idle))
				n.Cancel()
				return err
			})
			if took := time.Since(start); took != 0 || err != nil {
				t.Errorf("the nursery returned %v after %v, want nil at once", err, took)
			}
		})
	})
}

// TestVirtualReleaseWait: Release returns once the root confirms the
// release, at once, and the next waiter has the terminal then; a root
// that does not confirm holds Release for releaseWait, exactly.
func TestVirtualReleaseWait(t *testing.T) {
	t.Run("confirmed", func(t *testing.T) {
		lockTree(t, func(ctx context.Context, holder *tractor.Portal) {
			lease, err := Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			granted := make(chan time.Time, 1)
			var next sync.WaitGroup
			// The tree ends after the next waiter's turn, not during it.
			defer next.Wait()
			next.Go(func() {
				c, err := holdFor.Open(ctx, holder, 0)
				granted <- time.Now()
				if err == nil {
					_, err = holdFor.Result(ctx, c)
				}
				if err != nil {
					t.Errorf("the next waiter: %v", err)
				}
			})
			<-time.After(time.Second) // the bubble's clock: the holder queues
			start := time.Now()
			lease.Release()
			if took := time.Since(start); took != 0 {
				t.Errorf("Release took %v, want no time", took)
			}
			if got := (<-granted).Sub(start); got != 0 {
				t.Errorf("the next waiter got the terminal %v after the release, want at once", got)
			}
		})
	})
	t.Run("unconfirmed", func(t *testing.T) {
		lockTree(t, func(ctx context.Context, _ *tractor.Portal) {
			lease, err := acquire(ctx, lateAcquire)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			lease.Release()
			if took, want := time.Since(start), 5*time.Second; took != want {
				t.Errorf("Release took %v with a root that does not confirm, want releaseWait, %v", took, want)
			}
		})
	})
}
