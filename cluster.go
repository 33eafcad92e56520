package tractor

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// OpenCluster starts count daemon actors named name-0, name-1, … that
// expose the same endpoints (tractor's open_actor_cluster), runs body with
// their portals, then cancels them together and returns once every one has
// ended. count <= 0 means one per CPU. The workers start concurrently; if
// one fails to start, the others are cancelled and the error returned. The
// rest is [OpenNursery]'s: a worker's failure cancels the others and body's
// ctx, and the returned error joins every failure. opts apply to every
// worker, and usually include [Expose] and [Spawn].
func OpenCluster(ctx context.Context, name string, count int, body func(ctx context.Context, workers []*Portal) error, opts ...Option) error {
	if count <= 0 {
		count = runtime.NumCPU()
	}
	return OpenNursery(ctx, func(n *Nursery) error {
		defer n.Cancel()
		workers := make([]*Portal, count)
		errs := make([]error, count)
		var wg sync.WaitGroup
		for i := range workers {
			wg.Go(func() {
				workers[i], errs[i] = n.StartActor(ctx, fmt.Sprintf("%s-%d", name, i), opts...)
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return body(n.Context(), workers)
	})
}
