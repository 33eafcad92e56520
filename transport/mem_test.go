package transport_test

import (
	"context"
	"errors"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tractor-go/tractor/transport"
)

var _ transport.Transport = transport.NewMem()

// listen opens a listener on m and closes it when the test ends.
func listen(t *testing.T, m *transport.Mem, addr string) transport.Listener {
	t.Helper()
	l, err := m.Listen(context.Background(), addr)
	if err != nil {
		t.Fatalf("Listen(%q): %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

type dialResult struct {
	conn transport.Conn
	err  error
}

// dialAsync dials addr from a new goroutine; the test must receive the
// result from the returned channel (it is buffered, so the goroutine ends
// either way).
func dialAsync(ctx context.Context, m *transport.Mem, addr string) <-chan dialResult {
	ch := make(chan dialResult, 1)
	go func() {
		c, err := m.Dial(ctx, addr)
		ch <- dialResult{c, err}
	}()
	return ch
}

func recvDial(t *testing.T, ch <-chan dialResult) dialResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitLimit):
		t.Fatalf("Dial did not return")
		return dialResult{}
	}
}

// connect dials l from a goroutine and accepts, returning (dialer, accepted).
func connect(t *testing.T, m *transport.Mem, l transport.Listener) (transport.Conn, transport.Conn) {
	t.Helper()
	ctx := context.Background()
	ch := dialAsync(ctx, m, l.Addr())
	acc, err := l.Accept(ctx)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	r := recvDial(t, ch)
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}
	return r.conn, acc
}

func TestMemName(t *testing.T) {
	if got := transport.NewMem().Name(); got != "mem" {
		t.Fatalf("Name() = %q, want %q", got, "mem")
	}
}

func TestMemListenEmptyPicksDistinctAddresses(t *testing.T) {
	m := transport.NewMem()
	seen := map[string]transport.Listener{}
	for range 5 {
		l := listen(t, m, "")
		addr := l.Addr()
		if addr == "" {
			t.Fatalf("Listen(\"\") gave an empty address")
		}
		if seen[addr] != nil {
			t.Fatalf("Listen(\"\") gave %q twice", addr)
		}
		seen[addr] = l
	}
	// Each picked address reaches its own listener.
	for addr, l := range seen {
		d, a := connect(t, m, l)
		sa := serve(t, a)
		if err := d.Send(context.Background(), yield(1, addr)); err != nil {
			t.Fatalf("Send via %q: %v", addr, err)
		}
		if got := sa.col.waitN(t, 1); got[0].Payload != addr {
			t.Fatalf("listener %q accepted the conn dialled to %v", addr, got[0].Payload)
		}
		d.Close()
	}
}

func TestMemListenExplicitAddress(t *testing.T) {
	m := transport.NewMem()
	l := listen(t, m, "actor/alpha")
	if got := l.Addr(); got != "actor/alpha" {
		t.Fatalf("Addr() = %q, want %q", got, "actor/alpha")
	}
}

func TestMemListenTakenAddress(t *testing.T) {
	m := transport.NewMem()
	ctx := context.Background()
	first := listen(t, m, "busy")
	if l, err := m.Listen(ctx, "busy"); err == nil {
		l.Close()
		t.Fatalf("second Listen on a taken address succeeded")
	}
	// A fresh address picked by "" is never a taken one.
	auto := listen(t, m, "")
	if l, err := m.Listen(ctx, auto.Addr()); err == nil {
		l.Close()
		t.Fatalf("Listen on the picked address %q succeeded while it is in use", auto.Addr())
	}
	// Closing the listener frees its address.
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	again := listen(t, m, "busy")
	if again.Addr() != "busy" {
		t.Fatalf("relisten Addr() = %q", again.Addr())
	}
}

func TestMemAddressSpacesAreSeparate(t *testing.T) {
	m1, m2 := transport.NewMem(), transport.NewMem()
	listen(t, m1, "shared-name")
	listen(t, m2, "shared-name") // not taken in m2's space
	listen(t, m1, "only-in-m1")
	if _, err := m2.Dial(context.Background(), "only-in-m1"); !errors.Is(err, transport.ErrNoListener) {
		t.Fatalf("Dial across address spaces returned %v, want ErrNoListener", err)
	}
}

func TestMemListenWithEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := transport.NewMem()
	if l, err := m.Listen(ctx, "x"); !errors.Is(err, context.Canceled) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Listen with cancelled ctx returned %v, want context.Canceled", err)
	}
	// The failed Listen did not take the address.
	listen(t, m, "x")
}

func TestMemDialUnknownAddress(t *testing.T) {
	m := transport.NewMem()
	c, err := m.Dial(context.Background(), "nobody-here")
	if !errors.Is(err, transport.ErrNoListener) {
		t.Fatalf("Dial to unknown address returned %v, want ErrNoListener", err)
	}
	if c != nil {
		t.Fatalf("failed Dial returned a Conn %v", c)
	}
}

func TestMemDialClosedListener(t *testing.T) {
	m := transport.NewMem()
	l := listen(t, m, "gone")
	l.Close()
	if _, err := m.Dial(context.Background(), "gone"); !errors.Is(err, transport.ErrNoListener) {
		t.Fatalf("Dial after listener Close returned %v, want ErrNoListener", err)
	}
}

func TestMemDialBlockedUntilListenerCloses(t *testing.T) {
	m := transport.NewMem()
	l := listen(t, m, "closing")
	ch := dialAsync(context.Background(), m, "closing")
	waitBlocked(t, "transport.(*Mem).Dial")
	select {
	case r := <-ch:
		t.Fatalf("Dial returned (%v, %v) before any Accept", r.conn, r.err)
	default:
	}
	l.Close()
	if r := recvDial(t, ch); !errors.Is(r.err, transport.ErrNoListener) {
		t.Fatalf("Dial pending at listener Close returned %v, want ErrNoListener", r.err)
	}
}

func TestMemDialAcceptRoundTrip(t *testing.T) {
	m := transport.NewMem()
	l := listen(t, m, "")
	dialer, accepted := connect(t, m, l)
	sd, sa := serve(t, dialer), serve(t, accepted)
	ctx := context.Background()

	req := transport.Msg{Kind: transport.KindCmd, CID: 1, Endpoint: "square", Mode: 1, Payload: 7}
	if err := dialer.Send(ctx, req); err != nil {
		t.Fatalf("dialer Send: %v", err)
	}
	req.Size = transport.PayloadSize(req.Payload) // as Serve measures it
	if got := sa.col.waitN(t, 1); got[0] != req {
		t.Fatalf("accepted side got %+v, want %+v", got[0], req)
	}
	resp := transport.Msg{Kind: transport.KindReturn, CID: 1, Payload: 49}
	if err := accepted.Send(ctx, resp); err != nil {
		t.Fatalf("accepted Send: %v", err)
	}
	resp.Size = transport.PayloadSize(resp.Payload)
	if got := sd.col.waitN(t, 1); got[0] != resp {
		t.Fatalf("dialer got %+v, want %+v", got[0], resp)
	}

	// Closing one end ends the other's Serve with io.EOF.
	dialer.Close()
	if err := sa.wait(t); !errors.Is(err, io.EOF) {
		t.Fatalf("accepted Serve after dialer Close returned %v, want io.EOF", err)
	}
	if err := sd.wait(t); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("dialer Serve after its Close returned %v, want ErrClosed", err)
	}
}

