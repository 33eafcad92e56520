package tractor_test

import (
	"context"
	"testing"

	"github.com/tractor-go/tractor"
)

// BenchmarkRun: the whole life of a root (Run of an empty body, and of a
// body that runs one goroutine actor) vs a goroutine started and waited
// for. A tree of goroutine actors opens no socket: the peer listener
// opens on first need, as the ListenAddr case shows it costing.
func BenchmarkRun(b *testing.B) {
	ctx := context.Background()
	b.Run("baseline=go-and-wait", func(b *testing.B) {
		for b.Loop() {
			done := make(chan error)
			go func() { done <- nil }()
			<-done
		}
	})
	empty := func(context.Context) error { return nil }
	b.Run("tractor=Run-empty", func(b *testing.B) {
		for b.Loop() {
			if err := tractor.Run(ctx, empty); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tractor=Run-empty-ListenAddr", func(b *testing.B) {
		for b.Loop() {
			if err := tractor.Run(ctx, empty, tractor.ListenAddr("127.0.0.1:0")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tractor=Run-one-actor", func(b *testing.B) {
		for b.Loop() {
			err := tractor.Run(ctx, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.RunInActor(ctx, "one", square.Bind(3))
					if err != nil {
						return err
					}
					_, err = square.Result(ctx, p)
					return err
				})
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
