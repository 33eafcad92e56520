package pubsub_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// TestCloseWhilePulling: a subscription closed while its own Receive pulls
// the shared dialog for the actor's other subscriptions ends that Receive
// with ErrStreamClosed, however quiet the publisher.
func TestCloseWhilePulling(t *testing.T) {
	for _, h := range hostings {
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
				time.Sleep(50 * time.Millisecond) // a is pulling
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
