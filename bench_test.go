package tractor_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/tractor-go/tractor"
)

// Each benchmark runs its physical baseline (raw channels, bare goroutines)
// beside the runtime in the same run; compare the ns/op of the pair.

// Benchmarks run under go test, where WireCheck is on by default: they
// measure production's path, values by reference, with WireCheck(false)
// (goroutinesByRef), and show what the check costs beside it
// ("tractor=wirecheck").

// benchWorker runs body with a goroutine daemon actor exposing eps,
// outside the timer; values travel by reference, as in production.
func benchWorker(b *testing.B, eps []tractor.Endpoint, body func(ctx context.Context, p *tractor.Portal)) {
	b.Helper()
	benchWorkerOn(b, goroutinesByRef, eps, body)
}

// BenchmarkCall: a function call round trip vs an unbuffered channel
// ping-pong between two goroutines (request in, reply out).
func BenchmarkCall(b *testing.B) {
	b.Run("baseline=chan-pingpong", func(b *testing.B) {
		req, rep := make(chan int), make(chan int)
		go func() {
			for x := range req {
				rep <- x * x
			}
		}()
		b.ReportAllocs()
		for b.Loop() {
			req <- 3
			<-rep
		}
		close(req)
	})
	b.Run("tractor=Func.Call", func(b *testing.B) { benchCall(b, goroutinesByRef) })
	b.Run("tractor=wirecheck", func(b *testing.B) { benchCall(b, goroutines) })
}

// benchCall calls a goroutine actor hosted per h b.N times.
func benchCall(b *testing.B, h hosting) {
	benchWorkerOn(b, h, eps(square), func(ctx context.Context, p *tractor.Portal) {
		for b.Loop() {
			if _, err := square.Call(ctx, p, 3); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchPayload is a 32-byte stream item.
type benchPayload [4]int64

var benchStream = tractor.Stream("bench.stream", func(ctx context.Context, n int, yield func(benchPayload) error) error {
	var v benchPayload
	for i := range n {
		v[0] = int64(i)
		if err := yield(v); err != nil {
			return err
		}
	}
	return nil
})

// BenchmarkStream: one item sent and received on a one-way stream vs a
// buffered channel (cap 64) between two goroutines, plain (the goal's
// baseline) and with sends that select on ctx.Done, as a cancellable
// producer must.
func BenchmarkStream(b *testing.B) {
	b.Run("baseline=buffered-chan", func(b *testing.B) { benchBufferedChan(b, false) })
	b.Run("baseline=buffered-chan-select", func(b *testing.B) { benchBufferedChan(b, true) })
	b.Run("tractor=MsgStream", func(b *testing.B) { benchMsgStream(b, goroutinesByRef) })
	b.Run("tractor=wirecheck", func(b *testing.B) { benchMsgStream(b, goroutines) })
}

// benchMsgStream streams b.N items from a goroutine actor hosted per h.
func benchMsgStream(b *testing.B, h hosting) {
	benchWorkerOn(b, h, eps(benchStream), func(ctx context.Context, p *tractor.Portal) {
		s, err := benchStream.Open(ctx, p, b.N)
		if err != nil {
			b.Fatal(err)
		}
		drain[benchPayload](ctx, b, s)
	})
}

// benchBufferedChan streams b.N items through a buffered channel (cap 64)
// from one goroutine to another, each send selecting on ctx.Done if
// withSelect.
func benchBufferedChan(b *testing.B, withSelect bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := make(chan benchPayload, 64)
	n := b.N
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(c)
		var v benchPayload
		for i := range n {
			v[0] = int64(i)
			if !withSelect {
				c <- v
				continue
			}
			select {
			case c <- v:
			case <-ctx.Done():
				return
			}
		}
	})
	b.ReportAllocs()
	b.ResetTimer()
	for range c {
	}
	wg.Wait()
}

// BenchmarkContext: open a context dialog, read its first value, get its
// result; the baseline is a goroutine that hands back two values.
func BenchmarkContext(b *testing.B) {
	b.Run("baseline=goroutine-two-values", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := make(chan int, 2)
			go func() { c <- 1; c <- 2 }()
			<-c
			<-c
		}
	})
	b.Run("tractor=Ctx.Open+Result", func(b *testing.B) {
		benchWorker(b, eps(returnEarly), func(ctx context.Context, p *tractor.Portal) {
			for b.Loop() {
				c, err := returnEarly.Open(ctx, p, 1)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := returnEarly.Result(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkSpawn: start a goroutine actor and tear it down (daemon start,
// CancelActor, ended) vs a bare goroutine spawn and join.
func BenchmarkSpawn(b *testing.B) {
	b.Run("baseline=goroutine-spawn-join", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var wg sync.WaitGroup
			wg.Add(1)
			go wg.Done()
			wg.Wait()
		}
	})
	b.Run("tractor=StartActor+CancelActor", func(b *testing.B) {
		err := tractor.Run(context.Background(), func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				b.ReportAllocs()
				b.ResetTimer()
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
		}, tractor.WireCheck(false))
		if err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkIdleActor: what an idle daemon goroutine actor holds (heap and
// stacks, and goroutines) vs a goroutine parked on a channel, per actor,
// over b.N of them alive at once. The figures are the metrics bytes/actor
// and goroutines/actor; ns/op is the cost of starting one.
func BenchmarkIdleActor(b *testing.B) {
	b.Run("baseline=parked-goroutine", func(b *testing.B) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		before := idleFootprint()
		for b.Loop() {
			wg.Go(func() { <-stop })
		}
		reportIdle(b, before)
		close(stop)
		wg.Wait()
	})
	b.Run("tractor=daemon-actor", func(b *testing.B) {
		err := tractor.Run(context.Background(), func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				before := idleFootprint()
				for b.Loop() {
					if _, err := n.StartActor(ctx, "idle", tractor.Expose(square)); err != nil {
						return err
					}
				}
				reportIdle(b, before)
				n.Cancel()
				return nil
			})
		}, tractor.WireCheck(false))
		if err != nil {
			b.Fatal(err)
		}
	})
}

// footprint is what the process holds: heap in use, stacks, goroutines.
type footprint struct{ bytes, goroutines int }

func idleFootprint() footprint {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return footprint{int(ms.HeapInuse + ms.StackInuse), runtime.NumGoroutine()}
}

// reportIdle reports the footprint grown since before, per iteration.
func reportIdle(b *testing.B, before footprint) {
	b.StopTimer()
	after := idleFootprint()
	b.ReportMetric(float64(after.bytes-before.bytes)/float64(b.N), "bytes/actor")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(b.N), "goroutines/actor")
}
