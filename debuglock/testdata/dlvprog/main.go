// Command dlvprog is the program of debuglock's Delve tests: an actor
// stops, at a breakpoint or at the post-mortem of its failure, in a
// function with a local variable, for the test to print it through
// Delve. Its arguments: the actor's hosting, "process" (over a pipe),
// "tcp" (a process over TCP) or "goroutine" (in the root's process), and
// "breakpoint", "postmortem" (of an error), "panic" or "recursive" (a
// breakpoint three calls deep in a recursive function), then optionally
// "plain": without debuglock.NotifyContext, so that SIGINT (Delve's kill
// of a process it attached to) kills the program. Build it with
// -gcflags=all=-N -l, so that the local lives in the frame.
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
	// descend stops at a breakpoint in the third call of a recursive
	// function, each call with its own depth.
	descend = tractor.Func("dlvprog.descend", func(ctx context.Context, x int) (int, error) {
		return recurse(ctx, 1)
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

func recurse(ctx context.Context, n int) (int, error) {
	depth := n
	if depth == 3 {
		if err := debuglock.Breakpoint(ctx); err != nil {
			return 0, err
		}
		return depth, nil
	}
	below, err := recurse(ctx, n+1)
	return depth + below, err
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
	if len(os.Args) != 3 && (len(os.Args) != 4 || os.Args[3] != "plain") {
		fmt.Fprintln(os.Stderr, "usage: dlvprog process|tcp|goroutine breakpoint|postmortem|panic|recursive [plain]")
		os.Exit(2)
	}
	hosting := []tractor.Option{tractor.Spawn(tractor.Process), tractor.Transport(tractor.Pipe)}
	switch os.Args[1] {
	case "tcp":
		hosting = []tractor.Option{tractor.Spawn(tractor.Process), tractor.Transport(tractor.TCP)}
	case "goroutine":
		hosting = []tractor.Option{tractor.Spawn(tractor.Goroutine)}
	}
	call := reveal
	switch os.Args[2] {
	case "postmortem":
		call = betray
	case "panic":
		call = shatter
	case "recursive":
		call = descend
	}
	ctx, stop := debuglock.NotifyContext(context.Background())
	if len(os.Args) == 4 {
		stop()
		ctx = context.Background()
	}
	defer stop()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "w0", append(hosting, tractor.Expose(reveal, betray, shatter, descend))...)
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
