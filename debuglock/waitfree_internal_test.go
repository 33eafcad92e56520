package debuglock

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tractor-go/tractor"
)

// TestWaitFreeWaitsForTheQueue: an asker that holds the terminal waits,
// before its nursery cancels a child, for every other actor queued for
// the terminal to have had its turn (the asker's quit must not take the
// prompt of a child queued behind it), and stops waiting for a waiter
// that leaves the queue unserved. Time is the bubble's.
func TestWaitFreeWaitsForTheQueue(t *testing.T) {
	const root, bound = "root-uid", 10 * time.Minute
	a, c := tractor.ActorID{Name: "a", UID: "a-uid"}, tractor.ActorID{Name: "c", UID: "c-uid"}
	wait := func(s *server, by tractor.ActorID) (error, time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), bound)
		defer cancel()
		start := time.Now()
		err := s.waitFree(ctx, root, by)
		return err, time.Since(start)
	}
	newServer := func() *server { return &server{locks: make(map[string]*treeLock)} }

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
