package tractor_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/tractor-go/tractor"
)

// panicker panics with what; the OnTaskError hook looks for its frame.
//
//go:noinline
func panicker(what string) { panic(what) }

// The endpoints that panic through panicker, one of each kind.
var (
	unwindFunc = tractor.Func("test.unwind.func", func(ctx context.Context, _ struct{}) (int, error) {
		panicker("func")
		return 0, nil
	})
	unwindCtx = tractor.Ctx("test.unwind.ctx", func(c *tractor.Context, _ struct{}) (int, error) {
		panicker("ctx")
		return 0, nil
	})
	unwindStream = tractor.Stream("test.unwind.stream", func(ctx context.Context, _ struct{}, yield func(int) error) error {
		panicker("stream")
		return nil
	})
)

// onStack reports whether the calling goroutine's stack holds a frame of
// the function named fn.
func onStack(fn string) bool {
	pcs := make([]uintptr, 128)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	for {
		f, more := frames.Next()
		if f.Function == fn {
			return true
		}
		if !more {
			return false
		}
	}
}

// TestOnTaskErrorBeforeUnwinding: for a panic, the OnTaskError hook runs
// once, inside the deferred recovery, while the panicking function is
// still on the goroutine's stack (a debugger attached from the hook sees
// it), whichever way the task ran: an inline function call (checked and
// by reference), a context dialog, a local stream, a one-shot actor.
func TestOnTaskErrorBeforeUnwinding(t *testing.T) {
	for _, h := range []hosting{goroutines, goroutinesByRef} {
		t.Run(h.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := map[string]int{}
			unwound := map[string]bool{}
			hook := func(ctx context.Context, endpoint string, err error, stack []byte) {
				mu.Lock()
				defer mu.Unlock()
				calls[endpoint]++
				if !onStack("github.com/tractor-go/tractor_test.panicker") {
					unwound[endpoint] = true
				}
			}
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "w", tractor.Expose(unwindFunc, unwindCtx, unwindStream))
					if err != nil {
						return err
					}
					defer p.CancelActor(ctx)
					if _, err := unwindFunc.Call(ctx, p, struct{}{}); !errors.Is(err, tractor.ErrPanic) {
						t.Errorf("func: %v", err)
					}
					// The task fails before it starts: Open says so.
					if _, err := unwindCtx.Open(ctx, p, struct{}{}); !errors.Is(err, tractor.ErrPanic) {
						t.Errorf("ctx: %v", err)
					}
					s, err := unwindStream.Open(ctx, p, struct{}{})
					if err != nil {
						return err
					}
					if _, err := s.Receive(ctx); !errors.Is(err, tractor.ErrPanic) {
						t.Errorf("stream: %v", err)
					}
					return nil
				})
			}, tractor.OnTaskError(hook))
			if err != nil {
				t.Fatal(err)
			}
			// The one-shot's failure is its nursery's.
			err = run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					_, err := n.RunInActor(ctx, "once", unwindFunc.Bind(struct{}{}))
					return err
				})
			}, tractor.OnTaskError(hook))
			if !errors.Is(err, tractor.ErrPanic) {
				t.Fatalf("one-shot: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			want := map[string]int{"test.unwind.func": 2, "test.unwind.ctx": 1, "test.unwind.stream": 1}
			for ep, n := range want {
				if calls[ep] != n {
					t.Errorf("hook ran %d times for %s; want %d (once per failure)", calls[ep], ep, n)
				}
			}
			if len(calls) != len(want) {
				t.Errorf("hook ran for %v; want %v", calls, want)
			}
			if len(unwound) != 0 {
				t.Errorf("hook ran after the stack unwound for %v", unwound)
			}
		})
	}
}
