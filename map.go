package tractor

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Map calls ep once per item, each call in one of a set of worker actors,
// and returns the results in the order of items: errgroup's or conc's
// bounded parallel map, with actors for goroutines, so the same call
// spreads the work over processes given [Spawn]([Process]).
//
// Map starts the workers with [OpenCluster], named after ep, exposing ep:
// as many as [Workers] says (default [runtime.NumCPU]), never more than
// there are items, hosted as opts or else the caller's actor says. Each
// worker runs one item at a time, taking the next from a shared queue, so
// at most that many calls are in flight. The first call to fail cancels
// the calls under way and leaves the rest of the items unstarted; Map
// returns that call's error (a [*RemoteError] for a failure in ep's
// function), naming the item, and no results. If ctx ends first, Map
// returns ctx's error. Either way every worker has ended when Map
// returns. An empty items starts no actor and returns an empty slice.
//
// Map must run in an actor (in [Run]'s body or an endpoint), as a nursery
// does; opts apply to every worker, as [OpenCluster]'s do.
func Map[A, R any](ctx context.Context, ep *FuncEndpoint[A, R], items []A, opts ...Option) ([]R, error) {
	mustCtx("Map", ctx)
	if ep == nil {
		panic("tractor: Map: nil endpoint")
	}
	out := make([]R, len(items))
	if len(items) == 0 {
		return out, nil
	}
	workers := runtime.NumCPU()
	for _, o := range opts {
		if w, ok := o.(workersOption); ok {
			workers = int(w)
		}
	}
	workers = min(workers, len(items))
	var next atomic.Int64 // the index of the next item to start
	err := OpenCluster(ctx, ep.Name(), workers, func(ctx context.Context, ps []*Portal) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var (
			wg    sync.WaitGroup
			once  sync.Once
			first error
		)
		for _, p := range ps {
			wg.Go(func() {
				for ctx.Err() == nil {
					i := int(next.Add(1) - 1)
					if i >= len(items) {
						return
					}
					v, err := ep.Call(ctx, p, items[i])
					if err != nil {
						// The first failure is the map's; the calls
						// it cancels fail after it, and are not, nor
						// are the calls cut short by ctx's end, which
						// the nursery reports.
						if ctx.Err() == nil {
							once.Do(func() {
								first = fmt.Errorf("tractor: Map %q: item %d: %w", ep.Name(), i, err)
								cancel()
							})
						}
						return
					}
					out[i] = v
				}
			})
		}
		wg.Wait()
		return first
	}, append(opts[:len(opts):len(opts)], Expose(ep))...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Workers sets how many worker actors [Map] starts, which is also how many
// items it has in flight at once. Other calls ignore it. It panics if n is
// not positive.
func Workers(n int) Option {
	if n <= 0 {
		badOption("Workers(%d): a map needs at least one worker", n)
	}
	return workersOption(n)
}

type workersOption int

func (workersOption) apply(*config) {}
