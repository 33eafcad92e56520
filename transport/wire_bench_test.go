package transport_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/tractor-go/tractor/transport"
)

// Each wire benchmark runs beside its physical baseline on the same kind of
// socket: raw length-prefixed frames written and read with no encoding, no
// framing state and no goroutine hand-offs beyond the two ends.

// rawConnType makes the two ends of a raw stream socket of one kind.
type rawConnType struct {
	name string
	make func(b *testing.B) (net.Conn, net.Conn)
}

var rawConnTypes = []rawConnType{
	{"socketpair", func(b *testing.B) (net.Conn, net.Conn) {
		pf, cf, err := transport.Socketpair()
		if err != nil {
			b.Fatal(err)
		}
		x, err := net.FileConn(pf)
		pf.Close()
		if err != nil {
			b.Fatal(err)
		}
		y, err := net.FileConn(cf)
		cf.Close()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { x.Close(); y.Close() })
		return x, y
	}},
	{"tcp", func(b *testing.B) (net.Conn, net.Conn) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		x, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		y, err := l.Accept()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { x.Close(); y.Close() })
		return x, y
	}},
}

// benchServe runs c.Serve(deliver) in a goroutine that the benchmark's
// cleanup waits for, after closing both ends (registered by the maker).
func benchServe(b *testing.B, c *transport.WireConn, deliver func(transport.Msg)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Serve(deliver)
	}()
	b.Cleanup(func() {
		c.Close()
		<-done
	})
}

// benchConns returns both ends of a handshaken wire connection of type ct.
func benchConns(b *testing.B, ct connType, cfg transport.Config) (x, y *transport.WireConn) {
	x, y = ct.make(b, cfg, cfg)
	shake(b, x, y, transport.Hello{}, transport.Hello{})
	return x, y
}

var payload32 = []byte(strings.Repeat("p", 32))

// BenchmarkRoundTrip: a 32-byte message to the peer and back. On the wire
// the peer's Serve hands each message to an echo goroutine (deliver must
// not Send), which sends it back undecoded; the raw baseline echoes a
// 4-byte-length-prefixed 32-byte frame between two goroutines.
func BenchmarkRoundTrip(b *testing.B) {
	for i, ct := range connTypes {
		b.Run(ct.name+"/wire", func(b *testing.B) {
			x, y := benchConns(b, ct, transport.DefaultConfig())
			echo := make(chan transport.Msg, 16)
			back := make(chan struct{}, 16)
			benchServe(b, y, func(m transport.Msg) { echo <- m })
			benchServe(b, x, func(transport.Msg) { back <- struct{}{} })
			echoed := make(chan struct{})
			go func() {
				defer close(echoed)
				for m := range echo {
					y.Send(context.Background(), m)
				}
			}()
			b.Cleanup(func() { close(echo); <-echoed })
			ctx := context.Background()
			m := transport.Msg{Kind: transport.KindYield, CID: 1, Payload: payload32}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := x.Send(ctx, m); err != nil {
					b.Fatal(err)
				}
				<-back
			}
		})
		b.Run(ct.name+"/raw", func(b *testing.B) {
			x, y := rawConnTypes[i].make(b)
			go func() {
				buf := make([]byte, 4+32)
				for {
					if _, err := io.ReadFull(y, buf); err != nil {
						return
					}
					if _, err := y.Write(buf); err != nil {
						return
					}
				}
			}()
			out := binary.LittleEndian.AppendUint32(nil, 32)
			out = append(out, payload32...)
			in := make([]byte, len(out))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := x.Write(out); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(x, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// counter is a deliver function that counts messages and signals when a
// target count is reached.
type counter struct {
	n      atomic.Int64
	target int64
	done   chan struct{}
}

func newCounter(target int) *counter {
	return &counter{target: int64(target), done: make(chan struct{})}
}

func (c *counter) deliver(transport.Msg) {
	if c.n.Add(1) == c.target {
		close(c.done)
	}
}

// BenchmarkOneWay: 32-byte messages one way, as fast as the sender goes,
// timed until the last is delivered. "wire" sends from one goroutine (each
// Send writes at once: no coalescing without concurrency), "wire-8senders"
// from eight (their frames are coalesced into shared writes), and the raw
// baseline writes framed messages into a 64 KiB bufio.Writer read by a
// 64 KiB bufio.Reader.
func BenchmarkOneWay(b *testing.B) {
	for i, ct := range connTypes {
		b.Run(ct.name+"/wire", func(b *testing.B) {
			x, y := benchConns(b, ct, transport.DefaultConfig())
			cnt := newCounter(b.N)
			benchServe(b, y, cnt.deliver)
			benchServe(b, x, func(transport.Msg) {})
			ctx := context.Background()
			m := transport.Msg{Kind: transport.KindYield, CID: 1, Payload: payload32}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := x.Send(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
			<-cnt.done
		})
		b.Run(ct.name+"/wire-8senders", func(b *testing.B) {
			x, y := benchConns(b, ct, transport.DefaultConfig())
			cnt := newCounter(b.N)
			benchServe(b, y, cnt.deliver)
			benchServe(b, x, func(transport.Msg) {})
			m := transport.Msg{Kind: transport.KindYield, CID: 1, Payload: payload32}
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := x.Send(ctx, m); err != nil {
						b.Error(err)
						return
					}
				}
			})
			<-cnt.done
		})
		b.Run(ct.name+"/raw-bufio", func(b *testing.B) {
			x, y := rawConnTypes[i].make(b)
			read := make(chan int, 1)
			go func() {
				br := bufio.NewReaderSize(y, 64<<10)
				var hdr [4]byte
				n := 0
				for n < b.N {
					if _, err := io.ReadFull(br, hdr[:]); err != nil {
						break
					}
					if _, err := br.Discard(int(binary.LittleEndian.Uint32(hdr[:]))); err != nil {
						break
					}
					n++
				}
				read <- n
			}()
			bw := bufio.NewWriterSize(x, 64<<10)
			var hdr [4]byte
			binary.LittleEndian.PutUint32(hdr[:], 32)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				bw.Write(hdr[:])
				bw.Write(payload32)
			}
			if err := bw.Flush(); err != nil {
				b.Fatal(err)
			}
			if n := <-read; n != b.N {
				b.Fatalf("read %d frames, want %d", n, b.N)
			}
		})
	}
}

// textPayload returns n bytes of English-like text (about 74% smaller
// under S2, see DefaultCompressThreshold).
func textPayload(n int) []byte {
	words := strings.Fields("the quick brown fox jumps over the lazy dog actor nursery portal stream context cancel")
	r := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(words[r.IntN(len(words))])
		sb.WriteByte(' ')
	}
	return []byte(sb.String()[:n])
}

