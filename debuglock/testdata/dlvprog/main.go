// Command dlvprog is the program of debuglock's Delve test: an actor
// stops at a breakpoint in a function with a local variable, for the
// test to print it through Delve. The actor is a process one, or a
// goroutine one (in the root's process) when the first argument is
// "goroutine". Build it with -gcflags=all=-N -l, so that the local lives
// in the frame.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/debuglock"
)

// reveal keeps a secret in a local and stops at a breakpoint.
var reveal = tractor.Func("dlvprog.reveal", func(ctx context.Context, x int) (int, error) {
	return secretive(ctx, x)
})

func secretive(ctx context.Context, x int) (int, error) {
	secret := 42
	if err := debuglock.Breakpoint(ctx); err != nil {
		return 0, err
	}
	return secret + x, nil
}

func main() {
	hosting := tractor.Spawn(tractor.Process)
	if len(os.Args) > 1 && os.Args[1] == "goroutine" {
		hosting = tractor.Spawn(tractor.Goroutine)
	}
	ctx, stop := debuglock.NotifyContext(context.Background())
	defer stop()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "w0", tractor.Expose(reveal), hosting)
			if err != nil {
				return err
			}
			defer p.CancelActor(ctx)
			res, err := reveal.Call(ctx, p, 1)
			fmt.Println("result", res, err)
			return err
		})
	}, debuglock.Enable()...)
	fmt.Println("program ends:", err)
	if err != nil {
		os.Exit(1)
	}
}
