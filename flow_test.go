package tractor_test

import (
	"context"
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
		// The generator fills the window, then waits for credit.
		var sent int64
		eventually(t, 2*time.Second, "generator fills the window", func() bool {
			sent = seenIn(ctx, t, p, "flood.sent")
			return sent > 0
		})
		time.Sleep(50 * time.Millisecond)
		sent = seenIn(ctx, t, p, "flood.sent")
		if sent >= total || sent > 1024 {
			t.Fatalf("generator sent %d of %d items to a receiver that reads none: no backpressure", sent, total)
		}

		// Another dialog with the same actor is not delayed.
		start := time.Now()
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
			var v int
			if err := other.Receive(ctx, &v); err != nil || v != i {
				t.Fatalf("other stream item %d: %d, %v", i, v, err)
			}
		}
		other.Close()
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("other dialogs took %v while one stream stalled", d)
		}
		if now := seenIn(ctx, t, p, "flood.sent"); now != sent {
			t.Errorf("stalled generator advanced from %d to %d without credit", sent, now)
		}

		// Resume: every item arrives, in order.
		for i := range total {
			var v int
			if err := stalled.Receive(ctx, &v); err != nil || v != i {
				t.Fatalf("stalled stream item %d: %d, %v", i, v, err)
			}
		}
	})
}
