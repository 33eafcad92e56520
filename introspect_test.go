package tractor_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// parked runs until cancelled, once it has said so on parkedStarted.
var parked = tractor.Func("introspect.parked", func(ctx context.Context, _ bool) (bool, error) {
	parkedStarted <- struct{}{}
	<-ctx.Done()
	return true, nil
})

var parkedStarted = make(chan struct{}, 1)

// TestInspectInProcess checks Inspect from a program on its own tree: the
// caller itself, and a goroutine actor running a function inline (a task
// without a dialog), whose stats come from an inline call that leaves
// itself out.
func TestInspectInProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			w, err := n.StartActor(ctx, "w", tractor.Expose(parked))
			if err != nil {
				return err
			}
			callCtx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Go(func() { _, _ = parked.Call(callCtx, w, true) })
			defer wg.Wait()
			defer stop()
			<-parkedStarted
			states, err := tractor.Inspect(ctx)
			if err != nil {
				return err
			}
			if len(states) != 2 {
				t.Errorf("Inspect saw %d actors, want 2: %+v", len(states), states)
			}
			self := tractor.CurrentActor(ctx).ID()
			for _, s := range states {
				if s.Err != nil || s.PID != os.Getpid() || s.Started.IsZero() {
					t.Errorf("%s: %+v", s.ID, s)
				}
				switch s.ID {
				case self:
					if s.Hosting != tractor.Process || s.Tasks != 0 {
						t.Errorf("the root: %+v", s)
					}
				case w.Actor():
					if s.Hosting != tractor.Goroutine || s.Parent != self || s.Tasks != 1 || s.Dialogs != 0 {
						t.Errorf("w, running parked inline: %+v, want 1 task, 0 dialogs", s)
					}
				default:
					t.Errorf("an actor nobody started: %+v", s)
				}
			}
			stop()
			n.Cancel()
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
