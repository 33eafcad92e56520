package pubsub_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/pubsub"
	"github.com/tractor-go/tractor/tractortest"
)

// TestCloseWhilePulling: a subscription closed while its own Receive pulls
// the shared dialog for the actor's other subscriptions ends that Receive
// with ErrStreamClosed, however quiet the publisher.
func TestCloseWhilePulling(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withPub(t, h, func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
				a, err := other.Subscribe(ctx, pub, []string{"a"}) // other publishes nothing
				if err != nil {
					t.Fatal(err)
				}
				b, err := other.Subscribe(ctx, pub, []string{"a"})
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				done := make(chan error, 1)
				go func() {
					_, err := a.Receive(ctx)
					done <- err
				}()
				eventually(t, "a is pulling", func() bool { return tractortest.BlockedIn("pubsub.(*Subscription[...]).Receive") })
				a.Close()
				select {
				case err := <-done:
					if !errors.Is(err, tractor.ErrStreamClosed) {
						t.Fatalf("Receive = %v; want ErrStreamClosed", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Receive of a closed subscription still blocked")
				}
			})
		})
	}
}

// subscribeAndLeave subscribes to the ticker of the actor named by its
// argument, receives one message and returns without closing.
var subscribeAndLeave = tractor.Func("pubsubtest.subscribeAndLeave", func(ctx context.Context, pub string) (int, error) {
	p, err := tractor.FindActor(ctx, pub)
	if err != nil {
		return 0, err
	}
	sub, err := ticker.Subscribe(ctx, p, []string{"a"})
	if err != nil {
		return 0, err
	}
	m, err := sub.Receive(ctx)
	return m.Value, err
})

// TestSubscriberEndsWithoutClose: a subscribing actor that ends without
// closing its subscription leaves nothing behind: the publisher's task
// and producer end, and the shared dialog is forgotten in its process.
func TestSubscriberEndsWithoutClose(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withPub(t, h, func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
				before := ticker.Clients() // goroutine actors share this process's
				f, err := n.StartActor(ctx, "f", tractor.Expose(subscribeAndLeave))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := subscribeAndLeave.Call(ctx, f, "pub"); err != nil {
					t.Fatal(err)
				}
				if err := f.CancelActor(ctx); err != nil {
					t.Fatal(err)
				}
				eventually(t, "the producer stopped", func() bool { return countIn(ctx, t, pub, "stopped:test.ticker") == 1 })
				eventually(t, "the dialog forgotten", func() bool { return ticker.Clients() == before })
			})
		})
	}
}

// panicky's producer panics once it has a subscriber.
var panicky = pubsub.Publish("test.panicky", func(ctx context.Context, f *pubsub.Feed[int]) error {
	panic("producer blew up")
})

// TestProducerPanic: a producer's panic reaches every subscriber as a
// *RemoteError from the publishing actor that matches ErrPanic, as any
// actor task's panic does.
func TestProducerPanic(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withPub(t, h, func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
				for i := range 2 {
					// The producer may fail before the subscription is
					// in: Subscribe then returns its error.
					sub, err := panicky.Subscribe(ctx, pub, []string{"a"})
					if err == nil {
						defer sub.Close()
						_, err = sub.Receive(ctx)
					}
					var re *tractor.RemoteError
					if !errors.As(err, &re) || re.Actor != pub.Actor() || !errors.Is(err, tractor.ErrPanic) ||
						!strings.Contains(re.Message, "producer blew up") {
						t.Fatalf("subscriber %d ended with %v; want the producer's panic from pub", i, err)
					}
				}
			})
		})
	}
}

