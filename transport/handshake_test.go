package transport_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tractor-go/tractor/transport"
)

type actorInfo struct {
	Name string
	ID   uint64
}

func TestHandshakeExchangesInfo(t *testing.T) {
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, b := ct.make(t, transport.DefaultConfig(), transport.DefaultConfig())
		fromB, fromA := shake(t, a, b,
			transport.Hello{Info: actorInfo{"root", 1}},
			transport.Hello{Info: actorInfo{"child", 2}})
		if fromB.Version != transport.ProtocolVersion || !fromB.Compress || fromB.MaxFrame != transport.DefaultMaxFrame {
			t.Errorf("a got %+v", fromB)
		}
		if got := decodeAs[actorInfo](t, fromB.Info); got != (actorInfo{"child", 2}) {
			t.Errorf("a got Info %+v", got)
		}
		if got := decodeAs[actorInfo](t, fromA.Info); got != (actorInfo{"root", 1}) {
			t.Errorf("b got Info %+v", got)
		}
	})
}

func TestHandshakeNilInfo(t *testing.T) {
	a, b := socketpairConns(t, transport.Config{}, transport.Config{})
	fromB, _ := shake(t, a, b, transport.Hello{}, transport.Hello{})
	if fromB.Info != nil || fromB.Compress {
		t.Fatalf("got %+v, want no Info and no compression offered", fromB)
	}
}

// TestHandshakeAgreesCompression watches the bytes b reads: frames are
// compressed only if both sides offered compression, and then only bodies
// at or above the threshold.
func TestHandshakeAgreesCompression(t *testing.T) {
	const threshold = 512
	big := strings.Repeat("compressible ", 100) // well over threshold
	small := strings.Repeat("c", threshold/2)
	for _, tc := range []struct {
		name         string
		offerA       bool // by Config
		offerB       bool // by Hello
		wantCompress bool
	}{
		{"both offer", true, true, true},
		{"only sender offers", true, false, false},
		{"only receiver offers", false, true, false},
		{"neither offers", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pa, pb, err := transport.Socketpair()
			if err != nil {
				t.Fatal(err)
			}
			a, err := transport.FileConn(pa, transport.Config{Compress: tc.offerA, CompressThreshold: threshold})
			if err != nil {
				t.Fatal(err)
			}
			nb, err := net.FileConn(pb)
			pb.Close()
			if err != nil {
				t.Fatal(err)
			}
			tp := &tap{Conn: nb}
			b := transport.NewConn(tp, transport.Config{CompressThreshold: threshold})
			t.Cleanup(func() { closeBoth(a, b) })
			shake(t, a, b, transport.Hello{}, transport.Hello{Compress: tc.offerB})
			sb := serve(t, b)
			ctx := context.Background()
			for i, p := range []string{big, small, big} {
				if err := a.Send(ctx, yield(uint64(i), p)); err != nil {
					t.Fatal(err)
				}
			}
			got := sb.col.waitN(t, 3)
			for i, want := range []string{big, small, big} {
				if v := decodeAs[string](t, got[i].Payload); v != want {
					t.Fatalf("message %d: got %d bytes, want %d", i, len(v), len(want))
				}
			}
			flags, bodies := tp.frames(t)
			if len(flags) != 4 {
				t.Fatalf("b read %d frames, want the hello and 3 messages", len(flags))
			}
			wantFlags := []byte{0, 0, 0, 0}
			if tc.wantCompress {
				wantFlags = []byte{0, 1, 0, 1}
			}
			if !bytes.Equal(flags, wantFlags) {
				t.Fatalf("frame flags %v, want %v", flags, wantFlags)
			}
			if tc.wantCompress && len(bodies[1]) >= len(big) {
				t.Fatalf("compressed body has %d bytes, payload %d", len(bodies[1]), len(big))
			}
		})
	}
}

func TestHandshakeIncompressibleBodyGoesUncompressed(t *testing.T) {
	a, raw := rawPair(t, transport.DefaultConfig())
	go raw.Write(rawHello(t, true, transport.DefaultMaxFrame))
	if _, err := a.Handshake(context.Background(), transport.Hello{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readFrame(raw); err != nil { // a's hello
		t.Fatal(err)
	}
	// Random-looking bytes do not shrink: they go as they are.
	rnd := make([]byte, 4096)
	seed := uint32(1)
	for i := range rnd {
		seed = seed*1664525 + 1013904223
		rnd[i] = byte(seed >> 24)
	}
	if err := a.Send(context.Background(), yield(1, rnd)); err != nil {
		t.Fatal(err)
	}
	flags, _, err := readFrame(raw)
	if err != nil || flags != 0 {
		t.Fatalf("incompressible frame: flags %d, err %v; want flags 0", flags, err)
	}
}

func TestHandshakeAgreesSmallerMaxFrame(t *testing.T) {
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, b := ct.make(t, transport.Config{}, transport.Config{MaxFrame: 4096})
		fromB, _ := shake(t, a, b, transport.Hello{}, transport.Hello{})
		if fromB.MaxFrame != 4096 {
			t.Fatalf("b announced MaxFrame %d, want 4096", fromB.MaxFrame)
		}
		sb, sa := serve(t, b), serve(t, a)
		ctx := context.Background()
		big := strings.Repeat("x", 5000)
		// Both directions are limited to the smaller limit.
		for _, c := range []*transport.WireConn{a, b} {
			if err := c.Send(ctx, yield(1, big)); !errors.Is(err, transport.ErrFrameTooLarge) {
				t.Fatalf("Send over the agreed limit returned %v, want ErrFrameTooLarge", err)
			}
			if err := c.Send(ctx, yield(2, "ok")); err != nil {
				t.Fatalf("Send after a refused one: %v", err)
			}
		}
		for _, s := range []*serving{sa, sb} {
			if got := s.col.waitN(t, 1); got[0].CID != 2 {
				t.Fatalf("delivered %+v", got)
			}
		}
	})
}

