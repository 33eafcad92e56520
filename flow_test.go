package tractor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// TestFlowControl: a receiver that stops reading stalls only its own
// sender; other dialogs with the same actor go on; nothing is dropped.
func testFlowControl(t *testing.T, h hosting) {
	withWorker(t, h, eps(flood, count, square, seen), func(ctx context.Context, p *tractor.Portal) {
		const total = 5000
		stalled, err := flood.Open(ctx, p, total)
		if err != nil {
			t.Fatal(err)
		}
		defer stalled.Close()
		// The generator fills the window (1024 items), then waits for
		// credit: the count reaches the window and stays there (checked
		// again below, after the other dialogs).
		const window = 1024
		var sent int64
		eventually(t, hangBound, "generator fills the window", func() bool {
			sent = seenIn(ctx, t, p, "flood.sent")
			return sent >= window
		})
		if sent != window {
			t.Fatalf("generator sent %d of %d items to a receiver that reads none: no backpressure", sent, total)
		}

		// Another dialog with the same actor is not held up: these would
		// wait for the stalled one's credit, and the tree's bound catch it.
		for i := range 200 {
			if got, err := square.Call(ctx, p, i); err != nil || got != i*i {
				t.Fatalf("call %d during stall: %d, %v", i, got, err)
			}
		}
		other, err := count.Open(ctx, p, total)
		if err != nil {
			t.Fatal(err)
		}
		for i := range total {
			v, err := other.Receive(ctx)
			if err != nil || v != i {
				t.Fatalf("other stream item %d: %d, %v", i, v, err)
			}
		}
		other.Close()
		if now := seenIn(ctx, t, p, "flood.sent"); now != sent {
			t.Errorf("stalled generator advanced from %d to %d without credit", sent, now)
		}

		// Resume: every item arrives, in order.
		for i := range total {
			v, err := stalled.Receive(ctx)
			if err != nil || v != i {
				t.Fatalf("stalled stream item %d: %d, %v", i, v, err)
			}
		}
	})
}

// TestCloseWakesSendWaitingForCredit: a Send waiting for credit the peer
// will never grant returns ErrStreamClosed once its stream is closed,
// rather than waiting for its ctx.
func TestCloseWakesSendWaitingForCredit(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "deaf", tractor.Expose(sink), tractor.Window(1, 1<<20))
					if err != nil {
						return err
					}
					c, err := sink.Open(ctx, p, struct{}{}) // it never reads its stream
					if err != nil {
						return err
					}
					s, err := tractor.OpenStream[int, int](c)
					if err != nil {
						return err
					}
					if err := s.Send(ctx, 1); err != nil { // the window's one item
						return err
					}
					sent := make(chan error, 1)
					go func() { sent <- s.Send(ctx, 2) }()
					waitBlocked(t, "tractor.(*dialog).send")
					s.Close()
					select {
					case err := <-sent:
						if !errors.Is(err, tractor.ErrStreamClosed) {
							t.Errorf("the waiting Send: %v, want ErrStreamClosed", err)
						}
					case <-time.After(hangBound):
						t.Errorf("the waiting Send still waits %v after Close", hangBound)
					}
					c.Cancel()
					_, _ = sink.Result(ctx, c)
					return p.CancelActor(ctx)
				})
			})
			if err != nil {
				t.Fatalf("tree: %v", err)
			}
		})
	}
}
