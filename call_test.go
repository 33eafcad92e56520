package tractor_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

func testCall(t *testing.T, h hosting) {
	withWorker(t, h, eps(square, fail, boom, sleepForever, seen), func(ctx context.Context, p *tractor.Portal) {
		t.Run("returns its value", func(t *testing.T) {
			for _, x := range []int{0, 7, -3, 1 << 20} {
				got, err := square.Call(ctx, p, x)
				if err != nil || got != x*x {
					t.Fatalf("square(%d) = %d, %v; want %d", x, got, err, x*x)
				}
			}
		})
		t.Run("remote error names actor and type", func(t *testing.T) {
			_, err := fail.Call(ctx, p, "no luck")
			re := asRemote(t, err)
			if re.Actor != p.Actor() || re.Actor.Name != "worker" {
				t.Errorf("error from %v, want %v", re.Actor, p.Actor())
			}
			if re.Type != "*tractor_test.customError" {
				t.Errorf("type %q", re.Type)
			}
			if re.Message != "custom: no luck" {
				t.Errorf("message %q", re.Message)
			}
			if len(re.RelayPath) != 1 || re.RelayPath[0] != p.Actor() {
				t.Errorf("relay path %v", re.RelayPath)
			}
			if !strings.Contains(re.Error(), "worker") || !strings.Contains(re.Error(), "no luck") {
				t.Errorf("Error() = %q", re.Error())
			}
		})
		t.Run("panic becomes a RemoteError with its stack", func(t *testing.T) {
			_, err := boom.Call(ctx, p, "kaboom")
			re := asRemote(t, err)
			if re.Type != "panic" || !errors.Is(err, tractor.ErrPanic) {
				t.Errorf("type %q, Is(ErrPanic)=%v", re.Type, errors.Is(err, tractor.ErrPanic))
			}
			if !strings.Contains(re.Message, "kaboom") {
				t.Errorf("message %q", re.Message)
			}
			if !strings.Contains(re.Stack, "endpoints_test.go") {
				t.Errorf("stack does not show the panicking endpoint:\n%s", re.Stack)
			}
			// The actor survives its task's panic.
			if got, err := square.Call(ctx, p, 3); err != nil || got != 9 {
				t.Fatalf("after panic: %d, %v", got, err)
			}
		})
		t.Run("ctx cancel reaches the remote task", func(t *testing.T) {
			cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			_, err := sleepForever.Call(cctx, p, struct{}{})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want DeadlineExceeded", err)
			}
			// Call waited for the acknowledgement: the task has seen it.
			if n := seenIn(ctx, t, p, "sleep.cancelled"); n != 1 {
				t.Errorf("remote task saw %d cancellations, want 1", n)
			}
		})
		t.Run("many concurrent calls", func(t *testing.T) {
			errs := make(chan error, 100)
			for i := range 100 {
				go func() {
					got, err := square.Call(ctx, p, i)
					if err == nil && got != i*i {
						err = errors.New("wrong result")
					}
					errs <- err
				}()
			}
			for range 100 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		})
	})
}

func testPermission(t *testing.T, h hosting) {
	withWorker(t, h, eps(square), func(ctx context.Context, p *tractor.Portal) {
		_, err := fail.Call(ctx, p, "x")
		if !errors.Is(err, tractor.ErrNotExposed) {
			t.Fatalf("err = %v, want ErrNotExposed", err)
		}
		re := asRemote(t, err)
		if !strings.Contains(re.Message, `"test.fail"`) || !strings.Contains(re.Message, "worker") {
			t.Errorf("error does not name endpoint and actor: %q", re.Message)
		}
		_, err = tractor.CallRaw(ctx, p, "no.such.endpoint", 1)
		if !errors.Is(err, tractor.ErrUnknownEndpoint) {
			t.Fatalf("err = %v, want ErrUnknownEndpoint", err)
		}
		// The actor keeps serving.
		if got, err := square.Call(ctx, p, 5); err != nil || got != 25 {
			t.Fatalf("after refusal: %d, %v", got, err)
		}
	})
}

func testBadArgument(t *testing.T, h hosting) {
	withWorker(t, h, eps(square, count), func(ctx context.Context, p *tractor.Portal) {
		_, err := tractor.CallRaw(ctx, p, square.Name(), "not an int")
		if !errors.Is(err, tractor.ErrBadArgument) {
			t.Fatalf("err = %v, want ErrBadArgument", err)
		}
		re := asRemote(t, err)
		if !strings.Contains(re.Message, "int") || !strings.Contains(re.Message, "string") {
			t.Errorf("message does not name the types: %q", re.Message)
		}
		// Calling a stream endpoint as a function is refused, not run.
		_, err = tractor.CallRaw(ctx, p, count.Name(), 3)
		if !errors.Is(err, tractor.ErrMisuse) {
			t.Fatalf("err = %v, want ErrMisuse", err)
		}
		if got, err := square.Call(ctx, p, 4); err != nil || got != 16 {
			t.Fatalf("after bad argument: %d, %v", got, err)
		}
	})
}
