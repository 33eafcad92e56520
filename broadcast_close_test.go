package tractor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// quiet yields nothing: it waits to be cancelled.
var quiet = tractor.Stream("test.quiet", func(ctx context.Context, _ struct{}, yield func(int) error) error {
	<-ctx.Done()
	return ctx.Err()
})

// TestStreamCloseWhileReceiving: closing the receiving end of a one-way
// stream while a Receive (here a subscriber's) waits on it ends both at
// once: the Receive that takes the generator's acknowledgement must not
// leave Close waiting out its bound for it.
func TestStreamCloseWhileReceiving(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "worker", tractor.Expose(quiet))
					if err != nil {
						return err
					}
					defer p.CancelActor(ctx)
					for i := range 10 {
						s, err := quiet.Open(ctx, p, struct{}{})
						if err != nil {
							return err
						}
						sub, err := s.Subscribe(0)
						if err != nil {
							return err
						}
						done := make(chan error, 1)
						go func() {
							_, err := sub.Receive(ctx)
							done <- err
						}()
						waitBlocked(t, "tractor.(*Subscription[...]).Receive") // sub is pulling
						// The bound is a minute: a Close that waits it out
						// is caught long before, without measuring time.
						closed := make(chan struct{})
						go func() {
							defer close(closed)
							s.Close()
						}()
						select {
						case <-closed:
						case <-time.After(hangBound):
							t.Fatalf("round %d: Close still waiting after %v; the acknowledgement came at once", i, hangBound)
						}
						select {
						case err := <-done:
							if !errors.Is(err, tractor.ErrContextCancelled) {
								t.Errorf("round %d: Receive = %v; want ErrContextCancelled", i, err)
							}
						case <-time.After(hangBound):
							t.Fatalf("round %d: Receive still blocked after the stream's Close", i)
						}
					}
					return nil
				})
			}, tractor.CancelTimeout(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSubscriptionCloseWhilePulling: a Subscription closed while its own
// Receive pulls the stream for everyone ends that Receive with
// ErrStreamClosed, and another subscriber takes over the pull.
func TestSubscriptionCloseWhilePulling(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(quiet, count), func(ctx context.Context, p *tractor.Portal) {
				s, err := quiet.Open(ctx, p, struct{}{})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				a, _ := s.Subscribe(0)
				b, _ := s.Subscribe(0)
				defer b.Close()
				done := make(chan error, 1)
				go func() {
					_, err := a.Receive(ctx)
					done <- err
				}()
				waitBlocked(t, "tractor.(*Subscription[...]).Receive") // a is pulling
				a.Close()
				select {
				case err := <-done:
					if !errors.Is(err, tractor.ErrStreamClosed) {
						t.Fatalf("Receive = %v; want ErrStreamClosed", err)
					}
				case <-time.After(hangBound):
					t.Fatal("Receive of a closed subscription still blocked")
				}
			})
		})
	}
}
