package natsreg_test

import (
	"context"
	"testing"

	"github.com/tractor-go/tractor"
)

// BenchmarkFindActor: FindActor of a goroutine actor of the same program,
// through the built-in registrar (a map in this process: the baseline)
// and through a NATS registry on an embedded server (a key-value watch:
// one round trip to create its consumer, one for its values).
func BenchmarkFindActor(b *testing.B) {
	find := func(b *testing.B, opts ...tractor.Option) {
		err := tractor.Run(context.Background(), func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				defer n.Cancel()
				if _, err := n.StartActor(ctx, "w", tractor.Expose(square)); err != nil {
					return err
				}
				for b.Loop() {
					if _, err := tractor.FindActor(ctx, "w"); err != nil {
						return err
					}
				}
				return nil
			})
		}, opts...)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("baseline=builtin", func(b *testing.B) { find(b) })
	b.Run("tractor=nats", func(b *testing.B) {
		s := startServer(b)
		reg := newRegistry(b, connect(b, s.ClientURL()))
		find(b, tractor.UseRegistry(reg), tractor.ListenAddr("127.0.0.1:0"))
	})
}
