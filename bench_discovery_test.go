package tractor_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// relayTarget is the portal through which the root relays calls in
// BenchmarkPeerCall: one benchmark runs at a time.
var relayTarget atomic.Pointer[tractor.Portal]

type peerLoop struct {
	Name  string // the actor to call
	N     int
	Relay bool // through the root's relay instead of directly
}

var (
	// relaySquare, in the root, passes a call on to relayTarget.
	relaySquare = tractor.Func("bench.relaySquare", func(ctx context.Context, x int) (int, error) {
		return square.Call(ctx, relayTarget.Load(), x)
	})
	// callLoop calls square N times in the actor named Name, directly or
	// through the root, and returns how long the calls took.
	callLoop = tractor.Func("bench.callLoop", func(ctx context.Context, l peerLoop) (time.Duration, error) {
		name, ep := l.Name, square
		if l.Relay {
			name, ep = "root", relaySquare
		}
		p, err := tractor.FindActor(ctx, name)
		if err != nil {
			return 0, err
		}
		start := time.Now()
		for i := range l.N {
			if _, err := ep.Call(ctx, p, i); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	})
	// findLoop finds the actor named name n times.
	findLoop = tractor.Func("bench.findLoop", func(ctx context.Context, l peerLoop) (time.Duration, error) {
		start := time.Now()
		for range l.N {
			if _, err := tractor.FindActor(ctx, l.Name); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	})
)

// benchTree runs body with two process siblings a (exposing the loops) and
// b (exposing square).
func benchTree(b *testing.B, body func(ctx context.Context, a, bp *tractor.Portal)) {
	b.Helper()
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			a, err := n.StartActor(ctx, "a", tractor.Expose(callLoop, findLoop))
			if err != nil {
				return err
			}
			bp, err := n.StartActor(ctx, "b", tractor.Expose(square))
			if err != nil {
				return err
			}
			relayTarget.Store(bp)
			body(ctx, a, bp)
			return nil
		})
	}, tractor.Spawn(tractor.Process), tractor.Expose(relaySquare))
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPeerCall: a call round trip between two process siblings,
// directly (peer to peer over TCP loopback) and relayed through their
// parent (two hops over socketpairs); the parent's own call to a child
// is the one-hop baseline.
func BenchmarkPeerCall(b *testing.B) {
	benchTree(b, func(ctx context.Context, a, bp *tractor.Portal) {
		b.Run("baseline=parent-to-child", func(b *testing.B) {
			for b.Loop() {
				if _, err := square.Call(ctx, bp, 3); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, relay := range []bool{false, true} {
			name := "sibling-direct"
			if relay {
				name = "sibling-relayed-through-parent"
			}
			b.Run(name, func(b *testing.B) {
				took, err := callLoop.Call(ctx, a, peerLoop{Name: "b", N: b.N, Relay: relay})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(took.Nanoseconds())/float64(b.N), "ns/call")
			})
		}
	})
}

// BenchmarkFindActor: FindActor with 1,000 other actors registered, from
// the registrar's own process and from a process actor, which asks the
// registrar over its connection.
func BenchmarkFindActor(b *testing.B) {
	benchTree(b, func(ctx context.Context, a, bp *tractor.Portal) {
		for i := range 1000 {
			info := tractor.ActorInfo{ID: tractor.ActorID{Name: fmt.Sprintf("filler-%d", i), UID: fmt.Sprintf("f%d", i)}, Addr: "127.0.0.1:1"}
			if err := tractor.Register(ctx, info); err != nil {
				b.Fatal(err)
			}
		}
		b.Run("in-registrar-process", func(b *testing.B) {
			for b.Loop() {
				if _, err := tractor.FindActor(ctx, "b"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("from-process-actor", func(b *testing.B) {
			took, err := findLoop.Call(ctx, a, peerLoop{Name: "b", N: b.N})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(took.Nanoseconds())/float64(b.N), "ns/find")
		})
	})
}
