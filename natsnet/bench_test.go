package natsnet_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/natsnet"
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

// twoPrograms runs program A, which hosts a-worker, and program B, which
// runs body with a portal to a-worker: over NATS (net "nats", as in
// TestProgramsOverNATS) or over TCP on loopback (net "tcp").
func twoPrograms(b *testing.B, network string, body func(ctx context.Context, p *tractor.Portal)) {
	s := startServer(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*bound)
	defer cancel()
	var aOpts, bOpts []tractor.Option
	if network == "nats" {
		aOpts = []tractor.Option{tractor.ListenAddr("nats:tractor.bench"), tractor.PeerNetwork(&natsnet.Network{Conn: connect(b, s)})}
		bOpts = []tractor.Option{tractor.PeerNetwork(&natsnet.Network{Conn: connect(b, s)})}
	} else {
		aOpts = []tractor.Option{tractor.ListenAddr("127.0.0.1:0")}
	}
	err := tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			if _, err := n.StartActor(ctx, "a-worker", tractor.Expose(square, string32)); err != nil {
				return err
			}
			return tractor.Run(ctx, func(ctx context.Context) error {
				p, err := tractor.WaitForActor(ctx, "a-worker")
				if err != nil {
					return err
				}
				if _, err := square.Call(ctx, p, 1); err != nil { // connected
					return err
				}
				body(ctx, p)
				return nil
			}, append(bOpts, tractor.Registrar(tractor.CurrentActor(ctx).Addr()), tractor.Secret("bench"))...)
		})
	}, append(aOpts, tractor.Secret("bench"))...)
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPeers compares a call and a stream of 32-byte items between
// actors of two programs over NATS with the same over TCP, and with raw
// NATS request/reply and publish/subscribe loops between two connections
// to the same server: the engine's own limit. ns/op is per call, per item
// or per message.
func BenchmarkPeers(b *testing.B) {
	for _, network := range []string{"nats", "tcp"} {
		b.Run("tractor=call/net="+network, func(b *testing.B) {
			twoPrograms(b, network, func(ctx context.Context, p *tractor.Portal) {
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if v, err := square.Call(ctx, p, i); err != nil || v != i*i {
						b.Fatalf("square(%d) = %d, %v", i, v, err)
					}
				}
			})
		})
	}
	b.Run("baseline=nats-request", func(b *testing.B) {
		s := startServer(b)
		server, client := connect(b, s), connect(b, s)
		sub, err := server.Subscribe("bench.echo", func(m *nats.Msg) { m.Respond(m.Data) })
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Unsubscribe()
		server.Flush()
		msg := []byte(item32)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := client.Request("bench.echo", msg, bound); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, network := range []string{"nats", "tcp"} {
		b.Run("tractor=stream32/net="+network, func(b *testing.B) {
			twoPrograms(b, network, func(ctx context.Context, p *tractor.Portal) {
				b.ReportAllocs()
				b.ResetTimer()
				st, err := string32.Open(ctx, p, b.N)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for v, err := range st.All(ctx) {
					if err != nil || len(v) != 32 {
						b.Fatalf("item %d: %q, %v", n, v, err)
					}
					n++
				}
				if n != b.N {
					b.Fatalf("%d items, want %d", n, b.N)
				}
			})
		})
	}
	b.Run("baseline=nats-publish", func(b *testing.B) {
		s := startServer(b)
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
