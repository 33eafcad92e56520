package tractor_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/tractor-go/tractor"
)

// started has the root's test hear that a one-shot's invocation runs.
var (
	oneShotStarted = make(chan struct{}, 1)
	heardStart     = tractor.Func("test.heardStart", func(context.Context, struct{}) (bool, error) {
		oneShotStarted <- struct{}{}
		return true, nil
	})
	// untilCancelled tells the root it runs, then waits for its ctx.
	untilCancelled = tractor.Func("test.untilCancelled", func(ctx context.Context, _ struct{}) (int, error) {
		root, err := tractor.Root(ctx)
		if err == nil {
			_, err = heardStart.Call(ctx, root, struct{}{})
		}
		if err != nil {
			return 0, err
		}
		<-ctx.Done()
		return 0, ctx.Err()
	})
)

// TestNurseryBeforeCancelOncePerChild: a nursery cancelled while a one-shot's
// invocation runs calls the BeforeCancel hook once for it, not once from
// its cancellation and once more from the invocation's held-back ctx.
func TestNurseryBeforeCancelOncePerChild(t *testing.T) {
	for _, h := range rows([]hosting{goroutines, processPipe}) {
		t.Run(h.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := map[string]int{}
			hook := func(ctx context.Context, child tractor.ActorID) bool {
				mu.Lock()
				calls[child.Name]++
				mu.Unlock()
				return false
			}
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					if _, err := n.RunInActor(ctx, "oneshot", untilCancelled.Bind(struct{}{})); err != nil {
						return err
					}
					<-oneShotStarted
					n.Cancel()
					return nil
				})
			}, tractor.Expose(heardStart), tractor.BeforeCancel(hook))
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if calls["oneshot"] != 1 {
				t.Fatalf("the hook ran %d times for the one-shot, want once (all calls: %v)", calls["oneshot"], calls)
			}
		})
	}
}
