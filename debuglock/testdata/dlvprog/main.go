// Command dlvprog is the program of debuglock's Delve tests: an actor
// stops, at a breakpoint or at the post-mortem of its failure, in a
// function with a local variable, for the test to print it through
// Delve. Its arguments: the actor's hosting, "process" or "goroutine"
// (in the root's process), and "breakpoint", "postmortem" (of an error) or "panic". Build it
// with -gcflags=all=-N -l, so that the local lives in the frame.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/debuglock"
)

var (
	// reveal keeps a secret in a local and stops at a breakpoint.
	reveal = tractor.Func("dlvprog.reveal", func(ctx context.Context, x int) (int, error) {
		return secretive(ctx, x)
	})
	// betray keeps a secret in a local and fails.
	betray = tractor.Func("dlvprog.betray", func(ctx context.Context, x int) (int, error) {
		return failing(x)
	})
	// shatter keeps a secret in a local and panics.
	shatter = tractor.Func("dlvprog.shatter", func(ctx context.Context, x int) (int, error) {
		return panicking(x), nil
	})
)

func secretive(ctx context.Context, x int) (int, error) {
	secret := 42
	if err := debuglock.Breakpoint(ctx); err != nil {
		return 0, err
	}
	return secret + x, nil
}

func failing(x int) (int, error) {
	secret := 42
	return 0, fmt.Errorf("kaboom %d", secret+x)
}

func panicking(x int) int {
	secret := 42
	var shelf []int
	return shelf[secret+x] // index out of range: the post-mortem opens here
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: dlvprog process|goroutine breakpoint|postmortem|panic")
		os.Exit(2)
	}
	hosting := tractor.Spawn(tractor.Process)
	if os.Args[1] == "goroutine" {
		hosting = tractor.Spawn(tractor.Goroutine)
	}
	call := reveal
	switch os.Args[2] {
	case "postmortem":
		call = betray
	case "panic":
		call = shatter
	}
	ctx, stop := debuglock.NotifyContext(context.Background())
	defer stop()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "w0", tractor.Expose(reveal, betray, shatter), hosting)
			if err != nil {
				return err
			}
			defer p.CancelActor(ctx)
			res, err := call.Call(ctx, p, 1)
			fmt.Println("result", res, err)
			return nil
		})
	}, debuglock.Enable(debuglock.PostMortem())...)
	fmt.Println("program ends:", err)
	if err != nil {
		os.Exit(1)
	}
}
