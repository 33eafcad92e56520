package tractortest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"testing/synctest"

	"pgregory.net/rapid"

	"github.com/tractor-go/tractor"
)

// Bubble mode (see [Config.Bubble]): each run of the property runs inside
// a testing/synctest bubble, where time is virtual. It advances only once
// every goroutine of the tree is blocked, so a step that hangs fails at
// StepTimeout at once, in real time, and rapid's shrinker, whose budget is
// real time, tries many more sequences; pauses, cancellation delays and
// the runtime's own timeouts cost nothing either.
//
// Only workers on goroutines run in a bubble (the default hosting): a
// process worker, its sockets and its pipes are outside it, and a
// goroutine blocked on them would keep the clock from advancing. So would
// this process's peer listener, which a tree of goroutine actors opens
// only when an address is asked for: in Bubble mode the runs ask none,
// and an Invariant or Action must not either ([tractor.Actors],
// [tractor.Portal.Info], [tractor.Actor.Addr]). A tree that cannot end
// (a task that ignores its ctx for ever) leaves goroutines blocked once
// its run has failed, which synctest reports as a deadlock, listing them.

// runOnce is one run of the property: in a bubble of bt if it is set (see
// Config.Bubble), in the caller's goroutine otherwise.
func runOnce(rt *rapid.T, cfg Config, bt *testing.T) *World {
	if bt == nil {
		return run(rt, cfg)
	}
	var w *World
	var failed any
	synctest.Test(bt, func(*testing.T) {
		// rapid fails a run by panicking: the panic goes on, out of the
		// bubble, to rapid, which shrinks the run.
		defer func() { failed = recover() }()
		w = run(rt, cfg)
	})
	if failed != nil {
		// rapid's shrinker takes a smaller run for the same failure when
		// it panics from the same place; the bubble's panics all come from
		// here, so a run that merely ran out of drawn data (rapid's
		// invalidData) must come from elsewhere, or the shrinker would
		// shrink towards it.
		if fmt.Sprintf("%T", failed) == "rapid.invalidData" {
			rethrowInvalid(failed)
		}
		panic(failed)
	}
	return w
}

// rethrowInvalid panics with p, rapid's signal that a run drew past its
// data, from a place of its own (see runOnce).
func rethrowInvalid(p any) { panic(p) }

// registeredPID checks that the worker behind p is registered, as it is
// from the moment StartActor returns, and returns its process's pid. In
// a bubble it finds it by name, which asks for no address (see runOnce):
// all its workers are goroutines of this process.
func (w *World) registeredPID(ctx context.Context, p *tractor.Portal) (int, error) {
	if w.cfg.Bubble {
		found, err := tractor.FindActor(ctx, p.Actor().Name)
		if err != nil {
			return 0, fmt.Errorf("started actor %s is not in the registry: %w", p.Actor(), err)
		}
		if found.Actor() != p.Actor() {
			return 0, fmt.Errorf("started actor %s is registered as %s", p.Actor(), found.Actor())
		}
		return os.Getpid(), nil
	}
	infos, err := tractor.Actors(ctx)
	if err != nil {
		return 0, fmt.Errorf("Actors: %w", err)
	}
	for _, in := range infos {
		if in.ID == p.Actor() {
			return in.PID, nil
		}
	}
	return 0, fmt.Errorf("started actor %s is not in the registry (Actors: %v)", p.Actor(), infos)
}
