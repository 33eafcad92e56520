package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tractor-go/tractor/transport"
)

func TestTCPListenAddr(t *testing.T) {
	tr := transport.TCP{}
	l, err := tr.Listen(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	host, port, err := net.SplitHostPort(l.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr() = %q (%v), want 127.0.0.1 and a chosen port", l.Addr(), err)
	}
	// The address can be listened on explicitly too, once free.
	l.Close()
	l2, err := tr.Listen(context.Background(), l.Addr())
	if err != nil {
		t.Fatalf("Listen(%q) again: %v", l.Addr(), err)
	}
	l2.Close()
}

func TestTCPDialNoListener(t *testing.T) {
	l, err := transport.TCP{}.Listen(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr()
	l.Close()
	if _, err := (transport.TCP{}).Dial(context.Background(), addr); !errors.Is(err, transport.ErrNoListener) {
		t.Fatalf("Dial to a closed port returned %v, want ErrNoListener", err)
	}
}

func TestTCPAcceptHonoursCtxAndClose(t *testing.T) {
	l, err := transport.TCP{}.Listen(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Accept(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Accept returned %v, want context.DeadlineExceeded", err)
	}
	// An Accept waiting when the listener closes returns ErrClosed.
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept(context.Background())
		done <- err
	}()
	waitBlocked(t, "transport.(*tcpListener).Accept")
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Accept during Close returned %v, want ErrClosed", err)
	}
	if _, err := l.Accept(context.Background()); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Accept after Close returned %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestTCPUnacceptedConnectionClosesWithListener(t *testing.T) {
	l, err := transport.TCP{}.Listen(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := transport.TCP{}.Dial(context.Background(), l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, c)
	waitBlocked(t, "transport.(*tcpListener).acceptLoop") // it took the connection in, and waits to hand it over
	l.Close()
	if err := s.wait(t); err != io.EOF {
		t.Fatalf("Serve of a connection the listener dropped returned %v, want io.EOF", err)
	}
}

func TestTCPManyConnections(t *testing.T) {
	ctx := context.Background()
	tr := transport.TCP{Config: transport.DefaultConfig()}
	l, err := tr.Listen(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 10
	accepted := make(chan transport.Conn, n)
	go func() {
		for range n {
			c, err := l.Accept(ctx)
			if err != nil {
				t.Errorf("Accept: %v", err)
				return
			}
			accepted <- c
		}
	}()
	for i := range n {
		d, err := tr.Dial(ctx, l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		a := (<-accepted).(*transport.WireConn)
		shake(t, d.(*transport.WireConn), a, transport.Hello{}, transport.Hello{})
		sa := serve(t, a)
		serve(t, d)
		if err := d.Send(ctx, yield(uint64(i), i)); err != nil {
			t.Fatal(err)
		}
		if got := sa.col.waitN(t, 1); got[0].CID != uint64(i) {
			t.Fatalf("connection %d delivered %+v", i, got)
		}
	}
}
