package pubsub_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/pubsub"
)

// Close's bounds, tested in virtual time: each test runs a tree of
// goroutine actors inside a testing/synctest bubble (such a tree opens no
// socket), where the clock advances only once every goroutine of the
// bubble is blocked, so a bound ends exactly when it is due, in
// microseconds of real time. The process hostings cannot run in a bubble
// (a child process and the sockets to it are outside it); the bounds do
// not depend on the hosting.

// closeTimeout is how long Close waits for the publisher, pubsub's default.
const closeTimeout = 5 * time.Second

// stubbornGate holds the gate of the stubborn producer: made inside the
// bubble, as a goroutine blocked on a channel made outside it is not
// durably blocked and would stop the clock.
var stubbornGate atomic.Pointer[producerGate]

type producerGate struct {
	release chan struct{}
	ended   chan error // the producer's ctx's error when it was released
}

// stubborn publishes nothing and ignores its ctx until the test opens its
// gate: a publisher whose task outlives its last subscriber's Close.
var stubborn = pubsub.Publish("test.stubborn", func(ctx context.Context, f *pubsub.Feed[int]) error {
	g := stubbornGate.Load()
	<-g.release
	g.ended <- ctx.Err()
	return nil
})

// pubInBubble runs body inside a bubble, in a root with an actor "pub"
// that serves stubborn, other and watcher, on goroutines.
func pubInBubble(t *testing.T, body func(ctx context.Context, pub *tractor.Portal)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		err := tractor.Run(t.Context(), func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				defer n.Cancel()
				pub, err := n.StartActor(ctx, "pub", tractor.Expose(stubborn.Endpoint(), other.Endpoint(), watcher.Endpoint()))
				if err != nil {
					return err
				}
				body(ctx, pub)
				return nil
			})
		}, tractor.LogHandler(slog.DiscardHandler))
		if err != nil {
			t.Error(err)
		}
	})
}

// closed closes sub and returns how long Close took.
func closed[T any](sub *pubsub.Subscription[T]) time.Duration {
	start := time.Now()
	sub.Close()
	return time.Since(start)
}

// TestVirtualCloseWaitsForPublisher: the last subscription of an actor
// waits in Close for the publisher's task to end: not at all for a
// producer that returns when told, and, for one that ignores its ctx,
// closeTimeout and then the cancel timeout, for the publisher's task is
// then cancelled and does not acknowledge (it waits for its producer). The
// producer was told: its ctx ended, cancelled.
func TestVirtualCloseWaitsForPublisher(t *testing.T) {
	t.Run("producer returns", func(t *testing.T) {
		pubInBubble(t, func(ctx context.Context, pub *tractor.Portal) {
			sub, err := other.Subscribe(ctx, pub, []string{"a"})
			if err != nil {
				t.Fatal(err)
			}
			if took := closed(sub); took != 0 {
				t.Errorf("Close took %v with a producer that returns when told, want no time", took)
			}
		})
	})
	t.Run("producer ignores its ctx", func(t *testing.T) {
		pubInBubble(t, func(ctx context.Context, pub *tractor.Portal) {
			g := &producerGate{release: make(chan struct{}), ended: make(chan error, 1)}
			stubbornGate.Store(g)
			sub, err := stubborn.Subscribe(ctx, pub, []string{"a"})
			if err != nil {
				close(g.release)
				t.Fatal(err)
			}
			took := closed(sub)
			close(g.release)
			const cancelTimeout = 500 * time.Millisecond // tractor's default
			if want := closeTimeout + cancelTimeout; took != want {
				t.Errorf("Close took %v with a producer that ignores its ctx, want closeTimeout and the cancel timeout, %v", took, want)
			}
			if err := <-g.ended; !errors.Is(err, context.Canceled) {
				t.Errorf("the producer's ctx: %v, want context.Canceled", err)
			}
		})
	})
}

// TestVirtualCloseLeaveBound: a Close that is not the actor's last tells
// the publisher the topics left and waits for that update at most
// closeTimeout; the update held back goes out afterwards all the same.
func TestVirtualCloseLeaveBound(t *testing.T) {
	for _, held := range []bool{false, true} {
		name := map[bool]string{false: "sent at once", true: "held"}[held]
		t.Run(name, func(t *testing.T) {
			pubInBubble(t, func(ctx context.Context, pub *tractor.Portal) {
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
				want, release := time.Duration(0), func() {}
				if held {
					want = closeTimeout
					sendable := make(chan struct{})
					// Removed once the update is seen: the sending
					// goroutine has read it then.
					defer pubsub.SetTopicsSendHook(func() { <-sendable })()
					release = func() { close(sendable) }
				}
				took := closed(x)
				release()
				if took != want {
					t.Errorf("Close took %v, want %v", took, want)
				}
				told("topics")
			})
		})
	}
}

// awaitTold receives from w, a subscription to watcher's topic "topics",
// until the producer has been told want.
func awaitTold(ctx context.Context, t *testing.T, w *pubsub.Subscription[string], want string) {
	t.Helper()
	for {
		m, err := w.Receive(ctx)
		if err != nil {
			t.Fatalf("waiting for the producer to be told %q: %v", want, err)
		}
		if m.Value == want {
			return
		}
	}
}