// TestLagPosition: values the publisher dropped for an actor whose
// subscriptions all stalled are reported to each subscription where they
// were lost: a subscription that still holds older values gets them first,
// and then the LaggedError, so that the next value after a LaggedError is
// always the last one before it plus the count plus one.
func TestLagPosition(t *testing.T) {
	withPub(t, hostings[0], func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
		// The first subscription sets the publisher's window for this
		// actor: 5 values, so a stall soon loses some there.
		a, err := ticker.Subscribe(ctx, pub, []string{"a"}, pubsub.Window(5))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := ticker.Subscribe(ctx, pub, []string{"a"}, pubsub.Window(100000))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		m, err := b.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		last := m.Value
		// Nobody pulls: the stream's window (1024) fills, then the
		// publisher drops for this actor.
		eventually(t, "the publisher dropped values for the stalled actor", func() bool {
			return countIn(ctx, t, pub, "lost:test.ticker") > 0
		})
		// a pulls for both, well past the stall.
		lagged := false
		for i := 0; !lagged || i < 100; i++ {
			if i > 10000 {
				t.Fatal("the publisher never dropped for a stalled actor")
			}
			_, err := a.Receive(ctx)
			if errors.Is(err, tractor.ErrLagged) {
				lagged = true
			} else if err != nil {
				t.Fatal(err)
			}
		}
		missed := 0
		for range 200 {
			m, err := b.Receive(ctx)
			var lag *tractor.LaggedError
			if errors.As(err, &lag) {
				missed += lag.Missed
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Value != last+missed+1 {
				t.Fatalf("after %d and %d lost, %d", last, missed, m.Value)
			}
			last, missed = m.Value, 0
		}
	})
}

