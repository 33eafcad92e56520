package tractor_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/spawnproc"
)

// The process benchmarks compare the runtime across a process boundary
// with the raw limit of the same socket, in the same run: a child that
// echoes length-prefixed frames, one that streams them, and one that only
// connects back.

var wires = []struct {
	name string
	wire tractor.Wire
	host hosting
}{
	{"pipe", tractor.Pipe, processPipe},
	{"tcp", tractor.TCP, processTCP},
}

// startRole starts this test binary as a raw child playing role.
func startRole(b *testing.B, wire tractor.Wire, role string, args ...string) (*spawnproc.Proc, net.Conn) {
	b.Helper()
	env := []string{roleEnv + "=" + role}
	for i, a := range args {
		env = append(env, "ROLE_ARG"+strconv.Itoa(i)+"="+a)
	}
	p, c, err := spawnproc.Start(context.Background(), spawnproc.Spec{Wire: wire, Env: env, Args: []string{"-test.run=^$"}})
	if err != nil {
		b.Fatal(err)
	}
	return p, c
}

// cpuTime is the CPU time, user and system, this process and its reaped
// children have used.
func cpuTime(b *testing.B) time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err != nil {
			b.Fatal(err)
		}
		total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return total
}

// reportCPU runs body, which starts a child and reaps it, and reports the
// CPU time both processes used, per op: a figure the machine's other load
// moves less than the time per op. Spawning and reaping the child are
// counted too, a few milliseconds over the whole run.
func reportCPU(b *testing.B, body func()) {
	start := cpuTime(b)
	body()
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkProcessCall: a function call round trip to a process actor,
// beside a raw framed echo over the same wire; cpu-ns/op counts both
// processes.
func BenchmarkProcessCall(b *testing.B) {
	for _, w := range wires {
		b.Run("baseline=raw-framed-echo-"+w.name, func(b *testing.B) { reportCPU(b, func() { benchRawEcho(b, w.wire) }) })
		b.Run("tractor=Func.Call-"+w.name, func(b *testing.B) {
			reportCPU(b, func() {
				benchWorkerOn(b, w.host, eps(square), func(ctx context.Context, p *tractor.Portal) {
					for b.Loop() {
						if _, err := square.Call(ctx, p, 3); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		})
	}
}

func benchRawEcho(b *testing.B, wire tractor.Wire) {
	p, c := startRole(b, wire, "rawecho")
	defer func() { c.Close(); p.Wait(context.Background()) }()
	frame := make([]byte, 4+32)
	binary.LittleEndian.PutUint32(frame, 32)
	r := bufio.NewReader(c)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(r, frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProcessStream(b *testing.B) {
	for _, w := range wires {
		b.Run("baseline=raw-framed-bufio-"+w.name, func(b *testing.B) {
			p, c := startRole(b, w.wire, "rawstream", strconv.Itoa(b.N))
			defer func() { c.Close(); p.Wait(context.Background()) }()
			r := bufio.NewReaderSize(c, 64<<10)
			frame := make([]byte, 4+32)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := io.ReadFull(r, frame); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("tractor=MsgStream-"+w.name, func(b *testing.B) {
			reportCPU(b, func() {
				benchWorkerOn(b, w.host, eps(benchStream), func(ctx context.Context, p *tractor.Portal) {
					s, err := benchStream.Open(ctx, p, b.N)
					if err != nil {
						b.Fatal(err)
					}
					drain[benchPayload](ctx, b, s)
				})
			})
		})
	}
}

// benchString32 yields n copies of a 32-byte string.
var benchString32 = tractor.Stream("bench.string32", func(ctx context.Context, n int, yield func(string) error) error {
	const s = "0123456789abcdef0123456789abcdef"
	for range n {
		if err := yield(s); err != nil {
			return err
		}
	}
	return nil
})

// BenchmarkProcessStreamSmall: small stream items from a process actor
// whose payloads skip reflection: ints (1-9 bytes encoded) and 32-byte
// strings; the raw baseline is the 32-byte one of BenchmarkProcessStream.
func BenchmarkProcessStreamSmall(b *testing.B) {
	for _, w := range wires {
		b.Run("tractor=MsgStream-ints-"+w.name, func(b *testing.B) {
			benchWorkerOn(b, w.host, eps(count), func(ctx context.Context, p *tractor.Portal) {
				s, err := count.Open(ctx, p, b.N)
				if err != nil {
					b.Fatal(err)
				}
				drain[int](ctx, b, s)
			})
		})
		b.Run("tractor=MsgStream-string32-"+w.name, func(b *testing.B) {
			benchWorkerOn(b, w.host, eps(benchString32), func(ctx context.Context, p *tractor.Portal) {
				s, err := benchString32.Open(ctx, p, b.N)
				if err != nil {
					b.Fatal(err)
				}
				drain[string](ctx, b, s)
			})
		})
	}
}

// drain receives T items until the stream ends, then closes it.
func drain[T any](ctx context.Context, b *testing.B, s *tractor.MsgStream[tractor.NoSend, T]) {
	defer s.Close()
	for {
		if _, err := s.Receive(ctx); err != nil {
			if err != io.EOF {
				b.Fatal(err)
			}
			return
		}
	}
}

// BenchmarkSpawnProcess: from starting a process actor to its first
// result, vs fork/exec of the same binary that connects back and sends a
// byte.
func BenchmarkSpawnProcess(b *testing.B) {
	b.Run("baseline=fork-exec-connect-back", func(b *testing.B) {
		for b.Loop() {
			p, c := startRole(b, tractor.Pipe, "hello")
			var one [1]byte
			if _, err := io.ReadFull(c, one[:]); err != nil {
				b.Fatal(err)
			}
			c.Close()
			p.Wait(context.Background())
		}
	})
	b.Run("tractor=StartActor+first-Call", func(b *testing.B) {
		err := tractor.Run(context.Background(), func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				for b.Loop() {
					p, err := n.StartActor(ctx, "w", tractor.Expose(square))
					if err != nil {
						return err
					}
					if _, err := square.Call(ctx, p, 3); err != nil {
						return err
					}
					b.StopTimer()
					if err := p.CancelActor(ctx); err != nil {
						return err
					}
					b.StartTimer()
				}
				return nil
			})
		}, processPipe.opts...)
		if err != nil {
			b.Fatal(err)
		}
	})
}

// benchWorkerOn is benchWorker with the worker hosted per h.
func benchWorkerOn(b *testing.B, h hosting, eps []tractor.Endpoint, body func(ctx context.Context, p *tractor.Portal)) {
	b.Helper()
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "worker", tractor.Expose(eps...))
			if err != nil {
				return err
			}
			defer p.CancelActor(ctx)
			b.ReportAllocs()
			b.ResetTimer()
			body(ctx, p)
			b.StopTimer()
			return nil
		})
	}, h.opts...)
	if err != nil {
		b.Fatal(err)
	}
}

// rawRole plays the raw children of the process benchmarks.
func rawRole(role string) bool {
	c, err := spawnproc.ConnectParent(context.Background())
	if err != nil {
		os.Exit(3)
	}
	defer c.Close()
	switch role {
	case "rawecho":
		r := bufio.NewReader(c)
		frame := make([]byte, 4+32)
		for {
			if _, err := io.ReadFull(r, frame); err != nil {
				return true
			}
			if _, err := c.Write(frame); err != nil {
				return true
			}
		}
	case "rawstream":
		n, _ := strconv.Atoi(os.Getenv("ROLE_ARG0"))
		w := bufio.NewWriterSize(c, 64<<10)
		frame := make([]byte, 4+32)
		binary.LittleEndian.PutUint32(frame, 32)
		for range n {
			w.Write(frame)
		}
		w.Flush()
		io.Copy(io.Discard, c)
		return true
	case "hello":
		c.Write([]byte{1})
		return true
	}
	return false
}

// BenchmarkProcessStreamLarge: large stream items from a process actor,
// with the default window (1024 items and 4 MiB) and with the items alone
// bounding it (as before the byte window): the byte window must not slow
// a stream of large items down.
func BenchmarkProcessStreamLarge(b *testing.B) {
	for _, w := range wires {
		for _, size := range []int{64 << 10, 1 << 20} {
			for _, win := range []struct {
				name string
				opt  tractor.WindowOption
			}{
				{"window=default", tractor.Window(1024, 4<<20)},
				{"window=items-only", tractor.Window(1024, 1<<40)},
			} {
				b.Run(fmt.Sprintf("tractor=MsgStream-%dKiB-%s-%s", size>>10, win.name, w.name), func(b *testing.B) {
					benchWorkerOn(b, w.host, eps(bigFlood), func(ctx context.Context, p *tractor.Portal) {
						b.SetBytes(int64(size))
						s, err := bigFlood.Open(ctx, p, bigFloodArg{N: b.N, Size: size}, win.opt)
						if err != nil {
							b.Fatal(err)
						}
						drain[[]byte](ctx, b, s)
					})
				})
			}
		}
	}
}
