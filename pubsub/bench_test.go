package pubsub_test

import (
	"context"
	"io"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/pubsub"
)

// BenchmarkFanout publishes b.N small messages (ints) to 1, 10 and 100
// subscribers and reports the messages delivered a second, summed over
// subscribers: through a raw channel per subscriber, from a publisher in a
// goroutine actor, and from one in a process actor (every value crosses
// the process boundary once, then fans out in the subscribers' actor).
func BenchmarkFanout(b *testing.B) {
	for _, k := range []int{1, 10, 100} {
		b.Run("subs="+strconv.Itoa(k)+"/baseline=chan", func(b *testing.B) {
			chans := make([]chan int, k)
			for i := range chans {
				chans[i] = make(chan int, 1024)
			}
			var wg sync.WaitGroup
			start := time.Now()
			for _, c := range chans {
				wg.Go(func() {
					for range c {
					}
				})
			}
			for i := range b.N {
				for _, c := range chans {
					c <- i
				}
			}
			for _, c := range chans {
				close(c)
			}
			wg.Wait()
			report(b, k, time.Since(start))
		})
		for _, h := range []hosting{hostings[0], hostings[1]} {
			b.Run("subs="+strconv.Itoa(k)+"/"+h.name, func(b *testing.B) {
				benchPubsub(b, h, k)
			})
		}
	}
}

func report(b *testing.B, subs int, took time.Duration) {
	b.ReportMetric(float64(b.N*subs)/took.Seconds(), "delivered/s")
}

// gated publishes 0..key-1 on topic "t" once a subscriber wants topic
// "go" too, then returns: the benchmark's subscriptions all join before
// the first value, so that each receives every one.
var gated = pubsub.Publish("bench.gated", func(ctx context.Context, f *pubsub.Feed[int]) error {
	n, err := strconv.Atoi(f.Key())
	if err != nil {
		return err
	}
	for {
		changed := f.Changed()
		if slices.Contains(f.Topics(), "go") {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i := range n {
		f.Publish("t", i)
	}
	return nil
})

// benchPubsub runs one fan-out of b.N values to k subscriptions of the
// root, from the gated publisher in an actor hosted per h.
func benchPubsub(b *testing.B, h hosting, k int) {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			pub, err := n.StartActor(ctx, "pub", tractor.Expose(gated.Endpoint()))
			if err != nil {
				return err
			}
			b.ResetTimer()
			start := time.Now()
			subs := make([]*pubsub.Subscription[int], k)
			for i := range subs {
				// Every subscription is in before the first value, so
				// each gets every value; the window holds them all.
				subs[i], err = gated.Subscribe(ctx, pub, []string{"t"}, pubsub.Key(strconv.Itoa(b.N)), pubsub.Window(b.N))
				if err != nil {
					return err
				}
			}
			gate, err := gated.Subscribe(ctx, pub, []string{"go"}, pubsub.Key(strconv.Itoa(b.N)))
			if err != nil {
				return err
			}
			defer gate.Close()
			var wg sync.WaitGroup
			for _, sub := range subs {
				wg.Go(func() {
					got := 0
					for {
						if _, err := sub.Receive(ctx); err != nil {
							if err != io.EOF || got != b.N {
								b.Errorf("after %d of %d: %v", got, b.N, err)
							}
							return
						}
						got++
					}
				})
			}
			wg.Wait()
			took := time.Since(start)
			b.StopTimer()
			for _, sub := range subs {
				sub.Close()
			}
			report(b, k, took)
			return nil
		})
	}, h.opts...)
	if err != nil {
		b.Fatal(err)
	}
}
