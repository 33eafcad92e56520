package natsnet_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/internal/natstest"
	"github.com/tractor-go/tractor/natsnet"
	"github.com/tractor-go/tractor/tractortest"
	"github.com/tractor-go/tractor/transport"
)

func TestMain(m *testing.M) {
	tractortest.Setup(childOptions()...)
	goleak.VerifyTestMain(m)
}

// childURLEnv names, for a process actor of a test, the NATS server its
// tree's programs use (see TestProcessActorOverNATS).
const childURLEnv = "NATSNET_TEST_URL"

// childOptions are the options a process actor runs with, as main would
// give them to Run: a NATS connection of its own, if its test has one.
func childOptions() []tractor.Option {
	url := os.Getenv(childURLEnv)
	if url == "" {
		return nil
	}
	nc, err := nats.Connect(url, nats.NoReconnect())
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsnet test child:", err)
		os.Exit(3)
	}
	return []tractor.Option{tractor.PeerNetwork(&natsnet.Network{Conn: nc})}
}

// bound bounds what could hang; nothing below is timed against it.
const bound = 30 * time.Second

// connect opens a NATS connection to s, closed when the test ends.
func connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// pair returns both ends of one session: dialled over a, accepted over b.
func pair(t *testing.T, a, b *natsnet.Network) (dialled, accepted net.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	ln, err := b.Listen(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		c   net.Conn
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		got <- result{c, err}
	}()
	dialled, err = a.Dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { dialled.Close(); r.c.Close() })
	return dialled, r.c
}

// TestStreamInOrder writes many writes of random sizes, some far beyond
// the server's maximum payload, and reads back the same bytes in order.
func TestStreamInOrder(t *testing.T) {
	s := natstest.Server(t, func(o *server.Options) { o.MaxPayload = 1024 })
	nw := &natsnet.Network{Conn: connect(t, s), Window: 8 << 10, MaxMsgs: 16}
	d, a := pair(t, nw, nw)
	var want bytes.Buffer
	for i := range 300 {
		b := make([]byte, rand.N(5000))
		for j := range b {
			b[j] = byte(i + j)
		}
		want.Write(b)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := d.Write(want.Bytes())
		errc <- errors.Join(err, d.Close())
	}()
	got, err := io.ReadAll(a)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("read %d bytes, not the %d written in order", len(got), want.Len())
	}
}

