// Package peers measures this library beside another Go actor runtime,
// protoactor-go, and beside plain Go, in one run: the figures its
// benchmarks are compared with. It is a module of its own, so that the
// library does not depend on what it is measured against:
//
//	cd bench/peers && go test -run XXX -bench . -benchmem -count=5
package peers

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/tractor-go/tractor"
)

var square = tractor.Func("peers.square", func(_ context.Context, x int) (int, error) { return x * x, nil })

// protoSystem is a protoactor system that logs nowhere.
func protoSystem() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
}

// protoSquare answers an int with its square.
var protoSquare = actor.PropsFromFunc(func(c actor.Context) {
	if x, ok := c.Message().(int); ok {
		c.Respond(x * x)
	}
})

// inTractor runs body in a root actor with a nursery, failing b on error.
func inTractor(b *testing.B, body func(ctx context.Context, n *tractor.Nursery) error) {
	b.Helper()
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error { return body(ctx, n) })
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCall: one request and its reply to an actor of this process.
func BenchmarkCall(b *testing.B) {
	b.Run("baseline=chan-pingpong", func(b *testing.B) {
		req, rep := make(chan int), make(chan int)
		go func() {
			for x := range req {
				rep <- x * x
			}
		}()
		for b.Loop() {
			req <- 3
			<-rep
		}
		close(req)
	})
	b.Run("tractor=Func.Call", func(b *testing.B) {
		inTractor(b, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "w", tractor.Expose(square))
			if err != nil {
				return err
			}
			for b.Loop() {
				if _, err := square.Call(ctx, p, 3); err != nil {
					return err
				}
			}
			return p.CancelActor(ctx)
		})
	})
	b.Run("protoactor=RequestFuture", func(b *testing.B) {
		sys := protoSystem()
		defer sys.Shutdown()
		pid := sys.Root.Spawn(protoSquare)
		for b.Loop() {
			if _, err := sys.Root.RequestFuture(pid, 3, time.Minute).Result(); err != nil {
				b.Fatal(err)
			}
		}
		_ = sys.Root.StopFuture(pid).Wait()
	})
}

// BenchmarkSpawn: start an actor and stop it, waiting for its end.
func BenchmarkSpawn(b *testing.B) {
	b.Run("baseline=goroutine-spawn-join", func(b *testing.B) {
		for b.Loop() {
			var wg sync.WaitGroup
			wg.Go(func() {})
			wg.Wait()
		}
	})
	b.Run("tractor=StartActor+CancelActor", func(b *testing.B) {
		inTractor(b, func(ctx context.Context, n *tractor.Nursery) error {
			for b.Loop() {
				p, err := n.StartActor(ctx, "w")
				if err != nil {
					return err
				}
				if err := p.CancelActor(ctx); err != nil {
					return err
				}
			}
			return nil
		})
	})
	b.Run("protoactor=Spawn+StopFuture", func(b *testing.B) {
		sys := protoSystem()
		defer sys.Shutdown()
		for b.Loop() {
			pid := sys.Root.Spawn(protoSquare)
			if err := sys.Root.StopFuture(pid).Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkIdle: what an idle actor holds, heap and stacks, per actor,
// with b.N of them alive at once (the metric bytes/actor).
func BenchmarkIdle(b *testing.B) {
	b.Run("baseline=parked-goroutine", func(b *testing.B) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		before := held()
		for b.Loop() {
			wg.Go(func() { <-stop })
		}
		report(b, before)
		close(stop)
		wg.Wait()
	})
	b.Run("tractor=daemon-actor", func(b *testing.B) {
		inTractor(b, func(ctx context.Context, n *tractor.Nursery) error {
			before := held()
			for b.Loop() {
				if _, err := n.StartActor(ctx, "idle", tractor.Expose(square)); err != nil {
					return err
				}
			}
			report(b, before)
			n.Cancel()
			return nil
		})
	})
	b.Run("protoactor=actor", func(b *testing.B) {
		sys := protoSystem()
		defer sys.Shutdown()
		pids := make([]*actor.PID, 0, b.N)
		before := held()
		for b.Loop() {
			pids = append(pids, sys.Root.Spawn(protoSquare))
		}
		report(b, before)
		for _, pid := range pids {
			_ = sys.Root.StopFuture(pid).Wait()
		}
	})
}

// held is the heap in use and the stacks of the process.
func held() int {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int(ms.HeapInuse + ms.StackInuse)
}

// report reports what the process holds beyond before, per iteration.
func report(b *testing.B, before int) {
	b.StopTimer()
	b.ReportMetric(float64(held()-before)/float64(b.N), "bytes/actor")
}