func TestHandshakeVersionMismatch(t *testing.T) {
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, b := ct.make(t, transport.Config{}, transport.Config{})
		ra, rb := handshakeBoth(a, b, transport.Hello{Version: transport.ProtocolVersion + 1}, transport.Hello{}, context.Background())
		for _, r := range []shaken{ra, rb} {
			if !errors.Is(r.err, transport.ErrVersion) {
				t.Fatalf("Handshake returned %v, want ErrVersion", r.err)
			}
		}
		// The connection is closed.
		if err := a.Send(context.Background(), yield(1, nil)); !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("Send after a failed handshake returned %v, want ErrClosed", err)
		}
		if err := b.Serve(func(transport.Msg) {}); !errors.Is(err, transport.ErrVersion) {
			t.Fatalf("Serve after a failed handshake returned %v, want the handshake's error", err)
		}
	})
}

func TestHandshakeTimeout(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		// The peer never says hello.
		a, raw := rawPair(t, transport.Config{})
		_ = raw
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := a.Handshake(ctx, transport.Hello{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Handshake returned %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > waitLimit/2 {
			t.Fatalf("Handshake took %v", d)
		}
		if err := a.Send(context.Background(), yield(1, nil)); !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("Send after a failed handshake returned %v, want ErrClosed", err)
		}
	})
	t.Run("cancel without deadlines", func(t *testing.T) {
		// A stream without SetDeadline is closed when ctx ends. The peer
		// reads nothing, so even the write of the hello blocks.
		r, _ := io.Pipe()
		_, w := io.Pipe()
		a := transport.NewConn(struct {
			io.Reader
			io.Writer
			io.Closer
		}{r, w, multiCloser{r, w}}, transport.Config{})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		if _, err := a.Handshake(ctx, transport.Hello{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Handshake returned %v, want context.Canceled", err)
		}
		a.Close()
	})
	t.Run("ctx already ended", func(t *testing.T) {
		a, _ := rawPair(t, transport.Config{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := a.Handshake(ctx, transport.Hello{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Handshake returned %v, want context.Canceled", err)
		}
	})
}

// multiCloser closes an io.Pipe's two ends.
type multiCloser struct {
	r *io.PipeReader
	w *io.PipeWriter
}

func (m multiCloser) Close() error { m.r.Close(); return m.w.Close() }

func TestHandshakeSucceedsDespiteLateCtx(t *testing.T) {
	// A ctx that ends after the handshake changes nothing: the deadlines
	// it set are cleared. In a bubble over net.Pipe, whose deadlines run
	// on the bubble's clock, an hour passes after the cancel at no cost.
	synctest.Test(t, func(t *testing.T) {
		a, b := pipeConns(t, transport.Config{}, transport.Config{})
		ctx, cancel := context.WithCancel(context.Background())
		ra, rb := handshakeBoth(a, b, transport.Hello{}, transport.Hello{}, ctx)
		if ra.err != nil || rb.err != nil {
			t.Fatalf("Handshake: %v, %v", ra.err, rb.err)
		}
		cancel()
		sb := serve(t, b)
		<-time.After(time.Hour) // the bubble's clock: any deadline the cancel set has passed
		if err := a.Send(context.Background(), yield(1, "after")); err != nil {
			t.Fatal(err)
		}
		sb.col.waitN(t, 1)
	})
}

func TestHandshakeMustComeFirst(t *testing.T) {
	a, b := socketpairConns(t, transport.Config{}, transport.Config{})
	defer closeBoth(a, b)
	sb := serve(t, b)
	sb.started(t, a) // a has sent, b serves
	if _, err := a.Handshake(context.Background(), transport.Hello{}); err == nil {
		t.Fatal("Handshake after Send succeeded")
	}
	if _, err := b.Handshake(context.Background(), transport.Hello{}); err == nil {
		t.Fatal("Handshake after Serve succeeded")
	}
}

func TestHandshakeRefusesBadHello(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hello []byte
		want  error
	}{
		{"not a hello", frame(0, []byte{0x96, 1, 2, 0xa0, 0, 0, 0xc0}), transport.ErrMalformed},
		{"wrong magic", frame(0, []byte{0x95, 0xa3, 'f', 'o', 'o', 1, 0xc3, 0x10, 0xc0}), transport.ErrMalformed},
		{"zero max frame", frame(0, helloBody(transport.ProtocolVersion, true, 0)), transport.ErrMalformed},
		{"oversized", []byte{0xff, 0xff, 0xff, 0x7f}, transport.ErrFrameTooLarge},
		{"peer closes", nil, io.ErrUnexpectedEOF},
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), transport.ErrFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, raw := rawPair(t, transport.Config{})
			go func() {
				raw.Write(tc.hello)
				if tc.hello == nil {
					raw.Close()
				}
			}()
			if _, err := a.Handshake(context.Background(), transport.Hello{}); !errors.Is(err, tc.want) {
				t.Fatalf("Handshake returned %v, want %v", err, tc.want)
			}
		})
	}
}
