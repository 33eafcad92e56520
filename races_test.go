package tractor_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// testSendRacingClose: a Send that returned nil is delivered even when a
// concurrent Close sends the stop (the stop never overtakes it).
func testSendRacingClose(t *testing.T, h hosting) {
	withWorker(t, h, eps(countRecv), func(ctx context.Context, p *tractor.Portal) {
		for round := range 100 {
			c, err := countRecv.Open(ctx, p, struct{}{})
			if err != nil {
				t.Fatal(err)
			}
			s, _ := tractor.OpenStream[int, int](c)
			var sent atomic.Int64
			var wg sync.WaitGroup
			wg.Go(func() {
				for s.Send(ctx, 1) == nil {
					sent.Add(1)
				}
			})
			// Close races a sender that is under way, after a few items
			// (0 to 7: the round's own number of them).
			for sent.Load() < int64(round%8) {
				runtime.Gosched()
			}
			s.Close()
			wg.Wait()
			got, err := countRecv.Result(ctx, c)
			if err != nil || int64(got) != sent.Load() {
				t.Fatalf("Send returned nil %d times, peer received %d (%v)", sent.Load(), got, err)
			}
		}
	})
}

// testConcurrentReceivers: every receiver of a stream sees its end.
func testConcurrentReceivers(t *testing.T, h hosting) {
	withWorker(t, h, eps(count), func(ctx context.Context, p *tractor.Portal) {
		s, err := count.Open(ctx, p, 100)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var items atomic.Int64
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				for {
					_, err := s.Receive(ctx)
					if err == io.EOF {
						return
					}
					if err != nil {
						t.Errorf("receive: %v", err)
						return
					}
					items.Add(1)
				}
			})
		}
		wg.Wait()
		if items.Load() != 100 {
			t.Errorf("receivers got %d items together, want 100", items.Load())
		}
	})
}

// testConcurrentSendersWoken: when the callee returns, every sender
// blocked on credit returns too.
func testConcurrentSendersWoken(t *testing.T, h hosting) {
	withWorker(t, h, eps(quitEarly), func(ctx context.Context, p *tractor.Portal) {
		c, err := quitEarly.Open(ctx, p, struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := tractor.OpenStream[int, int](c)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for {
					if err := s.Send(ctx, 1); err != nil {
						if !errors.Is(err, tractor.ErrStreamClosed) {
							t.Errorf("send: %v, want ErrStreamClosed", err)
						}
						return
					}
				}
			})
		}
		wg.Wait()
		if n, err := quitEarly.Result(ctx, c); err != nil || n != 7 {
			t.Errorf("result %d, %v", n, err)
		}
	})
}

// testCancelRacingOpen: a dialog whose ctx ends while it opens never leaves
// a remote task behind.
func testCancelRacingOpen(t *testing.T, h hosting) {
	withWorker(t, h, eps(sleepForever, seen), func(ctx context.Context, p *tractor.Portal) {
		const n = 200
		for i := range n {
			octx, cancel := context.WithCancel(ctx)
			if i%2 == 0 {
				go cancel()
			} else {
				time.AfterFunc(time.Duration(i%7)*10*time.Microsecond, cancel)
			}
			_, _ = sleepForever.Call(octx, p, struct{}{})
			cancel()
		}
		eventually(t, hangBound, "every started task cancelled", func() bool {
			return seenIn(ctx, t, p, "sleep.start") == seenIn(ctx, t, p, "sleep.cancelled")
		})
	})
}

// testRealErrorDuringCancel: a child that fails for real while being
// cancelled is reported beside the failure that caused the cancellation.
func testRealErrorDuringCancel(t *testing.T, h hosting) {
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			if _, err := n.RunInActor(ctx, "cleaner", cleaner.Bind(struct{}{})); err != nil {
				return err
			}
			_, err := n.RunInActor(ctx, "failer", failAfter.Bind(20*time.Millisecond))
			return err
		})
	})
	var names []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		names = append(names, asRemote(t, e).Actor.Name)
	}
	if len(names) != 2 {
		t.Fatalf("nursery errors from %v (%v), want failer and cleaner", names, err)
	}
}

// testSelfCancelOutcome: a caller whose own cancellation races an
// actor-wide cancel by the same actor always gets the bare outcome.
func testSelfCancelOutcome(t *testing.T, h hosting) {
	for range 10 {
		err := run(t, h, func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				p, err := n.StartActor(ctx, "target", tractor.Expose(sleeper))
				if err != nil {
					return err
				}
				c, err := sleeper.Open(n.Context(), p, struct{}{})
				if err != nil {
					return err
				}
				n.Cancel()
				if _, err := sleeper.Result(context.Background(), c); err != tractor.ErrContextCancelled {
					t.Errorf("outcome %v, want ErrContextCancelled itself", err)
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// testResultWithOpenCtx: Result under the ctx given to Open, after it
// ended, still reports the acknowledged outcome.
func testResultWithOpenCtx(t *testing.T, h hosting) {
	withWorker(t, h, eps(sleeper), func(ctx context.Context, p *tractor.Portal) {
		octx, cancel := context.WithCancel(ctx)
		c, err := sleeper.Open(octx, p, struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := sleeper.Result(octx, c); err != tractor.ErrContextCancelled {
			t.Errorf("outcome %v, want ErrContextCancelled", err)
		}
	})
}

// testAnyPayload: an endpoint typed any receives the value, not an
// encoding of it.
func testAnyPayload(t *testing.T, h hosting) {
	withWorker(t, h, eps(echoAny), func(ctx context.Context, p *tractor.Portal) {
		got, err := echoAny.Call(ctx, p, "hello")
		if err != nil || got != "hello" {
			t.Errorf("echoAny(\"hello\") = %#v, %v", got, err)
		}
	})
}

// testNoDialogLeaks: a dialog cancelled and never collected, or a stream
// read to its end and never closed, is not kept; Result closes the
// caller's sending side so a callee reading to EOF can return.
func testNoDialogLeaks(t *testing.T, h hosting) {
	withWorker(t, h, eps(sleeper, count, countRecv), func(ctx context.Context, p *tractor.Portal) {
		for range 20 {
			c, err := sleeper.Open(ctx, p, struct{}{})
			if err != nil {
				t.Fatal(err)
			}
			c.Cancel()
			s, err := count.Open(ctx, p, 2)
			if err != nil {
				t.Fatal(err)
			}
			for {
				if _, err := s.Receive(ctx); err != nil {
					break
				}
			}
		}
		eventually(t, hangBound, "no dialog left open", func() bool { return tractor.OpenDialogs(p) == 0 })

		c, err := countRecv.Open(ctx, p, struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := tractor.OpenStream[int, int](c)
		for range 3 {
			s.Send(ctx, 1)
		}
		rctx, cancel := context.WithTimeout(ctx, hangBound)
		defer cancel()
		if n, err := countRecv.Result(rctx, c); err != nil || n != 3 {
			t.Errorf("Result without Close: %d, %v; want 3", n, err)
		}
	})
}
