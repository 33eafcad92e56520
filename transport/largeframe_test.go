package transport_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/tractor-go/tractor/transport"
)

// TestLargeFramesArriveWhole: frames larger than Serve's read buffer are
// read in steps into a buffer of their own, one after another, with small
// frames between them, compressed or not: each message arrives whole. The
// sizes straddle the read buffer and the largest buffer kept between
// frames.
func TestLargeFramesArriveWhole(t *testing.T) {
	c, raw := rawPair(t, transport.DefaultConfig())
	shakeRaw(t, c, raw, true)
	s := serve(t, c)
	sizes := []int{
		transport.ReadBuffer, transport.ReadBuffer + 1, 200 << 10, 30,
		transport.KeepBuffer, transport.KeepBuffer + 1, 40, 300 << 10,
	}
	var in []byte
	var want [][]byte
	for i, n := range sizes {
		p := payloadForFrame(t, n)
		p[0] = byte(i) // tells the messages apart
		b, err := transport.EncodeMsg(yield(uint64(i), p))
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, frame(0, b)...)
		want = append(want, p)
	}
	// The same again, S2-compressed: the frames are small, their bodies
	// decompress past the read buffer and past what is kept.
	for i, n := range sizes {
		p := payloadForFrame(t, n)
		p[0] = byte(100 + i)
		b, err := transport.EncodeMsg(yield(uint64(len(sizes)+i), p))
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, frame(1, s2.Encode(nil, b))...)
		want = append(want, p)
	}
	go raw.Write(in)
	got := s.col.waitN(t, len(want))
	for i, m := range got {
		if p := decodeAs[[]byte](t, m.Payload); m.CID != uint64(i) || !bytes.Equal(p, want[i]) {
			t.Fatalf("message %d: cid %d, %d bytes (equal: %v); want cid %d, %d bytes",
				i, m.CID, len(p), bytes.Equal(p, want[i]), i, len(want[i]))
		}
	}
	if s.returned() {
		t.Fatalf("Serve returned %v", s.err)
	}
}

// TestFrameReaderKeepsBuffersUpToLimit: the buffer a large frame was read
// into, and the one a compressed body was decompressed into, are kept for
// the next frames up to KeepBuffer bytes, that limit included, and dropped
// when larger, so that an idle connection stays small.
func TestFrameReaderKeepsBuffersUpToLimit(t *testing.T) {
	plain := func(n int) []byte { return frame(0, make([]byte, n-1)) }
	packed := func(n int) []byte { return frame(1, s2.Encode(nil, make([]byte, n))) }
	small := plain(10)
	steps := []struct {
		name     string
		frame    []byte
		buf, zbf func(int) bool // the capacities held after the next small frame
	}{
		{"plain 200 KiB", plain(200 << 10), atLeast(200 << 10), is(0)},
		{"plain at the limit", plain(transport.KeepBuffer), is(transport.KeepBuffer), is(0)},
		{"plain over the limit", plain(3 << 20), is(0), is(0)},
		{"compressed 200 KiB", packed(200 << 10), is(0), atLeast(200 << 10)},
		{"compressed at the limit", packed(transport.KeepBuffer), is(0), is(transport.KeepBuffer)},
		{"compressed over the limit", packed(transport.KeepBuffer + 1), is(0), is(0)},
	}
	var in []byte
	for _, s := range steps {
		in = append(append(in, s.frame...), small...)
	}
	r := transport.NewFrameReader(bytes.NewReader(in), transport.DefaultMaxFrame, true)
	for _, s := range steps {
		if _, err := r.Next(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if b, err := r.Next(); err != nil || len(b) != 9 {
			t.Fatalf("%s, then a small frame: %d bytes, %v", s.name, len(b), err)
		}
		if buf, zbuf := r.Held(); !s.buf(buf) || !s.zbf(zbuf) {
			t.Fatalf("%s, then a small frame: holds buffers of %d and %d bytes", s.name, buf, zbuf)
		}
	}
}

// TestEncoderKeepsBuffersUpToLimit: an encoder returning to the pool keeps
// its message and compression buffers up to KeepBuffer bytes, that limit
// included, and lets go of larger ones, each on its own.
func TestEncoderKeepsBuffersUpToLimit(t *testing.T) {
	const k = transport.KeepBuffer
	for _, tc := range []struct{ buf, zbuf, wantBuf, wantZbuf int }{
		{100, 200, 100, 200},
		{k, k, k, k},
		{k + 1, k, 0, k},
		{k, k + 1, k, 0},
	} {
		if buf, zbuf := transport.EncoderKeeps(tc.buf, tc.zbuf); buf != tc.wantBuf || zbuf != tc.wantZbuf {
			t.Errorf("buffers of %d and %d bytes: kept %d and %d, want %d and %d",
				tc.buf, tc.zbuf, buf, zbuf, tc.wantBuf, tc.wantZbuf)
		}
	}
}

func is(n int) func(int) bool      { return func(c int) bool { return c == n } }
func atLeast(n int) func(int) bool { return func(c int) bool { return c >= n } }

// TestFrameReaderDeclaredLimit: a frame declaring exactly the limit is
// read; one byte more is refused before any of it is read, as is a frame
// declaring no bytes at all.
func TestFrameReaderDeclaredLimit(t *testing.T) {
	const limit = 1000
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"at the limit", frame(0, make([]byte, limit-1)), nil},
		{"one byte over", frame(0, make([]byte, limit)), transport.ErrFrameTooLarge},
		{"empty", []byte{0, 0, 0, 0}, transport.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := transport.NewFrameReader(bytes.NewReader(tc.in), limit, false).Next()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Next: %v, want %v", err, tc.want)
			}
			if tc.want == nil && len(b) != limit-1 {
				t.Fatalf("Next: %d bytes, want %d", len(b), limit-1)
			}
		})
	}
}
