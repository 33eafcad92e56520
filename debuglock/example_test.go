package debuglock_test

import (
	"context"
	"log"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/debuglock"
)

// work stops at a breakpoint: on a terminal, a prompt; without one, a log
// line.
var work = tractor.Func("debuglockexample.work", func(ctx context.Context, x int) (int, error) {
	if err := debuglock.Breakpoint(ctx); err != nil {
		return 0, err // quit at the prompt
	}
	return x * 2, nil
})

// A program whose actors share one terminal: Ctrl-C cancels the tree
// unless an actor is at a prompt, and a failing task opens a post-mortem
// prompt before its error propagates.
func Example() {
	ctx, stop := debuglock.NotifyContext(context.Background())
	defer stop()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "worker", tractor.Expose(work), tractor.Spawn(tractor.Process))
			if err != nil {
				return err
			}
			defer p.CancelActor(ctx)
			_, err = work.Call(ctx, p, 21)
			return err
		})
	}, debuglock.Enable(debuglock.PostMortem())...)
	if err != nil {
		log.Fatal(err)
	}
}
