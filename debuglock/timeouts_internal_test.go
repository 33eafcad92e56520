package debuglock

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tractor-go/tractor"
)

// TestWaitFreeInVirtualTime: a nursery's wait for the terminal (the root's
// side of waitFree) ends when the lock is free, after the holder and
// every actor queued behind it released it; at once when the asker
// holds it and nobody waits behind it; when its bound ends. An asker
// that holds the terminal waits for the actors queued behind it to have
// had their turn (its quit must not take the prompt of a child queued
// behind it), and no longer for a waiter that leaves the queue unserved.
// Time is the bubble's: the waits are exact, and cost no real time. The
// lock server is driven directly here; tree_timeouts_internal_test.go
// times the callers' side over a tree of goroutine actors in a bubble.
func TestWaitFreeInVirtualTime(t *testing.T) {
	const root, bound = "root-uid", 10 * time.Minute
	a, b, c := tractor.ActorID{Name: "a", UID: "a-uid"}, tractor.ActorID{Name: "b", UID: "b-uid"}, tractor.ActorID{Name: "c", UID: "c-uid"}
	// wait runs waitFree as the BeforeCancel hook does, within bound, and
	// returns its error and how long it took; it says it waited when it
	// took time (the bubble's clock moves only while it is blocked).
	wait := func(s *server, by tractor.ActorID) (error, time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		start := time.Now()
		waited, err := s.waitFree(ctx, root, by)
		took := time.Since(start)
		if waited != (took > 0) {
			t.Errorf("waitFree said waited=%v after %v", waited, took)
		}
		return err, took
	}
	// releaseAt releases w after d of the bubble's time.
	releaseAt := func(s *server, w *waiter, d time.Duration) {
		time.AfterFunc(d, func() { s.release(root, w) })
	}
	newServer := func() *server { return &server{locks: make(map[string]*treeLock)} }

	t.Run("free", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			if err, took := wait(newServer(), b); err != nil || took != 0 {
				t.Fatalf("waitFree on a free lock returned %v after %v, want nil at once", err, took)
			}
		})
	})
	t.Run("the asker holds it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newServer()
			s.enqueue(root, request{ID: a})
			if err, took := wait(s, a); err != nil || took != 0 {
				t.Fatalf("waitFree by the holder returned %v after %v, want nil at once", err, took)
			}
		})
	})
	t.Run("holder and queue release it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newServer()
			wa := s.enqueue(root, request{ID: a})
			wc := s.enqueue(root, request{ID: c})
			releaseAt(s, wa, 3*time.Second)
			granted := make(chan time.Duration, 1)
			start := time.Now()
			go func() {
				<-wc.grant
				granted <- time.Since(start)
				releaseAt(s, wc, 2*time.Second) // c at its prompt for 2s
			}()
			err, took := wait(s, b)
			if got := <-granted; got != 3*time.Second {
				t.Fatalf("the waiter got the terminal after %v, want when the holder released it, 3s", got)
			}
			if err != nil || took != 5*time.Second {
				t.Fatalf("waitFree returned %v after %v, want nil after both released it, 5s", err, took)
			}
			if len(s.locks) != 0 {
				t.Fatalf("a free lock is still kept: %v", s.locks)
			}
		})
	})
	t.Run("held past the bound", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newServer()
			wa := s.enqueue(root, request{ID: a})
			defer s.release(root, wa)
			if err, took := wait(s, b); !errors.Is(err, context.DeadlineExceeded) || took != bound {
				t.Fatalf("waitFree returned %v after %v, want DeadlineExceeded after the bound, %v", err, took, bound)
			}
		})
	})
	t.Run("the asker holds it, another waits", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newServer()
			wa := s.enqueue(root, request{ID: a})
			wc := s.enqueue(root, request{ID: c})
			defer s.release(root, wc) // should waitFree return early
			defer s.release(root, wa)
			time.AfterFunc(3*time.Second, func() { s.release(root, wa) })
			go func() {
				<-wc.grant
				time.AfterFunc(2*time.Second, func() { s.release(root, wc) })
			}()
			if err, took := wait(s, a); err != nil || took != 5*time.Second {
				t.Fatalf("waitFree by the holder returned %v after %v, want nil once the waiter behind it had its turn, 5s", err, took)
			}
		})
	})
	t.Run("the waiter leaves the queue", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := newServer()
			wa := s.enqueue(root, request{ID: a})
			defer s.release(root, wa)
			wc := s.enqueue(root, request{ID: c})
			time.AfterFunc(time.Second, func() { s.release(root, wc) })
			if err, took := wait(s, a); err != nil || took != time.Second {
				t.Fatalf("waitFree by the holder returned %v after %v, want nil once the waiter left, 1s", err, took)
			}
		})
	})
}