// BenchmarkPayload64K: one-way throughput of 64 KiB payloads (English-like
// text), with compression off ("plain") and on ("s2"), beside raw 64 KiB
// frames. MB/s counts payload bytes. The receiver gets each payload as a
// Raw (copied out of the read buffer) and does not decode it.
func BenchmarkPayload64K(b *testing.B) {
	p := textPayload(64 << 10)
	for i, ct := range connTypes {
		for _, compress := range []bool{false, true} {
			name := ct.name + "/plain"
			if compress {
				name = ct.name + "/s2"
			}
			b.Run(name, func(b *testing.B) {
				cfg := transport.DefaultConfig()
				cfg.Compress = compress
				x, y := benchConns(b, ct, cfg)
				cnt := newCounter(b.N)
				benchServe(b, y, cnt.deliver)
				benchServe(b, x, func(transport.Msg) {})
				ctx := context.Background()
				m := transport.Msg{Kind: transport.KindYield, CID: 1, Payload: p}
				b.SetBytes(int64(len(p)))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if err := x.Send(ctx, m); err != nil {
						b.Fatal(err)
					}
				}
				<-cnt.done
			})
		}
		b.Run(ct.name+"/raw", func(b *testing.B) {
			x, y := rawConnTypes[i].make(b)
			read := make(chan error, 1)
			go func() {
				buf := make([]byte, 4+len(p))
				for range b.N {
					if _, err := io.ReadFull(y, buf); err != nil {
						read <- err
						return
					}
				}
				read <- nil
			}()
			out := binary.LittleEndian.AppendUint32(nil, uint32(len(p)))
			out = append(out, p...)
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := x.Write(out); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-read; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkS2Body measures what compression costs and saves on msgpack
// bodies of typical sizes, the figures behind DefaultCompressThreshold:
// ns/op is s2.Encode, and "saved%" the share of bytes it removes.
func BenchmarkS2Body(b *testing.B) {
	type item struct {
		ID    int
		Name  string
		Tags  []string
		Score float64
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{128, 256, 512, 1024, 4096, 65536} {
		var items []item
		var body []byte
		for len(body) < size {
			items = append(items, item{ID: len(items), Name: fmt.Sprintf("worker-%d", r.IntN(100)), Tags: []string{"a", "bb"}, Score: r.Float64()})
			body, _ = msgpack.Marshal(items)
		}
		for _, kind := range []struct {
			name string
			body []byte
		}{{"structs", body}, {"text", textPayload(len(body))}} {
			b.Run(fmt.Sprintf("%s/%d", kind.name, size), func(b *testing.B) {
				dst := make([]byte, s2.MaxEncodedLen(len(kind.body)))
				var z []byte
				b.SetBytes(int64(len(kind.body)))
				for range b.N {
					z = s2.Encode(dst, kind.body)
				}
				b.ReportMetric(100*(1-float64(len(z))/float64(len(kind.body))), "saved%")
			})
		}
	}
}
