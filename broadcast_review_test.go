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
	for _, h := range hostings {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error {
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
							var v int
							done <- sub.Receive(ctx, &v)
						}()
						time.Sleep(20 * time.Millisecond) // sub is pulling
						t0 := time.Now()
						s.Close()
						if d := time.Since(t0); d > 2*time.Second {
							t.Errorf("round %d: Close took %v; the acknowledgement came at once", i, d)
						}
						select {
						case err := <-done:
							if !errors.Is(err, tractor.ErrContextCancelled) {
								t.Errorf("round %d: Receive = %v; want ErrContextCancelled", i, err)
							}
						case <-time.After(5 * time.Second):
							t.Fatalf("round %d: Receive still blocked after the stream's Close", i)
						}
					}
					return nil
				})
			}, tractor.CancelTimeout(5*time.Second))
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
	for _, h := range hostings {
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
					var v int
					done <- a.Receive(ctx, &v)
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
