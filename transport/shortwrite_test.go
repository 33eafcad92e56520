package transport_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/tractor-go/tractor/transport"
)

// incompressible returns n bytes that S2 cannot shrink, drawn from seed.
func incompressible(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// TestShortWriteKeepsTheRest: a frame larger than the stream takes without
// blocking is written in part by its Send (a short write); the rest is
// queued ahead of what later Sends queue and reaches the peer once it
// reads. The peer receives every message whole and in order. Nothing is
// read until the first Send returned, so its write is short.
func TestShortWriteKeepsTheRest(t *testing.T) {
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, b := ct.make(t, transport.Config{}, transport.Config{})
		shake(t, a, b, transport.Hello{}, transport.Hello{})
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		// 8 MiB is more than a socketpair or loopback TCP connection
		// buffers in both directions on Linux.
		sizes := []int{8 << 20, 100, 300 << 10, 1, 2 << 20}
		var want [][]byte
		for i, n := range sizes {
			want = append(want, incompressible(uint64(i), n))
		}
		if err := a.Send(ctx, yield(0, want[0])); err != nil {
			t.Fatalf("Send 0 (%d bytes): %v", sizes[0], err)
		}
		sb := serve(t, b)
		for i := 1; i < len(sizes); i++ {
			if err := a.Send(ctx, yield(uint64(i), want[i])); err != nil {
				t.Fatalf("Send %d (%d bytes): %v", i, sizes[i], err)
			}
		}
		got := sb.col.waitN(t, len(sizes))
		if len(got) != len(sizes) {
			t.Fatalf("received %d messages, want %d", len(got), len(sizes))
		}
		for i, m := range got {
			if p := decodeAs[[]byte](t, m.Payload); m.CID != uint64(i) || !bytes.Equal(p, want[i]) {
				t.Fatalf("message %d: cid %d, %d bytes (equal: %v); want cid %d, %d bytes",
					i, m.CID, len(p), bytes.Equal(p, want[i]), i, len(want[i]))
			}
		}
		if sb.returned() {
			t.Fatalf("receiver's Serve returned %v", sb.err)
		}
	})
}
