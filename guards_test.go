package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tractor-go/tractor"
)

// errorPanics is an error whose Error method panics.
type errorPanics struct{}

func (errorPanics) Error() string { panic("Error method exploded") }

var (
	guardsBadError = tractor.Func("guards.badError", func(ctx context.Context, _ int) (int, error) {
		return 0, errorPanics{}
	})
	guardsEcho = tractor.Func("guards.echo", func(ctx context.Context, v int) (int, error) { return v, nil })
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

// TestErrorMethodPanics: a task that returns an error whose Error method
// panics fails with a panic *RemoteError (matching ErrPanic) naming it;
// the actor goes on serving and its sibling is unaffected, in-process
// (with debug logs, which print the error too) and in a child process.
func TestErrorMethodPanics(t *testing.T) {
	for _, h := range hostings {
		t.Run(h.name, func(t *testing.T) {
			var opts []tractor.Option
			if h.name == goroutines.name {
				opts = append(opts, tractor.LogLevel(zerolog.DebugLevel), tractor.LogOutput(io.Discard))
			}
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error {
					worker, err := n.StartActor(ctx, "worker", tractor.Expose(guardsBadError, guardsEcho))
					if err != nil {
						return err
					}
					sibling, err := n.StartActor(ctx, "sibling", tractor.Expose(guardsEcho))
					if err != nil {
						return err
					}
					_, err = guardsBadError.Call(ctx, worker, 0)
					re := asRemote(t, err)
					if !errors.Is(err, tractor.ErrPanic) || re.Type != "panic" || !strings.Contains(re.Message, "Error method exploded") {
						t.Errorf("call: %v (type %q), want a panic RemoteError matching ErrPanic", err, re.Type)
					}
					for _, p := range []*tractor.Portal{worker, sibling} {
						if v, err := guardsEcho.Call(ctx, p, 7); err != nil || v != 7 {
							t.Errorf("echo in %s after the panic: %v, %v", p.Actor(), v, err)
						}
					}
					n.Cancel()
					return nil
				})
			}, opts...)
			if err != nil {
				t.Fatalf("tree: %v", err)
			}
			// A one-shot actor failing so fails its nursery with that panic.
			err = run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error {
					_, err := n.RunInActor(ctx, "oneshot", guardsBadError.Bind(0))
					return err
				})
			}, opts...)
			if !errors.Is(err, tractor.ErrPanic) {
				t.Fatalf("nursery of the one-shot: %v, want ErrPanic", err)
			}
		})
	}
}
