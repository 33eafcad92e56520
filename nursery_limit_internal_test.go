package tractor

import (
	"context"
	"testing"
	"testing/synctest"
)

// SetLimit(0) blocks every Go (a negative limit is the one that removes
// it). The test then takes the blocked Go's slot itself, and gives the
// task's release back, so that nothing stays blocked.
func TestNurseryGoLimitZeroBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		err := Run(t.Context(), func(ctx context.Context) error {
			return OpenNursery(ctx, func(ctx context.Context, n *Nursery) error {
				n.SetLimit(0)
				sem := n.sem
				ran := make(chan struct{})
				returned := make(chan struct{})
				go func() {
					defer close(returned)
					n.Go(func(context.Context) error { close(ran); return nil })
				}()
				synctest.Wait()
				select {
				case <-ran:
					t.Fatal("a task ran under a limit of 0")
				default:
				}
				<-sem // the blocked Go's slot: it starts the task
				<-returned
				<-ran
				sem <- struct{}{} // the task's release of its slot
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
