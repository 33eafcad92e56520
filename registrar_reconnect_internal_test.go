package tractor

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// TestRegistrarReconnectBackoff: after the connection to a registrar is
// lost, attempts to reach it again come after 50 ms, then after pauses
// that double up to reconnectBackoff, and stop at the first success or
// at once when the process ends. Time is the bubble's: the pauses are
// exact, and the minute of retries costs no real time.
func TestRegistrarReconnectBackoff(t *testing.T) {
	errDown := errors.New("registrar down")
	ms := time.Millisecond
	t.Run("until it succeeds", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			var at []time.Duration
			reconnect(context.Background(), func(context.Context) error {
				if at = append(at, time.Since(start)); len(at) < 10 {
					return errDown
				}
				return nil
			})
			var pauses []time.Duration
			for i, a := range at {
				if i == 0 {
					pauses = append(pauses, a)
				} else {
					pauses = append(pauses, a-at[i-1])
				}
			}
			want := []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, reconnectBackoff, reconnectBackoff, reconnectBackoff}
			if !slices.Equal(pauses, want) || time.Since(start) != at[len(at)-1] {
				t.Fatalf("attempts after pauses %v, returned after %v; want pauses %v and a return at the success", pauses, time.Since(start), want)
			}
		})
	})
	t.Run("until the process ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			const end = 10 * time.Second // between the attempts at 6.35 s and 11.35 s
			stop := time.AfterFunc(end, cancel)
			defer stop.Stop()
			start := time.Now()
			tries := 0
			reconnect(ctx, func(ctx context.Context) error {
				tries++
				return errDown
			})
			// Attempts at 50, 150, 350, 750, 1550, 3150, 6350 ms: seven.
			if took := time.Since(start); took != end || tries != 7 || !errors.Is(ctx.Err(), context.Canceled) {
				t.Fatalf("reconnect returned after %v and %d attempts, want at the cancel, %v, after 7", took, tries, end)
			}
		})
	})
}
