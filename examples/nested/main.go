// Command nested shows a tree of actors: an actor's endpoint opens its own
// nursery, whose actors open theirs. First, results flow up the tree from
// one-shot actors; then a tree of daemon actors is held open and cancelled
// from the root, and every actor below the root is gone.
//
// Run it with:
//
//	go run ./examples/nested
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tractor-go/tractor"
)

var (
	// square runs in a leaf actor (level 3).
	square = tractor.Func("nested.square", func(ctx context.Context, x int) (int, error) {
		return x * x, nil
	})

	// sumSquares runs in a branch actor (level 2): it spawns one leaf per
	// number and adds their results.
	sumSquares = tractor.Func("nested.sumSquares", func(ctx context.Context, xs []int) (int, error) {
		me := tractor.CurrentActor(ctx).Name()
		var portals []*tractor.Portal
		sum := 0
		err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			for _, x := range xs {
				p, err := n.RunInActor(ctx, fmt.Sprintf("%s.leaf-%d", me, x), square.Bind(x))
				if err != nil {
					return err
				}
				portals = append(portals, p)
			}
			for _, p := range portals {
				sq, err := square.Result(ctx, p)
				if err != nil {
					return err
				}
				sum += sq
			}
			return nil
		})
		return sum, err
	})

	// total runs in the trunk actor (level 1): it spawns one branch per
	// group and adds their sums. It returns one line per branch and the
	// total, so the root can print how the result was made.
	total = tractor.Func("nested.total", func(ctx context.Context, groups [][]int) ([]string, error) {
		var lines []string
		err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			var portals []*tractor.Portal
			for i, g := range groups {
				p, err := n.RunInActor(ctx, fmt.Sprintf("branch-%d", i), sumSquares.Bind(g))
				if err != nil {
					return err
				}
				portals = append(portals, p)
			}
			t := 0
			for i, p := range portals {
				s, err := sumSquares.Result(ctx, p)
				if err != nil {
					return err
				}
				lines = append(lines, fmt.Sprintf("%s: sum of squares of %v = %d", p.Actor().Name, groups[i], s))
				t += s
			}
			lines = append(lines, fmt.Sprintf("trunk: total = %d", t))
			return nil
		})
		return lines, err
	})

	// holdLeaves runs in a branch actor: it starts daemon leaves, says so
	// with Started, and holds them until it is cancelled.
	holdLeaves = tractor.Ctx("nested.holdLeaves", func(c *tractor.Context, width int) (int, error) {
		me := tractor.CurrentActor(c).Name()
		err := tractor.OpenNursery(c, func(ctx context.Context, n *tractor.Nursery) error {
			for i := range width {
				if _, err := n.StartActor(c, fmt.Sprintf("%s.leaf-%d", me, i)); err != nil {
					return err
				}
			}
			if err := c.Started(width); err != nil {
				return err
			}
			<-c.Done() // the leaves serve until the dialog is cancelled
			return nil
		})
		if err != nil {
			return 0, err
		}
		return 0, c.Err()
	})

	// holdTree runs in the trunk actor: it starts daemon branches, opens
	// holdLeaves in each, and once every actor of the tree has started it
	// says how many with Started, then holds the tree until cancelled.
	holdTree = tractor.Ctx("nested.holdTree", func(c *tractor.Context, width int) (int, error) {
		err := tractor.OpenNursery(c, func(ctx context.Context, n *tractor.Nursery) error {
			started := 0
			for i := range width {
				p, err := n.StartActor(c, fmt.Sprintf("branch-%d", i), tractor.Expose(holdLeaves))
				if err != nil {
					return err
				}
				bc, err := holdLeaves.Open(c, p, width)
				if err != nil {
					return err
				}
				// End the branch's dialog when this body returns: cancel
				// it, then collect its outcome within a bound.
				defer func() {
					bc.Cancel()
					rctx, cancel := context.WithTimeout(context.WithoutCancel(c), 5*time.Second)
					defer cancel()
					_, _ = holdLeaves.Result(rctx, bc)
				}()
				leaves, err := tractor.First[int](bc)
				if err != nil {
					return err
				}
				started += 1 + leaves
			}
			if err := c.Started(started); err != nil {
				return err
			}
			<-c.Done()
			return nil
		})
		if err != nil {
			return 0, err
		}
		return 0, c.Err()
	})
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tractor.Run(ctx, demo); err != nil {
		fmt.Println("FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("done")
}

func demo(ctx context.Context) error {
	return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
		trunk, err := n.StartActor(ctx, "trunk", tractor.Expose(total, holdTree))
		if err != nil {
			return err
		}

		// 1. Results flow up: root -> trunk -> branch-i -> leaf actors.
		fmt.Println("root: asking trunk for the sum of squares of [[1 2] [3 4 5]]")
		lines, err := total.Call(ctx, trunk, [][]int{{1, 2}, {3, 4, 5}})
		if err != nil {
			return err
		}
		for _, l := range lines {
			fmt.Println("  " + l)
		}
		fmt.Println("root: one-shot actors have ended; live actors:", names(tractor.Actors(ctx)))

		// 2. Hold a tree of daemons open, then cancel it from the root.
		c, err := holdTree.Open(ctx, trunk, 2)
		if err != nil {
			return err
		}
		started, err := tractor.First[int](c)
		if err != nil {
			return err
		}
		fmt.Printf("root: trunk holds a tree of %d actors below it; live actors:\n", started)
		for _, name := range names(tractor.Actors(ctx)) {
			fmt.Println("  " + name)
		}

		fmt.Println("root: cancelling actor trunk")
		if err := trunk.CancelActor(ctx); err != nil {
			return err
		}
		fmt.Println("root: trunk has ended; live actors:", names(tractor.Actors(ctx)))

		// The dialog with trunk was not cancelled by its caller but by a
		// third party (the root cancelled the whole actor), so its outcome
		// is a *RemoteError that matches ErrContextCancelled and names the
		// canceller, not the bare ErrContextCancelled of a self-cancel.
		_, err = holdTree.Result(ctx, c)
		var re *tractor.RemoteError
		if !errors.As(err, &re) || !errors.Is(err, tractor.ErrContextCancelled) {
			return fmt.Errorf("holdTree outcome: want a *RemoteError matching ErrContextCancelled, got %v", err)
		}
		fmt.Printf("root: the holdTree dialog ended with a RemoteError matching ErrContextCancelled: task in actor %s cancelled by actor %s\n",
			re.Actor.Name, re.Canceller.Name)
		return nil
	})
}

func names(infos []tractor.ActorInfo, err error) []string {
	if err != nil {
		return []string{err.Error()}
	}
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.ID.Name
	}
	return out
}
