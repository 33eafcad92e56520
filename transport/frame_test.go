package transport_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/tractor-go/tractor/transport"
)

// These tests speak the wire format by hand, from its description, on the
// raw end of a socketpair.

// helloBody is a hello as the format describes it:
// ["tractor-go", version, compress, maxFrame, info=nil].
func helloBody(version int, compress bool, maxFrame uint32) []byte {
	b, err := msgpack.Marshal([]any{"tractor-go", version, compress, maxFrame, nil})
	if err != nil {
		panic(err)
	}
	return b
}

func rawHello(t testing.TB, compress bool, maxFrame uint32) []byte {
	t.Helper()
	return frame(0, helloBody(transport.ProtocolVersion, compress, maxFrame))
}

// body encodes a message body by hand: [kind, cid, endpoint, mode, credit,
// payload].
func body(t testing.TB, kind, cid uint64, endpoint string, mode, credit uint64, payload any) []byte {
	t.Helper()
	b, err := msgpack.Marshal([]any{kind, cid, endpoint, mode, credit, payload})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// shakeRaw completes a handshake between c and the raw end, whose hello
// offers compression as given.
func shakeRaw(t *testing.T, c *transport.WireConn, raw net.Conn, compress bool) {
	t.Helper()
	go raw.Write(rawHello(t, compress, transport.DefaultMaxFrame))
	if _, err := c.Handshake(context.Background(), transport.Hello{}); err != nil {
		t.Fatalf("Handshake: %v", err)
	}
	if _, _, err := readFrame(raw); err != nil {
		t.Fatalf("reading c's hello: %v", err)
	}
}

func TestFrameFormatFromTheSpec(t *testing.T) {
	c, raw := rawPair(t, transport.DefaultConfig())
	defer raw.Close()
	shakeRaw(t, c, raw, true)
	s := serve(t, c)

	// Frames written by hand are delivered.
	big := bytes.Repeat([]byte("spec "), 1000)
	compressed := s2.Encode(nil, body(t, 3, 9, "", 0, 0, big))
	var in []byte
	in = append(in, frame(0, body(t, 1, 7, "pkg.fn", 2, 0, map[string]int{"x": 1}))...)
	in = append(in, frame(1, compressed)...)
	in = append(in, frame(0, body(t, 8, 7, "", 0, 16, nil))...)
	if _, err := raw.Write(in); err != nil {
		t.Fatal(err)
	}
	got := s.col.waitN(t, 3)
	if m := got[0]; m.Kind != transport.KindCmd || m.CID != 7 || m.Endpoint != "pkg.fn" || m.Mode != 2 || decodeAs[map[string]int](t, m.Payload)["x"] != 1 {
		t.Errorf("cmd frame delivered as %+v", m)
	}
	if m := got[1]; m.Kind != transport.KindYield || m.CID != 9 || !bytes.Equal(decodeAs[[]byte](t, m.Payload), big) {
		t.Errorf("compressed frame delivered as %+v", m)
	}
	if m := got[2]; m.Kind != transport.KindCredit || m.Credit != 16 || m.Payload != nil {
		t.Errorf("credit frame delivered as %+v", m)
	}

	// What c sends reads back by hand.
	if err := c.Send(context.Background(), transport.Msg{Kind: transport.KindReturn, CID: 300, Payload: "done"}); err != nil {
		t.Fatal(err)
	}
	flags, b, err := readFrame(raw)
	if err != nil || flags != 0 {
		t.Fatalf("frame: flags %d, err %v", flags, err)
	}
	var fields []any
	if err := msgpack.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	if len(fields) != 6 || toUint(fields[0]) != uint64(transport.KindReturn) || toUint(fields[1]) != 300 || fields[2] != "" || fields[5] != "done" {
		t.Fatalf("body decodes as %#v", fields)
	}
}

func toUint(v any) uint64 {
	switch v := v.(type) {
	case int8:
		return uint64(v)
	case uint8:
		return uint64(v)
	case uint16:
		return uint64(v)
	case uint32:
		return uint64(v)
	case uint64:
		return v
	}
	return 1<<64 - 1
}

// TestFrameBadInputClosesConnection: each bad input makes Serve return the
// matching error and close the connection, while another connection keeps
// working.
func TestFrameBadInputClosesConnection(t *testing.T) {
	hdr := func(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }
	deep := bytes.Repeat([]byte{0x91}, transport.MaxNesting+1)
	deep = append(deep, 0xc0)
	huge := s2.Encode(nil, make([]byte, transport.DefaultMaxFrame+1))
	cases := []struct {
		name     string
		compress bool // agree compression first
		input    []byte
		close    bool // close the raw end after the input
		want     error
	}{
		{"zero length", false, hdr(0), false, transport.ErrMalformed},
		{"reserved flag", false, frame(0x80, body(t, 3, 1, "", 0, 0, 1)), false, transport.ErrMalformed},
		{"compressed without agreement", false, frame(1, s2.Encode(nil, body(t, 3, 1, "", 0, 0, 1))), false, transport.ErrMalformed},
		{"corrupt compressed body", true, frame(1, []byte{0x20, 0xff, 0xff, 0xff}), false, transport.ErrMalformed},
		{"body not an array", false, frame(0, []byte{0x01}), false, transport.ErrMalformed},
		{"empty body", false, frame(0, nil), false, transport.ErrMalformed},
		{"five fields", false, frame(0, []byte{0x95, 3, 1, 0xa0, 0, 0}), false, transport.ErrMalformed},
		{"negative cid", false, frame(0, []byte{0x96, 3, 0xff, 0xa0, 0, 0, 0xc0}), false, transport.ErrMalformed},
		{"kind over 255", false, frame(0, []byte{0x96, 0xcd, 1, 0, 1, 0xa0, 0, 0, 0xc0}), false, transport.ErrMalformed},
		{"endpoint not a string", false, frame(0, []byte{0x96, 1, 1, 7, 0, 0, 0xc0}), false, transport.ErrMalformed},
		{"missing payload", false, frame(0, []byte{0x96, 3, 1, 0xa0, 0, 0}), false, transport.ErrMalformed},
		{"bytes after the payload", false, frame(0, []byte{0x96, 3, 1, 0xa0, 0, 0, 0xc0, 0xc0}), false, transport.ErrMalformed},
		{"invalid code", false, frame(0, []byte{0x96, 3, 1, 0xa0, 0, 0, 0xc1}), false, transport.ErrMalformed},
		{"array32 of 4 billion in a tiny frame", false, frame(0, []byte{0x96, 3, 1, 0xa0, 0, 0, 0xdd, 0xff, 0xff, 0xff, 0xff}), false, transport.ErrMalformed},
		{"map32 of 4 billion in a tiny frame", false, frame(0, []byte{0x96, 3, 1, 0xa0, 0, 0, 0xdf, 0xff, 0xff, 0xff, 0xff, 1, 1}), false, transport.ErrMalformed},
		{"str32 of 4 GiB in a tiny frame", false, frame(0, []byte{0x96, 3, 1, 0xa0, 0, 0, 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'}), false, transport.ErrMalformed},
		{"endpoint longer than the frame", false, frame(0, []byte{0x96, 3, 1, 0xdb, 0, 1, 0, 0, 'x'}), false, transport.ErrMalformed},
		{"extension msgpack would read as a map", false, frame(0, []byte{0x96, 3, 1, 0xa0, 0, 0, 0xd7, 0x30, 0x89, 0x30, 0x38, 0xdd, 0xdd, 0xdd, 0x30, 0x30}), false, transport.ErrMalformed},
		{"empty extension", false, frame(0, []byte{0x96, 3, 1, 0xa0, 0, 0, 0xc7, 0, 5}), false, transport.ErrMalformed},
		{"nested too deep", false, frame(0, append([]byte{0x96, 3, 1, 0xa0, 0, 0}, deep...)), false, transport.ErrMalformed},
		{"declared length over the limit", false, hdr(transport.DefaultMaxFrame + 1), false, transport.ErrFrameTooLarge},
		{"declared length 4 GiB", false, hdr(0xffffffff), false, transport.ErrFrameTooLarge},
		{"decompresses over the limit", true, frame(1, huge), false, transport.ErrFrameTooLarge},
		{"truncated header", false, []byte{5, 0}, true, io.ErrUnexpectedEOF},
		{"truncated body", false, append(hdr(100), make([]byte, 10)...), true, io.ErrUnexpectedEOF},
		{"truncated large body", false, append(hdr(1<<20), make([]byte, 1000)...), true, io.ErrUnexpectedEOF},
		{"garbage", false, []byte("\x07\x00\x00\x00garbage and more"), false, transport.ErrMalformed},
	}
	// A healthy connection alongside: bad input elsewhere does not touch it.
	ha, _, _, hs := connected(t, connTypes[0])
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, raw := rawPair(t, transport.DefaultConfig())
			shakeRaw(t, c, raw, tc.compress)
			s := serve(t, c)
			go func() {
				raw.Write(tc.input)
				if tc.close {
					raw.(*net.UnixConn).CloseWrite()
				}
			}()
			err := s.wait(t)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Serve returned %v, want %v", err, tc.want)
			}
			// c closed the stream: the raw end reads EOF, and Sends fail.
			raw.SetReadDeadline(time.Now().Add(waitLimit))
			if n, err := io.Copy(io.Discard, raw); err != nil {
				t.Fatalf("raw end read %d bytes, then %v; want EOF", n, err)
			}
			if err := c.Send(context.Background(), yield(1, nil)); !errors.Is(err, transport.ErrClosed) {
				t.Fatalf("Send after a bad frame returned %v, want ErrClosed", err)
			}
			if err := ha.Send(context.Background(), yield(uint64(i), i)); err != nil {
				t.Fatalf("healthy connection: Send: %v", err)
			}
			hs.col.waitN(t, i+1)
		})
	}
}

// TestFrameLargeDeclaredLengthAllocatesWithData: a peer that declares a
// frame near the limit and sends little does not make the reader allocate
// the declared size.
func TestFrameLargeDeclaredLengthAllocatesWithData(t *testing.T) {
	c, raw := rawPair(t, transport.DefaultConfig())
	s := serve(t, c)
	in := binary.LittleEndian.AppendUint32(nil, transport.DefaultMaxFrame)
	in = append(in, make([]byte, 100_000)...)
	before := totalAlloc()
	raw.Write(in)
	raw.(*net.UnixConn).CloseWrite()
	if err := s.wait(t); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Serve returned %v, want io.ErrUnexpectedEOF", err)
	}
	if grew := totalAlloc() - before; grew > 4<<20 {
		t.Fatalf("reading 100 kB of a frame declared as 16 MiB allocated %d bytes", grew)
	}
}

// totalAlloc returns the bytes allocated by the process so far.
func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}
