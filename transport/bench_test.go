package transport_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tractor-go/tractor/transport"
)

// benchPayload is boxed once, so neither benchmark measures boxing.
var benchPayload any = 42

// BenchmarkMemPair measures one-way Send→deliver of small messages through
// [transport.MemPair]: one goroutine sends, the peer's deliver function (run
// from the sender's goroutine, as the in-memory connection does) consumes.
func BenchmarkMemPair(b *testing.B) {
	a, z := transport.MemPair()
	var n, sum uint64
	ready := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- z.Serve(func(m transport.Msg) {
			if n == 0 {
				close(ready)
			}
			n++
			sum += m.CID
		})
	}()
	ctx := context.Background()
	m := transport.Msg{Kind: transport.KindYield, CID: 1, Payload: benchPayload}
	// One warm-up message: once it is delivered Serve is running, so the
	// timed Sends deliver directly rather than queue for Serve.
	if err := a.Send(ctx, m); err != nil {
		b.Fatalf("Send: %v", err)
	}
	<-ready
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := a.Send(ctx, m); err != nil {
			b.Fatalf("Send: %v", err)
		}
	}
	b.StopTimer()
	a.Close()
	<-served // Serve's return orders n and sum after every deliver
	if n != uint64(b.N)+1 || sum != uint64(b.N)+1 {
		b.Fatalf("delivered %d messages (cid sum %d), want %d", n, sum, b.N+1)
	}
}

// BenchmarkChanBaseline is the yardstick for [BenchmarkMemPair]: the same
// message through a buffered channel (cap 64) from one producer goroutine to
// one consumer goroutine.
func BenchmarkChanBaseline(b *testing.B) {
	ch := make(chan transport.Msg, 64)
	type result struct{ n, sum uint64 }
	done := make(chan result, 1)
	go func() {
		var r result
		for m := range ch {
			r.n++
			r.sum += m.CID
		}
		done <- r
	}()
	m := transport.Msg{Kind: transport.KindYield, CID: 1, Payload: benchPayload}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ch <- m
	}
	close(ch)
	r := <-done // the consumer's drain belongs to the measured work
	b.StopTimer()
	if r.n != uint64(b.N) || r.sum != uint64(b.N) {
		b.Fatalf("received %d messages (cid sum %d), want %d", r.n, r.sum, b.N)
	}
}

// BenchmarkPayloadCodec: encoding a payload as a message carries it and
// decoding it into its type, through the per-type codec (the payload types
// here have one) beside msgpack doing the same by reflection.
func BenchmarkPayloadCodec(b *testing.B) {
	for _, c := range []struct {
		name string
		v    any
		dst  func() any
	}{
		{"[4]int64", [4]int64{1, -300, 1 << 40, 7}, func() any { return new([4]int64) }},
		{"struct", pcInner{X: 3, Y: 1.5, Tags: []string{"a", "bc"}}, func() any { return new(pcInner) }},
		// No type codec: msgpack's path, its numbers decoded by the
		// number rule (number.go), its time with its zone (timecodec.go).
		{"map", map[string]int{"a": 1, "b": 300, "c": -7}, func() any { return new(map[string]int32) }},
		// msgpack's path, with this package's encoder for map[string]any
		// (timecodec.go), which writes a time with its zone.
		{"map[string]any", map[string]any{"a": 1, "b": "x", "at": time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))}, func() any { return new(map[string]any) }},
		{"time", time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)), func() any { return new(time.Time) }},
		{"uint8", 200, func() any { return new(uint8) }},
	} {
		b.Run(c.name+"/typecodec", func(b *testing.B) {
			dst := c.dst()
			b.ReportAllocs()
			for b.Loop() {
				p, err := transport.EncodePayload(c.v)
				if err != nil {
					b.Fatal(err)
				}
				if err := transport.Decode(transport.RawPayload(p), dst); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/baseline=msgpack", func(b *testing.B) {
			dst := c.dst()
			var buf bytes.Buffer
			enc := msgpack.NewEncoder(&buf)
			enc.UseCompactInts(true)
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := enc.Encode(c.v); err != nil {
					b.Fatal(err)
				}
				p := append([]byte(nil), buf.Bytes()...)
				if err := msgpack.Unmarshal(p, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
