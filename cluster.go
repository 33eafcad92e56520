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
	mustCtx("OpenCluster", ctx)
	if body == nil {
		panic("tractor: OpenCluster: nil body")
	}
	if count <= 0 {
		count = runtime.NumCPU()
	}
	return OpenNursery(ctx, func(ctx context.Context, n *Nursery) error {
		defer n.Cancel()
		workers := make([]*Portal, count)
		var first error
		var once sync.Once
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		var wg sync.WaitGroup
		for i := range workers {
			wg.Go(func() {
				var err error
				workers[i], err = n.StartActor(sctx, fmt.Sprintf("%s-%d", name, i), opts...)
				if err != nil {
					// The first failure is the cluster's; the starts
					// still under way stop at once.
					once.Do(func() { first = err; stop() })
				}
			})
		}
		wg.Wait()
		if first != nil {
			return first
		}
		return body(n.Context(), workers)
	})
}