// TestCloseSemantics: after the peer's Close, Read returns what was
// written then io.EOF and Write fails; after a local Close, both fail
// with net.ErrClosed; CloseWrite ends only the writing direction.
func TestCloseSemantics(t *testing.T) {
	s := natstest.Server(t)
	nw := &natsnet.Network{Conn: connect(t, s)}
	d, a := pair(t, nw, nw)
	if _, err := d.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	if err := d.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after CloseWrite: %v, want net.ErrClosed", err)
	}
	got, err := io.ReadAll(a)
	if err != nil || string(got) != "last" {
		t.Fatalf("ReadAll after CloseWrite = %q, %v; want \"last\", nil", got, err)
	}
	// Half closed: the other direction still flows.
	if _, err := a.Write([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := d.Read(buf); err != nil || string(buf[:n]) != "reply" {
		t.Fatalf("Read = %q, %v; want \"reply\"", buf[:n], err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
	}
	// The peer learns of the Close: its writes fail, in bounded time.
	deadline := time.Now().Add(bound)
	for {
		_, err := a.Write([]byte("x"))
		if errors.Is(err, io.ErrClosedPipe) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("Write to a closed peer: %v, want io.ErrClosedPipe", err)
		}
		a.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		a.Read(buf) // wait a little for the close to arrive
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestFlowControl: a writer whose reader does not read stops at the
// window, and goes on once the reader reads.
func TestFlowControl(t *testing.T) {
	s := natstest.Server(t)
	nw := &natsnet.Network{Conn: connect(t, s), Window: 1024, MaxMsgs: 64}
	d, a := pair(t, nw, nw)
	chunk := make([]byte, 256)
	sent := 0
	for {
		d.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := d.Write(chunk); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Write: %v, want os.ErrDeadlineExceeded", err)
			}
			break
		}
		sent++
	}
	if sent != 4 {
		t.Fatalf("%d writes of 256 bytes went through a window of 1024", sent)
	}
	if _, err := io.ReadFull(a, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	d.SetWriteDeadline(time.Now().Add(bound))
	if _, err := d.Write(chunk); err != nil {
		t.Fatalf("Write once the reader read: %v", err)
	}
}

// TestUnequalWindows: the two sides of a session may be given different
// windows; a writer with the smaller one still gets credit back from a
// reader with the larger, both ways.
func TestUnequalWindows(t *testing.T) {
	s := natstest.Server(t)
	small := &natsnet.Network{Conn: connect(t, s), Window: 1024, MaxMsgs: 4}
	large := &natsnet.Network{Conn: connect(t, s)}
	d, a := pair(t, small, large)
	for _, dir := range [][2]net.Conn{{d, a}, {a, d}} {
		w, r := dir[0], dir[1]
		want := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB in writes of 16 bytes
		errc := make(chan error, 1)
		go func() {
			w.SetWriteDeadline(time.Now().Add(bound))
			for b := want; len(b) > 0; b = b[16:] {
				if _, err := w.Write(b[:16]); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		r.SetReadDeadline(time.Now().Add(bound))
		got := make([]byte, len(want))
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ReadFull from %v: %v", w.LocalAddr(), err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
}

// TestFullDuplex: both sides write and read at once, with a window far
// smaller than what they send: each side's Read and Write take turns at
// receiving from the peer, and whichever receives wakes the other, the
// Write for its credit and the Read for its data.
func TestFullDuplex(t *testing.T) {
	s := natstest.Server(t)
	nw := &natsnet.Network{Conn: connect(t, s), Window: 256, MaxMsgs: 4}
	d, a := pair(t, nw, nw)
	want := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB in writes of 16 bytes
	write := func(c net.Conn) error {
		for b := want; len(b) > 0; b = b[16:] {
			if _, err := c.Write(b[:16]); err != nil {
				return fmt.Errorf("Write from %v: %w", c.LocalAddr(), err)
			}
		}
		return nil
	}
	read := func(c net.Conn) error {
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil {
			return fmt.Errorf("ReadFull at %v: %w", c.LocalAddr(), err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%v read other bytes than were written", c.LocalAddr())
		}
		return nil
	}
	errc := make(chan error, 4)
	for _, c := range []net.Conn{d, a} {
		c.SetDeadline(time.Now().Add(bound))
		go func() { errc <- write(c) }()
		go func() { errc <- read(c) }()
	}
	for range 4 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestCreditWhileReading: a Write waiting for credit gets it when the
// one ack that grants it is received by a Read of the same side waiting
// for data, with nothing else coming (no keepalives) to wake the Write.
func TestCreditWhileReading(t *testing.T) {
	s := natstest.Server(t)
	nw := &natsnet.Network{Conn: connect(t, s), Window: 1024, Keepalive: time.Hour}
	d, a := pair(t, nw, nw)
	// Deadlines on both ends bound a regression: a Write that is never
	// woken fails within bound rather than hanging the package.
	d.SetDeadline(time.Now().Add(bound))
	a.SetDeadline(time.Now().Add(bound))
	read := make(chan error, 1)
	go func() {
		buf := make([]byte, 8)
		n, err := d.Read(buf)
		if err == nil && string(buf[:n]) != "done" {
			err = fmt.Errorf("read %q, want \"done\"", buf[:n])
		}
		read <- err
	}()
	if _, err := d.Write(make([]byte, 1024)); err != nil { // the whole window, in one message
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := d.Write([]byte("x")) // waits for the reader's ack
		wrote <- err
	}()
	if _, err := io.ReadFull(a, make([]byte, 1024)); err != nil { // one Read, one ack
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("Write once the peer read the window: %v", err)
	}
	if _, err := a.Write([]byte("done")); err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatalf("Read: %v", err)
	}
}

// TestDeadlines: a Read past its deadline fails with
// os.ErrDeadlineExceeded, and a deadline set while Read waits wakes it.
func TestDeadlines(t *testing.T) {
	s := natstest.Server(t)
	nw := &natsnet.Network{Conn: connect(t, s)}
	d, _ := pair(t, nw, nw)
	d.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := d.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v", err)
	}
	d.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := d.Read(make([]byte, 1))
		errc <- err
	}()
	d.SetReadDeadline(time.Unix(1, 0)) // as WireConn does to abort a read
	select {
	case err := <-errc:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Read woken by a deadline: %v, want a timeout", err)
		}
	case <-time.After(bound):
		t.Fatal("a deadline set during Read did not wake it")
	}
}

// TestGapDetected: a message missing from the sequence (as when NATS
// drops it for a slow consumer) fails the session with ErrGap instead of
// the stream going on without it.
func TestGapDetected(t *testing.T) {
	s := natstest.Server(t)
	nc := connect(t, s)
	nw := &natsnet.Network{Conn: nc}
	d, a := pair(t, nw, nw)
	if _, err := d.Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := a.Read(buf); err != nil || string(buf[:n]) != "one" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	// A data message numbered 5 where 2 is due: 2 to 4 were lost.
	forged := binary.BigEndian.AppendUint64([]byte{1}, 5)
	if err := nc.Publish(a.LocalAddr().String(), append(forged, "five"...)); err != nil {
		t.Fatal(err)
	}
	a.SetReadDeadline(time.Now().Add(bound))
	if _, err := a.Read(buf); !errors.Is(err, natsnet.ErrGap) {
		t.Fatalf("Read after a gap: %v, want ErrGap", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, natsnet.ErrGap) {
		t.Fatalf("Write after a gap: %v, want ErrGap", err)
	}
}

// TestPeerVanishes: a peer that stops without closing (its NATS
// connection is gone, as when its process is killed) fails the session
// with ErrPeerGone once the keepalive timeout passes.
func TestPeerVanishes(t *testing.T) {
	s := natstest.Server(t)
	gone := connect(t, s)
	a := &natsnet.Network{Conn: gone, Keepalive: 20 * time.Millisecond}
	b := &natsnet.Network{Conn: connect(t, s), Keepalive: 20 * time.Millisecond}
	_, accepted := pair(t, a, b)
	gone.Close()
	accepted.SetReadDeadline(time.Now().Add(bound))
	if _, err := accepted.Read(make([]byte, 1)); !errors.Is(err, natsnet.ErrPeerGone) {
		t.Fatalf("Read from a vanished peer: %v, want ErrPeerGone", err)
	}
}

// TestAddresses: dialling an address nobody listens at fails with
// transport.ErrNoListener, as a refused TCP connection does; listening
// where a listener answers fails with ErrAddrInUse; a prefix with a
// wildcard is refused.
func TestAddresses(t *testing.T) {
	s := natstest.Server(t)
	nw := &natsnet.Network{Conn: connect(t, s)}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if _, err := nw.Dial(ctx, "nats:nobody.here"); !errors.Is(err, transport.ErrNoListener) {
		t.Fatalf("Dial: %v, want ErrNoListener", err)
	}
	ln, err := nw.Listen(ctx, "nats:taken")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go ln.Accept() // answers until closed
	if _, err := nw.Listen(ctx, "nats:taken"); !errors.Is(err, natsnet.ErrAddrInUse) {
		t.Fatalf("Listen where a listener answers: %v, want ErrAddrInUse", err)
	}
	if _, err := nw.Listen(ctx, "nats:bad.*"); err == nil {
		t.Fatal("Listen on a wildcard prefix succeeded")
	}
}

// TestWireOverNATS runs the wire protocol over a session: the handshake
// with the secret, then messages both ways; a dialer with another secret
// is refused with ErrAuth.
func TestWireOverNATS(t *testing.T) {
	s := natstest.Server(t)
	nw := &natsnet.Network{Conn: connect(t, s)}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cfg := transport.DefaultConfig()
	cfg.Secret = []byte("tree secret")
	ln, err := transport.Streams{Network: nw, Config: cfg}.Listen(ctx, "nats:wire.test")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln.Addr() != "nats:wire.test" {
		t.Fatalf("Addr = %q", ln.Addr())
	}
	answered := make(chan error, 2)
	serve := func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			answered <- err
			return
		}
		defer c.Close()
		wc := c.(*transport.WireConn)
		if _, err := wc.Answer(ctx, func(h transport.Hello) (transport.Hello, error) {
			return transport.Hello{Version: transport.ProtocolVersion, Info: "welcome"}, nil
		}); err != nil {
			answered <- err
			return
		}
		answered <- wc.Serve(func(m transport.Msg) {
			go c.Send(ctx, transport.Msg{Kind: transport.KindReturn, CID: m.CID, Payload: m.Payload})
		})
	}
	go serve()
	c, err := transport.Streams{Network: nw, Config: cfg}.Dial(ctx, ln.Addr())
	if err != nil {
		t.Fatal(err)
	}
	wc := c.(*transport.WireConn)
	if _, err := wc.Handshake(ctx, transport.Hello{Version: transport.ProtocolVersion}); err != nil {
		t.Fatal(err)
	}
	got := make(chan transport.Msg, 1)
	served := make(chan error, 1)
	go func() { served <- wc.Serve(func(m transport.Msg) { got <- m }) }()
	if err := wc.Send(ctx, transport.Msg{Kind: transport.KindCmd, CID: 7, Endpoint: "echo", Payload: "hi"}); err != nil {
		t.Fatal(err)
	}
	m := <-got
	var v string
	if err := transport.Decode(m.Payload, &v); err != nil || m.CID != 7 || v != "hi" {
		t.Fatalf("got %+v (%q, %v)", m, v, err)
	}
	wc.Close()
	<-served
	if err := <-answered; !errors.Is(err, io.EOF) {
		t.Fatalf("listener's Serve after the dialer's Close: %v, want io.EOF", err)
	}

	// Another secret: refused.
	go serve()
	bad := cfg
	bad.Secret = []byte("another")
	c, err = transport.Streams{Network: nw, Config: bad}.Dial(ctx, ln.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.(*transport.WireConn).Handshake(ctx, transport.Hello{Version: transport.ProtocolVersion}); !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("Handshake with another secret: %v, want ErrAuth", err)
	}
	if err := <-answered; !errors.Is(err, transport.ErrAuth) {
		t.Fatalf("Answer to another secret: %v, want ErrAuth", err)
	}
}