// TestChurn: subscriptions of one actor opened, retargeted, received from
// and closed at once from many goroutines share and retire their dialogs
// without races, deadlocks or leaks.
func TestChurn(t *testing.T) {
	withPub(t, hostings[0], func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
		before := ticker.Clients()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 8 {
			wg.Go(func() {
				for i := range 30 {
					sub, err := ticker.Subscribe(ctx, pub, []string{"a"})
					if err != nil {
						errs <- err
						return
					}
					rctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
					for range 3 {
						if _, err := sub.Receive(rctx); err != nil && !errors.Is(err, tractor.ErrLagged) &&
							!errors.Is(err, context.DeadlineExceeded) {
							errs <- err
						}
					}
					cancel()
					if (g+i)%2 == 0 {
						if err := sub.SetTopics(ctx, "b", "c"); err != nil {
							errs <- err
						}
					}
					go sub.Receive(ctx) // may be pulling as it closes
					sub.Close()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		eventually(t, "every dialog forgotten", func() bool { return ticker.Clients() == before })
	})
}

// TestSubscribeAfterProducerReturned: once a producer has returned, a new
// subscription starts a new one, even while the actor's earlier
// subscriptions have not yet read to the end.
func TestSubscribeAfterProducerReturned(t *testing.T) {
	withPub(t, hostings[0], func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
		first, err := finite.Subscribe(ctx, pub, []string{"t"}, pubsub.Key("3"))
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		for range 3 {
			if _, err := first.Receive(ctx); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "the producer has returned, its task gone", func() bool { return !pubsub.Producing(finite, pub.Actor().UID, "3") })
		second, err := finite.Subscribe(ctx, pub, []string{"t"}, pubsub.Key("3"))
		if err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		m, err := second.Receive(ctx)
		if err != nil || m.Value != 0 {
			t.Fatalf("second subscription: %v, %v; want 0 from a new producer", m, err)
		}
	})
}

// TestJoinWhileDialogEnds: a subscription joining the actor's shared
// dialog after its producer has returned, while the dialog's task is
// still sending its last frames, is refused by the publisher and starts a
// new producer, instead of receiving the old one's end. The window is held
// open: the dialog task waits, once it has seen its producer return, until
// the publisher has judged the join.
func TestJoinWhileDialogEnds(t *testing.T) {
	withPub(t, hostings[0], func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
		paused, release := make(chan struct{}), make(chan struct{})
		var pauseOnce, releaseOnce sync.Once
		defer releaseOnce.Do(func() { close(release) })
		defer pubsub.SetProducerDoneHook(func() {
			pauseOnce.Do(func() { close(paused) })
			<-release
		})()
		judged := make(chan bool, 1)
		defer pubsub.SetJoinHook(func(accepted bool) {
			select {
			case judged <- accepted:
			default:
			}
		})()

		first, err := finite.Subscribe(ctx, pub, []string{"t"}, pubsub.Key("3"))
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		for i := range 3 {
			if m, err := first.Receive(ctx); err != nil || m.Value != i {
				t.Fatalf("first subscription, message %d: %v, %v", i, m, err)
			}
		}
		await(ctx, t, "the producer's return", paused)

		type result struct {
			sub *pubsub.Subscription[int]
			err error
		}
		joined := make(chan result, 1)
		go func() {
			sub, err := finite.Subscribe(ctx, pub, []string{"t"}, pubsub.Key("3"))
			joined <- result{sub, err}
		}()
		select {
		case <-judged:
		case <-ctx.Done():
			t.Fatal("the publisher never judged the join")
		}
		releaseOnce.Do(func() { close(release) })

		var r result
		select {
		case r = <-joined:
		case <-ctx.Done():
			t.Fatal("Subscribe did not return")
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		defer r.sub.Close()
		if m, err := r.sub.Receive(ctx); err != nil || m.Value != 0 {
			t.Fatalf("second subscription: %v, %v; want 0 from a new producer", m, err)
		}
		if _, err := first.Receive(ctx); err != io.EOF {
			t.Fatalf("first subscription after its producer returned: %v; want io.EOF", err)
		}
	})
}

// await waits for ch to close, or fails the test when ctx ends.
func await(ctx context.Context, t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("waiting for %s: %v", what, ctx.Err())
	}
}

// TestCloseSendsTopicsLate: the update that a Close (not the actor's last)
// sends its publisher is sent however late its goroutine runs, past the
// bound Close waits: the producer learns that the closed subscription's
// topics are no longer wanted.
func TestCloseSendsTopicsLate(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withPub(t, h, func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
				w, err := watcher.Subscribe(ctx, pub, []string{"topics"})
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				x, err := watcher.Subscribe(ctx, pub, []string{"x"})
				if err != nil {
					t.Fatal(err)
				}
				told := func(want string) { t.Helper(); awaitTold(ctx, t, w, want) }
				told("topics,x")

				// The update is held until Close has returned: Close can
				// return only by its bound, and the update must still go.
				const timeout = 20 * time.Millisecond
				defer pubsub.SetCloseTimeout(timeout)()
				sendable := make(chan struct{})
				defer pubsub.SetTopicsSendHook(func() { <-sendable })()
				closed := make(chan time.Duration, 1)
				start := time.Now()
				go func() { x.Close(); closed <- time.Since(start) }()
				select {
				case took := <-closed:
					close(sendable)
					if took < timeout {
						t.Fatalf("Close returned after %v, before its bound, %v, with the update unsent", took, timeout)
					}
				case <-time.After(testTimeout):
					close(sendable)
					t.Fatalf("Close waited %v for an update held back, beyond its bound, %v", testTimeout, timeout)
				}
				told("topics")
			})
		})
	}
}

// TestWaitsHonourCtx: a Subscribe or a SetTopics waiting for the shared
// dialog (another goroutine is opening, retargeting or closing it) gives
// up when its ctx ends.
func TestWaitsHonourCtx(t *testing.T) {
	withPub(t, hostings[0], func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
		sub, err := ticker.Subscribe(ctx, pub, []string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		release := pubsub.HoldSetup(sub)
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := ticker.Subscribe(wctx, pub, []string{"b"}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Subscribe = %v; want DeadlineExceeded", err)
		}
		if err := sub.SetTopics(wctx, "c"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("SetTopics = %v; want DeadlineExceeded", err)
		}
		release()
		other, err := ticker.Subscribe(ctx, pub, []string{"b"})
		if err != nil {
			t.Fatal(err)
		}
		other.Close()
	})
}
