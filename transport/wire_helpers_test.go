package transport_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/tractor-go/tractor/transport"
)

// connType makes the two ends of a wire connection over one kind of
// stream, as yamux's testConnTypes does: every message-level test runs over
// each of them. The ends have not shaken hands.
type connType struct {
	name string
	make func(t testing.TB, ca, cb transport.Config) (a, b *transport.WireConn)
}

var connTypes = []connType{
	{"socketpair", socketpairConns},
	{"tcp", tcpConns},
}

// forEachConnType runs body once per connection type, as a subtest.
func forEachConnType(t *testing.T, body func(t *testing.T, ct connType)) {
	for _, ct := range connTypes {
		t.Run(ct.name, func(t *testing.T) { body(t, ct) })
	}
}

// socketpairConns returns the two ends of a [transport.Socketpair], each
// wrapped with [transport.FileConn] as the parent and the child would.
func socketpairConns(t testing.TB, ca, cb transport.Config) (a, b *transport.WireConn) {
	t.Helper()
	pf, cf, err := transport.Socketpair()
	if err != nil {
		t.Fatalf("Socketpair: %v", err)
	}
	if a, err = transport.FileConn(pf, ca); err != nil {
		t.Fatalf("FileConn(parent): %v", err)
	}
	if b, err = transport.FileConn(cf, cb); err != nil {
		t.Fatalf("FileConn(child): %v", err)
	}
	t.Cleanup(func() { closeBoth(a, b) })
	return a, b
}

// tcpConns returns a dialled and an accepted end of a TCP connection on
// 127.0.0.1.
func tcpConns(t testing.TB, ca, cb transport.Config) (a, b *transport.WireConn) {
	t.Helper()
	ctx := context.Background()
	l, err := transport.TCP{Config: cb}.Listen(ctx, "")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer l.Close()
	type result struct {
		c   transport.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := l.Accept(ctx)
		accepted <- result{c, err}
	}()
	da, err := transport.TCP{Config: ca}.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	r := <-accepted
	if r.err != nil {
		da.Close()
		t.Fatalf("Accept: %v", r.err)
	}
	a, b = da.(*transport.WireConn), r.c.(*transport.WireConn)
	t.Cleanup(func() { closeBoth(a, b) })
	return a, b
}

// shake runs both sides' handshakes concurrently and fails the test if
// either fails. It returns the Hello each side received.
func shake(t testing.TB, a, b *transport.WireConn, ha, hb transport.Hello) (fromB, fromA transport.Hello) {
	t.Helper()
	ea, eb := handshakeBoth(a, b, ha, hb, context.Background())
	if ea.err != nil || eb.err != nil {
		t.Fatalf("Handshake: a: %v; b: %v", ea.err, eb.err)
	}
	return ea.peer, eb.peer
}

type shaken struct {
	peer transport.Hello
	err  error
}

func handshakeBoth(a, b *transport.WireConn, ha, hb transport.Hello, ctx context.Context) (ra, rb shaken) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ra.peer, ra.err = a.Handshake(ctx, ha) }()
	go func() { defer wg.Done(); rb.peer, rb.err = b.Handshake(ctx, hb) }()
	wg.Wait()
	return ra, rb
}

// connected returns both ends of a connection of type ct with default
// configuration, shaken hands, each served into a collector.
func connected(t *testing.T, ct connType) (a, b *transport.WireConn, sa, sb *serving) {
	t.Helper()
	a, b = ct.make(t, transport.DefaultConfig(), transport.DefaultConfig())
	shake(t, a, b, transport.Hello{}, transport.Hello{})
	return a, b, serve(t, a), serve(t, b)
}

// rawPair returns a wire connection and the raw stream socket at the other
// end of a socketpair, for tests that write bytes by hand or watch them.
func rawPair(t testing.TB, cfg transport.Config) (*transport.WireConn, net.Conn) {
	t.Helper()
	pf, cf, err := transport.Socketpair()
	if err != nil {
		t.Fatalf("Socketpair: %v", err)
	}
	c, err := transport.FileConn(pf, cfg)
	if err != nil {
		t.Fatalf("FileConn: %v", err)
	}
	raw, err := net.FileConn(cf)
	cf.Close()
	if err != nil {
		t.Fatalf("net.FileConn: %v", err)
	}
	t.Cleanup(func() { raw.Close(); c.Close() })
	return c, raw
}

// frame returns a frame with the given flags and body, its length prefix
// computed as the format says.
func frame(flags byte, body []byte) []byte {
	f := binary.LittleEndian.AppendUint32(nil, uint32(1+len(body)))
	f = append(f, flags)
	return append(f, body...)
}

// readFrame reads one frame from r and returns its flags and body.
func readFrame(r io.Reader) (flags byte, body []byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	b := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return b[0], b[1:], nil
}

// decodeAs decodes payload into a fresh T.
func decodeAs[T any](t testing.TB, payload any) T {
	t.Helper()
	var v T
	if err := transport.Decode(payload, &v); err != nil {
		t.Fatalf("Decode into %T: %v", &v, err)
	}
	return v
}

// tap is a stream that records the bytes read through it.
type tap struct {
	net.Conn
	mu   sync.Mutex
	read []byte
}

func (t *tap) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	t.mu.Lock()
	t.read = append(t.read, p[:n]...)
	t.mu.Unlock()
	return n, err
}

// frames splits what the tap read so far into frames.
func (t *tap) frames(tb testing.TB) (flags []byte, bodies [][]byte) {
	tb.Helper()
	t.mu.Lock()
	b := append([]byte(nil), t.read...)
	t.mu.Unlock()
	for len(b) > 0 {
		if len(b) < 5 {
			tb.Fatalf("tap: %d bytes left, not a frame", len(b))
		}
		n := int(binary.LittleEndian.Uint32(b))
		if len(b) < 4+n {
			tb.Fatalf("tap: frame of %d bytes, %d left", n, len(b)-4)
		}
		flags = append(flags, b[4])
		bodies = append(bodies, b[5:4+n])
		b = b[4+n:]
	}
	return flags, bodies
}

// closeBoth closes two ends of a connection at once. Each Close waits for
// the other side to close too (up to a bound) unless its Serve runs, so
// closing them one after the other would wait out that bound.
func closeBoth(a, b transport.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() { a.Close() })
	wg.Go(func() { b.Close() })
	wg.Wait()
}
