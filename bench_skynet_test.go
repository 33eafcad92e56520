package tractor_test

import (
	"context"
	"flag"
	"fmt"
	"testing"

	"github.com/tractor-go/tractor"
)

// skynetArg is one node of the skynet tree: the leaves under it are
// numbered num .. num+size-1, and it has div children.
type skynetArg struct{ Num, Size, Div int }

// skynet is the skynet benchmark (github.com/atemerev/skynet) as a tree of
// one-shot actors: each spawns div children in a nursery and sums their
// results; a leaf returns its number. (Declared in init: its function
// spawns actors that run it.)
var skynet *tractor.FuncEndpoint[skynetArg, int]

func init() { skynet = tractor.Func("bench.skynet", skynetNode) }

func skynetNode(ctx context.Context, a skynetArg) (int, error) {
	if a.Size == 1 {
		return a.Num, nil
	}
	sum := 0
	err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
		step := a.Size / a.Div
		ps := make([]*tractor.Portal, a.Div)
		for i := range a.Div {
			p, err := n.RunInActor(ctx, "sky", skynet.Bind(skynetArg{a.Num + i*step, step, a.Div}))
			if err != nil {
				return err
			}
			ps[i] = p
		}
		for _, p := range ps {
			v, err := skynet.Result(ctx, p)
			if err != nil {
				return err
			}
			sum += v
		}
		return nil
	})
	return sum, err
}

// skynetChan is the baseline: the same tree of goroutines, each reporting
// its sum on a channel.
func skynetChan(num, size, div int, out chan<- int) {
	if size == 1 {
		out <- num
		return
	}
	in := make(chan int, div)
	step := size / div
	for i := range div {
		go skynetChan(num+i*step, step, div, in)
	}
	sum := 0
	for range div {
		sum += <-in
	}
	out <- sum
}

// skynetLeaves is the largest skynet tree BenchmarkSkynet builds: the
// classic one, a million leaves (1.1 million actors), with
// `go test -bench Skynet -args -skynet.leaves=1000000`.
var skynetLeaves = flag.Int("skynet.leaves", 100_000, "the largest skynet tree's leaves (a power of 10)")

// BenchmarkSkynet builds a tree of one-shot actors, ten children each,
// whose leaves are numbered 0..size-1, and sums them: spawn, a result and
// teardown per actor, all goroutine actors. The baseline is the same tree
// of goroutines and channels. -short keeps the small trees.
func BenchmarkSkynet(b *testing.B) {
	var sizes []int
	for size := 1_000; size <= *skynetLeaves; size *= 10 {
		if size > 10_000 && testing.Short() {
			break
		}
		sizes = append(sizes, size)
	}
	for _, size := range sizes {
		want := size * (size - 1) / 2
		b.Run(fmt.Sprintf("baseline=goroutines/leaves=%d", size), func(b *testing.B) {
			for b.Loop() {
				out := make(chan int, 1)
				skynetChan(0, size, 10, out)
				if got := <-out; got != want {
					b.Fatalf("sum %d, want %d", got, want)
				}
			}
		})
		b.Run(fmt.Sprintf("tractor=actors/leaves=%d", size), func(b *testing.B) {
			err := tractor.Run(context.Background(), func(ctx context.Context) error {
				for b.Loop() {
					var got int
					err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
						p, err := n.RunInActor(ctx, "sky", skynet.Bind(skynetArg{0, size, 10}))
						if err != nil {
							return err
						}
						got, err = skynet.Result(ctx, p)
						return err
					})
					if err != nil {
						return err
					}
					if got != want {
						return fmt.Errorf("sum %d, want %d", got, want)
					}
				}
				return nil
			}, tractor.WireCheck(false))
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}
