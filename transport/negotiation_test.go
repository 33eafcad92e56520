package transport_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tractor-go/tractor/transport"
)

// TestCompressThreshold: once both sides agreed to compress, a body is
// compressed from the Config's CompressThreshold up, and sent plain below
// it; a zero threshold means 1 KiB.
func TestCompressThreshold(t *testing.T) {
	for _, tc := range []struct {
		threshold  int
		body       int // payload bytes, highly compressible
		compressed bool
	}{
		{threshold: 64, body: 200, compressed: true},
		{threshold: 4096, body: 2000, compressed: false},
		{threshold: 4096, body: 5000, compressed: true},
		{threshold: 0, body: 500, compressed: false},
		{threshold: 0, body: 2000, compressed: true},
	} {
		c, raw := rawPair(t, transport.Config{Compress: true, CompressThreshold: tc.threshold})
		shakeRaw(t, c, raw, true)
		p := strings.Repeat("z", tc.body)
		if err := c.Send(context.Background(), yield(1, p)); err != nil {
			t.Fatalf("threshold %d, %d-byte payload: Send: %v", tc.threshold, tc.body, err)
		}
		flags, _, err := readFrame(raw)
		if err != nil {
			t.Fatalf("threshold %d, %d-byte payload: reading the frame: %v", tc.threshold, tc.body, err)
		}
		if got := flags&1 != 0; got != tc.compressed {
			t.Errorf("threshold %d, %d-byte payload: compressed %v, want %v", tc.threshold, tc.body, got, tc.compressed)
		}
	}
}

// TestHelloMaxFrame: the frame limit a hello announces is the Hello's
// MaxFrame when that is under the Config's, the Config's otherwise (a
// Hello cannot raise it); the connection then refuses to send a frame over
// the limit agreed.
func TestHelloMaxFrame(t *testing.T) {
	for _, tc := range []struct {
		cfg, hello, want uint32
	}{
		{cfg: 0, hello: 1000, want: 1000},
		{cfg: 64 << 10, hello: 1000, want: 1000},
		{cfg: 64 << 10, hello: 1 << 30, want: 64 << 10},
		{cfg: 64 << 10, hello: 0, want: 64 << 10},
		{cfg: 0, hello: 0, want: transport.DefaultMaxFrame},
	} {
		c, raw := rawPair(t, transport.Config{MaxFrame: int(tc.cfg)})
		go raw.Write(rawHello(t, false, transport.DefaultMaxFrame))
		if _, err := c.Handshake(context.Background(), transport.Hello{MaxFrame: tc.hello}); err != nil {
			t.Fatalf("Handshake: %v", err)
		}
		_, b, err := readFrame(raw)
		if err != nil {
			t.Fatalf("reading the hello: %v", err)
		}
		var h []any
		if err := msgpack.NewDecoder(bytes.NewReader(b)).Decode(&h); err != nil || len(h) < 4 {
			t.Fatalf("hello %x: %v", b, err)
		}
		if got := toUint(h[3]); got != uint64(tc.want) {
			t.Errorf("Config.MaxFrame %d, Hello.MaxFrame %d: announced %d, want %d", tc.cfg, tc.hello, got, tc.want)
		}
		if tc.want == transport.DefaultMaxFrame {
			continue
		}
		over := strings.Repeat("x", int(tc.want))
		if err := c.Send(context.Background(), yield(1, over)); !errors.Is(err, transport.ErrFrameTooLarge) {
			t.Errorf("Config.MaxFrame %d, Hello.MaxFrame %d: Send over %d returned %v, want ErrFrameTooLarge", tc.cfg, tc.hello, tc.want, err)
		}
	}
}

// TestCompressAtThreshold: a body of exactly CompressThreshold bytes is
// compressed, one byte shorter than the threshold is not (§2 of
// PROTOCOL.md: "a body of at least the threshold").
func TestCompressAtThreshold(t *testing.T) {
	m := yield(1, strings.Repeat("z", 3000))
	plain, err := transport.EncodeFrame(m, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	body := len(plain) - 5 // the length prefix and the flags byte
	for _, tc := range []struct {
		threshold  int
		compressed bool
	}{
		{body, true},
		{body + 1, false},
	} {
		f, err := transport.EncodeFrame(m, true, tc.threshold)
		if err != nil {
			t.Fatal(err)
		}
		if got := f[4]&1 != 0; got != tc.compressed {
			t.Errorf("a %d-byte body, threshold %d: compressed %v, want %v", body, tc.threshold, got, tc.compressed)
		}
	}
}
