package tractor_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// TestSlowHandshakesBounded: connections that never complete the
// handshake cost the listener a bounded amount, however many there are:
// they do not get a goroutine each for the handshake's whole timeout, and
// a peer with the secret is admitted among them.
func TestSlowHandshakesBounded(t *testing.T) {
	const (
		secret = "slow-handshakes"
		silent = 400 // connections that say nothing
	)
	err := run(t, goroutines, func(ctx context.Context) error {
		addr := tractor.CurrentActor(ctx).Addr()
		before := runtime.NumGoroutine()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range silent {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("dial %d: %v", len(conns), err)
			}
			conns = append(conns, c)
		}
		// A peer with the secret is admitted meanwhile. Its handshake
		// answered, the listener has taken in every connection queued
		// before it: the silent ones.
		cfg := transport.DefaultConfig()
		cfg.Secret = []byte(secret)
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		conn, err := transport.TCP{Config: cfg}.Dial(hctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ask := transport.Hello{Info: peerHello{From: tractor.ActorID{Name: "peer", UID: "p"}, To: tractor.CurrentActor(ctx).ID().UID}}
		if _, err := conn.(*transport.WireConn).Handshake(hctx, ask); err != nil {
			t.Fatalf("handshake with the secret among the silent ones: %v", err)
		}
		// A goroutine each would still wait for its handshake's timeout.
		if cost := runtime.NumGoroutine() - before; cost >= silent {
			t.Errorf("%d silent connections cost %d goroutines; want a bound below one each", silent, cost)
		}
		return nil
	}, tractor.Secret(secret))
	if err != nil {
		t.Fatal(err)
	}
}

// TestRefusedPeersDoNotFloodTheLog: what unauthenticated peers do is not
// worth a warning each: anyone who reaches the listener (a port scanner)
// could otherwise fill the log at will.
func TestRefusedPeersDoNotFloodTheLog(t *testing.T) {
	var log syncBuffer
	err := run(t, goroutines, func(ctx context.Context) error {
		addr := tractor.CurrentActor(ctx).Addr()
		for range 50 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			closedByPeer(c)
			c.Close()
		}
		return nil
	}, tractor.LogOutput(&log))
	if err != nil {
		t.Fatal(err)
	}
	if lines := log.lines(t); len(lines) > 1 {
		t.Fatalf("50 refused connections logged %d lines at the default level; the first: %v", len(lines), lines[0])
	}
}

// TestListenAddrUnspecifiedHost: an actor's address is what peers on
// other hosts dial, so it cannot be an unspecified host ("0.0.0.0",
// ":7000"): registered as "[::]:7000", a peer elsewhere would dial
// itself, and purge the live entry when nothing answers there. Run says
// so at once instead.
func TestListenAddrUnspecifiedHost(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		ran := false
		err := tractor.Run(context.Background(), func(ctx context.Context) error {
			ran = true
			infos, err := tractor.Actors(ctx)
			if err == nil {
				t.Logf("registered at %s", infos[0].Addr)
			}
			return nil
		}, tractor.ListenAddr(addr))
		if !errors.Is(err, tractor.ErrMisuse) || !strings.Contains(err.Error(), addr) || ran {
			t.Errorf("Run with ListenAddr(%q) = %v (body ran: %v); want ErrMisuse naming the address", addr, err, ran)
		}
	}
}