func TestMemManyDialersEachGetOwnConn(t *testing.T) {
	const n = 6
	m := transport.NewMem()
	l := listen(t, m, "hub")
	ctx := context.Background()

	var wg sync.WaitGroup
	dialed := make(chan transport.Conn, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := m.Dial(ctx, "hub")
			if err != nil {
				t.Errorf("Dial %d: %v", i, err)
				return
			}
			if err := c.Send(ctx, yield(uint64(i), i)); err != nil {
				t.Errorf("Send %d: %v", i, err)
			}
			dialed <- c
		}()
	}
	var ids []int
	for range n {
		c, err := l.Accept(ctx)
		if err != nil {
			t.Fatalf("Accept: %v", err)
		}
		s := serve(t, c)
		got := s.col.waitN(t, 1)
		if len(got) != 1 {
			t.Fatalf("accepted conn got %d messages, want exactly 1", len(got))
		}
		ids = append(ids, got[0].Payload.(int))
	}
	wg.Wait()
	close(dialed)
	for c := range dialed {
		c.Close()
	}
	sort.Ints(ids)
	for i, id := range ids {
		if id != i {
			t.Fatalf("accepted ids %v, want each of 0..%d once", ids, n-1)
		}
	}
}

func TestMemAcceptedConnOutlivesListener(t *testing.T) {
	m := transport.NewMem()
	l := listen(t, m, "")
	dialer, accepted := connect(t, m, l)
	defer dialer.Close()
	if err := l.Close(); err != nil {
		t.Fatalf("listener Close: %v", err)
	}
	sa := serve(t, accepted)
	if err := dialer.Send(context.Background(), yield(5, "still open")); err != nil {
		t.Fatalf("Send after listener Close: %v", err)
	}
	if got := sa.col.waitN(t, 1); got[0].Payload != "still open" {
		t.Fatalf("got %+v", got[0])
	}
}

func TestMemAcceptAfterListenerClose(t *testing.T) {
	m := transport.NewMem()
	l := listen(t, m, "")
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	c, err := l.Accept(context.Background())
	if !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Accept after Close returned %v, want ErrClosed", err)
	}
	if c != nil {
		t.Fatalf("failed Accept returned a Conn")
	}
}

func TestMemAcceptUnblockedByListenerClose(t *testing.T) {
	m := transport.NewMem()
	l := listen(t, m, "")
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept(context.Background())
		errc <- err
	}()
	waitBlocked(t, "transport.(*memListener).Accept")
	l.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("blocked Accept returned %v at Close, want ErrClosed", err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("Accept did not return after Close")
	}
}

func TestMemDialHonoursContext(t *testing.T) {
	m := transport.NewMem()
	listen(t, m, "slow") // never accepts

	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := m.Dial(ctx, "slow"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Dial returned %v, want context.Canceled", err)
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		ch := dialAsync(ctx, m, "slow")
		waitBlocked(t, "transport.(*Mem).Dial")
		cancel()
		if r := recvDial(t, ch); !errors.Is(r.err, context.Canceled) || r.conn != nil {
			t.Fatalf("Dial returned (%v, %v), want (nil, context.Canceled)", r.conn, r.err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := m.Dial(ctx, "slow"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial returned %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestMemAcceptHonoursContext(t *testing.T) {
	m := transport.NewMem()
	l := listen(t, m, "") // nobody dials

	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if c, err := l.Accept(ctx); !errors.Is(err, context.Canceled) || c != nil {
			t.Fatalf("Accept returned (%v, %v), want (nil, context.Canceled)", c, err)
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := l.Accept(ctx)
			errc <- err
		}()
		waitBlocked(t, "transport.(*memListener).Accept")
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Accept returned %v, want context.Canceled", err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("Accept did not return after cancel")
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := l.Accept(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Accept returned %v, want context.DeadlineExceeded", err)
		}
	})
	// A cancelled Accept does not spoil the listener.
	t.Run("usable afterwards", func(t *testing.T) {
		d, a := connect(t, m, l)
		d.Close()
		a.Close()
	})
}

func TestMemListenEmptySkipsTakenAddress(t *testing.T) {
	ctx := context.Background()
	m := transport.NewMem()
	l1, err := m.Listen(ctx, "mem-1")
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Close()
	l2, err := m.Listen(ctx, "")
	if err != nil {
		t.Fatalf("Listen(\"\") after an explicit mem-1: %v", err)
	}
	defer l2.Close()
	if l2.Addr() == "mem-1" {
		t.Fatal("picked a taken address")
	}
}
