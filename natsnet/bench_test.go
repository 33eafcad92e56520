package natsnet_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/internal/natstest"
)

// item32 is a stream item of 32 bytes.
var item32 = strings.Repeat("x", 32)

var string32 = tractor.Stream("natsnet.string32", func(ctx context.Context, n int, yield func(string) error) error {
	for range n {
		if err := yield(item32); err != nil {
			return err
		}
	}
	return nil
})

// BenchmarkPeers compares a call and a stream of 32-byte items between
// actors of two programs over NATS with the same over TCP, and with raw
// NATS request/reply and publish/subscribe loops between two connections
// to the same server: the engine's own limit. ns/op is per call, per item
// or per message.
func BenchmarkPeers(b *testing.B) {
	for _, network := range []string{"nats", "tcp"} {
		b.Run("tractor=call/net="+network, func(b *testing.B) {
			err := twoPrograms(b, network, func(ctx context.Context, p *tractor.Portal) error {
				if _, err := square.Call(ctx, p, 1); err != nil { // connected
					return err
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if v, err := square.Call(ctx, p, i); err != nil || v != i*i {
						return fmt.Errorf("square(%d) = %d, %w", i, v, err)
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
	b.Run("baseline=nats-request", func(b *testing.B) {
		request := echoRequest(b, natstest.Server(b))
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if err := request(); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The pair again, interleaved call by call through one server, so
	// that the load of a shared machine weighs on both alike. ns/op is a
	// call and a request; the medians of each, and their ratio, stand
	// against the few calls or requests that a busy machine delays by
	// milliseconds; mean-call/request is the ratio of their means.
	b.Run("tractor=call/baseline=nats-request", func(b *testing.B) {
		s := natstest.Server(b)
		request := echoRequest(b, s)
		err := twoProgramsOn(b, s, "nats", func(ctx context.Context, p *tractor.Portal) error {
			if _, err := square.Call(ctx, p, 1); err != nil { // connected
				return err
			}
			calls, requests := make([]time.Duration, b.N), make([]time.Duration, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				if err := request(); err != nil {
					return err
				}
				t1 := time.Now()
				if v, err := square.Call(ctx, p, i); err != nil || v != i*i {
					return fmt.Errorf("square(%d) = %d, %w", i, v, err)
				}
				requests[i], calls[i] = t1.Sub(t0), time.Since(t1)
			}
			b.StopTimer()
			call, req := median(calls), median(requests)
			b.ReportMetric(float64(call), "call-p50-ns")
			b.ReportMetric(float64(req), "request-p50-ns")
			b.ReportMetric(float64(call)/float64(req), "call/request")
			b.ReportMetric(float64(sum(calls))/float64(sum(requests)), "mean-call/request")
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	})
	for _, network := range []string{"nats", "tcp"} {
		b.Run("tractor=stream32/net="+network, func(b *testing.B) {
			err := twoPrograms(b, network, func(ctx context.Context, p *tractor.Portal) error {
				if _, err := square.Call(ctx, p, 1); err != nil { // connected
					return err
				}
				b.ReportAllocs()
				b.ResetTimer()
				st, err := string32.Open(ctx, p, b.N)
				if err != nil {
					return err
				}
				n := 0
				for v, err := range st.All(ctx) {
					if err != nil || len(v) != 32 {
						return fmt.Errorf("item %d: %q, %w", n, v, err)
					}
					n++
				}
				if n != b.N {
					return fmt.Errorf("%d items, want %d", n, b.N)
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
	b.Run("baseline=nats-publish", func(b *testing.B) {
		s := natstest.Server(b)
		server, client := connect(b, s), connect(b, s)
		var got atomic.Int64
		done := make(chan struct{})
		sub, err := server.Subscribe("bench.sink", func(*nats.Msg) {
			if got.Add(1) == int64(b.N) {
				close(done)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Unsubscribe()
		sub.SetPendingLimits(-1, -1) // a publisher outruns the handler: nothing may drop
		server.Flush()
		msg := []byte(item32)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if err := client.Publish("bench.sink", msg); err != nil {
				b.Fatal(err)
			}
		}
		client.Flush()
		<-done
	})
}

// echoRequest returns a raw NATS request/reply of a 32-byte message
// through s, between two connections of its own: the engine's own round
// trip.
func echoRequest(b *testing.B, s *server.Server) func() error {
	server, client := connect(b, s), connect(b, s)
	sub, err := server.Subscribe("bench.echo", func(m *nats.Msg) { m.Respond(m.Data) })
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sub.Unsubscribe() })
	if err := server.Flush(); err != nil {
		b.Fatal(err)
	}
	msg := []byte(item32)
	return func() error {
		_, err := client.Request("bench.echo", msg, bound)
		return err
	}
}

// sum returns the sum of ds.
func sum(ds []time.Duration) (total time.Duration) {
	for _, d := range ds {
		total += d
	}
	return total
}

// median returns the median of ds, which it sorts.
func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}
