package tractor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// TestNurseryCancelSentPastItsTimeout: a nursery whose cancel requests are
// sent only after the cancel timeout has passed, as on a loaded machine
// where the sending goroutine runs late, still cancels its children and
// returns. The timeout bounds the wait for the acknowledgement; it never
// decides whether the request is sent.
func TestNurseryCancelSentPastItsTimeout(t *testing.T) {
	const timeout = 10 * time.Millisecond
	// The sending goroutine, descheduled for several cancel timeouts.
	defer tractor.SetCancelSendHook(func() { <-time.After(5 * timeout) })()
	for _, h := range hostings {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error {
					for i := range 3 {
						if _, err := n.StartActor(ctx, fmt.Sprintf("daemon-%d", i)); err != nil {
							return err
						}
					}
					n.Cancel()
					return nil
				}, tractor.CancelTimeout(timeout))
			})
			if err != nil {
				t.Fatalf("nursery cancelled with late cancel requests: %v", err)
			}
		})
	}
}

// TestNurseryTinyCancelTimeout: a cancel timeout too short for any send to
// start before it expires still cancels every child, and the nursery
// returns without spinning.
func TestNurseryTinyCancelTimeout(t *testing.T) {
	err := run(t, goroutines, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error {
			for i := range 50 {
				if _, err := n.StartActor(ctx, fmt.Sprintf("daemon-%d", i)); err != nil {
					return err
				}
			}
			n.Cancel()
			return nil
		}, tractor.CancelTimeout(time.Nanosecond))
	})
	if err != nil {
		t.Fatalf("nursery with a 1ns cancel timeout: %v", err)
	}
}
