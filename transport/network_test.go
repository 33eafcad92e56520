package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/tractor-go/tractor/transport"
)

// loopNetwork is a [transport.Network] over TCP on the loopback
// interface, its addresses "loop:host:port".
type loopNetwork struct{}

func (loopNetwork) Scheme() string { return "loop" }

func (loopNetwork) Listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", strings.TrimPrefix(addr, "loop:"))
	if err != nil {
		return nil, err
	}
	return loopListener{ln}, nil
}

func (loopNetwork) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(addr, "loop:"))
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("%w: %w", transport.ErrNoListener, err)
	}
	return nc, err
}

// loopListener gives its addresses with the network's scheme.
type loopListener struct{ net.Listener }

func (l loopListener) Addr() net.Addr { return loopAddr{l.Listener.Addr()} }

type loopAddr struct{ net.Addr }

func (a loopAddr) String() string { return "loop:" + a.Addr.String() }

// TestStreams: a Network's addresses are told by their scheme, and
// Streams makes connections of its streams that shake hands and carry
// messages; a Network's errors pass through, wrapped.
func TestStreams(t *testing.T) {
	if transport.HasScheme(nil, "loop:x") {
		t.Error("HasScheme(nil) is true")
	}
	if !transport.HasScheme(loopNetwork{}, "loop:127.0.0.1:1") || transport.HasScheme(loopNetwork{}, "127.0.0.1:1") {
		t.Error("HasScheme does not tell the network's addresses from others")
	}
	ctx := context.Background()
	s := transport.Streams{Network: loopNetwork{}}
	if _, err := s.Listen(ctx, "loop:not an address"); err == nil || !strings.Contains(err.Error(), "listen loop") {
		t.Fatalf("Listen at a bad address: %v, want the network's error", err)
	}
	l, err := s.Listen(ctx, "loop:127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr()
	accepted := make(chan transport.Conn, 1)
	go func() {
		c, err := l.Accept(ctx)
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	dc, err := s.Dial(ctx, addr)
	if err != nil {
		t.Fatalf("Dial %s: %v", addr, err)
	}
	ac := <-accepted
	if ac == nil {
		dc.Close()
		l.Close()
		t.FailNow()
	}
	a, b := dc.(*transport.WireConn), ac.(*transport.WireConn)
	shake(t, a, b, transport.Hello{}, transport.Hello{})
	sb := serve(t, b)
	serve(t, a)
	if err := a.Send(ctx, yield(1, "over the network")); err != nil {
		t.Fatal(err)
	}
	sb.col.waitN(t, 1)
	closeBoth(a, b)
	l.Close()
	if _, err := s.Dial(ctx, addr); !errors.Is(err, transport.ErrNoListener) {
		t.Fatalf("Dial once the listener closed: %v, want ErrNoListener", err)
	}
}
