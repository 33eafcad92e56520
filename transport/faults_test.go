package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// faultedPair returns two wire connections over a socketpair, the first's
// stream passing through f's faults, both handshaken and served.
func faultedPair(t *testing.T, f transport.Faults) (a, b transport.Conn, sa, sb *serving) {
	t.Helper()
	pf, cf, err := transport.Socketpair()
	if err != nil {
		t.Fatalf("Socketpair: %v", err)
	}
	pc, err := net.FileConn(pf)
	pf.Close()
	if err != nil {
		t.Fatalf("FileConn: %v", err)
	}
	wa := transport.NewConn(f.Stream(pc).(net.Conn), transport.Config{})
	wb, err := transport.FileConn(cf, transport.Config{})
	if err != nil {
		t.Fatalf("FileConn: %v", err)
	}
	t.Cleanup(func() { closeBoth(wa, wb) })
	ra, rb := handshakeBoth(wa, wb, transport.Hello{Version: transport.ProtocolVersion}, transport.Hello{Version: transport.ProtocolVersion}, context.Background())
	if ra.err != nil || rb.err != nil {
		return wa, wb, nil, nil
	}
	a = f.Conn(wa)
	return a, wb, serve(t, a), serve(t, wb)
}

// numbered returns n yields of dialog 7 carrying "item i", long enough to
// be split in many places.
func numbered(n int) []transport.Msg {
	msgs := make([]transport.Msg, n)
	for i := range msgs {
		msgs[i] = yield(7, fmt.Sprintf("item %d %s", i, strings.Repeat("x", i)))
	}
	return msgs
}

// checkNumbered checks that got are the n items of numbered, in order.
func checkNumbered(t *testing.T, got []transport.Msg, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		var s string
		if err := transport.Decode(m.Payload, &s); err != nil || s != fmt.Sprintf("item %d %s", i, strings.Repeat("x", i)) {
			t.Fatalf("message %d: %q, %v", i, s, err)
		}
	}
}

// TestFaultStreamDeliversIntact: delays, short writes and frames split at
// random points or at every byte, both ways, change nothing that arrives.
func TestFaultStreamDeliversIntact(t *testing.T) {
	for _, f := range []transport.Faults{
		{Seed: 1, SplitWrites: true, SplitReads: true},
		{Seed: 2, EveryByte: true},
		{Seed: 3, Delay: 50 * time.Microsecond, SplitWrites: true},
	} {
		t.Run(f.String(), func(t *testing.T) {
			a, b, sa, sb := faultedPair(t, f)
			if sa == nil {
				t.Fatal("handshake failed")
			}
			const n = 40
			for _, m := range numbered(n) {
				if err := a.Send(context.Background(), m); err != nil {
					t.Fatal(err)
				}
				if err := b.Send(context.Background(), m); err != nil {
					t.Fatal(err)
				}
			}
			checkNumbered(t, sb.col.waitN(t, n), n)
			checkNumbered(t, sa.col.waitN(t, n), n)
		})
	}
}

// TestFaultStreamCorrupt: a corrupted frame ends the connection of the side
// that reads it with ErrMalformed; what came before it was delivered
// intact, nothing after it.
func TestFaultStreamCorrupt(t *testing.T) {
	for seed := range uint64(4) { // both directions are drawn
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			log := &transport.FaultLog{}
			// Frame 1 is the hello each way; the 4th is the 3rd message.
			a, b, sa, sb := faultedPair(t, transport.Faults{Seed: seed, Corrupt: 4, Log: log})
			for _, m := range numbered(5) {
				a.Send(context.Background(), m)
				b.Send(context.Background(), m)
			}
			// The reader of the corrupted frame fails, and closes: the
			// other side sees the end of the stream.
			ea, eb := sa.wait(t), sb.wait(t)
			ev := log.Events()
			if len(ev) != 1 || !strings.Contains(ev[0], "corrupt frame 4") {
				t.Fatalf("log %q, want one corruption of frame 4", ev)
			}
			reader, err := sa, ea
			if strings.HasPrefix(ev[0], "write") {
				reader, err = sb, eb
			}
			if !errors.Is(err, transport.ErrMalformed) {
				t.Fatalf("Serve of the reader of the corrupted frame: %v, want ErrMalformed", err)
			}
			checkNumbered(t, reader.col.snapshot(), 2)
		})
	}
}

// TestFaultStreamDisconnect: DisconnectAfter cuts the stream after that
// many frames (the hello counts): the peer gets exactly the messages
// before the cut, then its Serve ends; the cut side's Sends fail.
func TestFaultStreamDisconnect(t *testing.T) {
	a, _, sa, sb := faultedPair(t, transport.Faults{Seed: 9, DisconnectAfter: 4})
	for _, m := range numbered(6) {
		a.Send(context.Background(), m)
	}
	sb.wait(t)
	checkNumbered(t, sb.col.snapshot(), 3)
	sa.wait(t)
	if err := a.Send(context.Background(), yield(7, "late")); err == nil {
		t.Error("Send after the cut succeeded")
	}
}

// TestFaultConnMem: over the in-memory backend, IgnoreCredit raises every
// grant both ways, DisconnectAfter closes the connection after that many
// messages (both directions counted apart), and the wrapper stays an
// in-memory connection (attached without a goroutine).
func TestFaultConnMem(t *testing.T) {
	a, b := transport.MemPair()
	a = transport.Faults{Seed: 1, IgnoreCredit: true, DisconnectAfter: 3}.Conn(a)
	if _, ok := a.(interface{ Attach(transport.Receiver) }); !ok {
		t.Fatal("the wrapper of an in-memory connection has no Attach")
	}
	sa, sb := serve(t, a), serve(t, b)
	ctx := context.Background()
	a.Send(ctx, transport.Msg{Kind: transport.KindCmd, CID: 1, Credit: 4, CreditBytes: 100})
	b.Send(ctx, transport.Msg{Kind: transport.KindCredit, CID: 1, Credit: 2, CreditBytes: 10})
	b.Send(ctx, transport.Msg{Kind: transport.KindYield, CID: 1, Payload: "y"})
	for i, got := range []transport.Msg{sb.col.waitN(t, 1)[0], sa.col.waitN(t, 2)[0]} {
		if got.Credit != 1<<32-1 || got.CreditBytes < 1<<62 {
			t.Errorf("grant %d arrived as %d items, %d bytes: not raised", i, got.Credit, got.CreditBytes)
		}
	}
	b.Send(ctx, transport.Msg{Kind: transport.KindYield, CID: 1, Payload: "cut"}) // the 3rd a receives
	if err := sa.wait(t); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Serve after the cut: %v, want ErrClosed", err)
	}
	if err := sb.wait(t); err != io.EOF {
		t.Errorf("peer's Serve after the cut: %v, want io.EOF", err)
	}
	if err := a.Send(ctx, yield(1, "late")); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Send after the cut: %v, want ErrClosed", err)
	}
}

// differ counts the bytes in which a and b, of one length, differ.
func differ(a, b []byte) int {
	if len(a) != len(b) {
		return -1
	}
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// script is a stream whose reads come from a fixed input and whose writes
// are kept: a run over it does the same calls every time.
type script struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (s *script) Read(p []byte) (int, error)  { return s.in.Read(p) }
func (s *script) Write(p []byte) (int, error) { return s.out.Write(p) }
func (s *script) Close() error                { return nil }

// TestFaultsReplay: one seed, one sequence of decisions; another seed,
// another. What passes through is intact, whatever the splits, but for
// the corrupted byte.
func TestFaultsReplay(t *testing.T) {
	var input bytes.Buffer
	for i := range 20 {
		input.Write(frame(0, []byte(strings.Repeat("b", i+1))))
	}
	run := func(seed uint64) []string {
		log := &transport.FaultLog{}
		f := transport.Faults{Seed: seed, Delay: time.Microsecond, SplitWrites: true, SplitReads: true, Corrupt: 7, Log: log}
		sc := &script{in: bytes.NewReader(input.Bytes())}
		s := f.Stream(sc)
		read, err := io.ReadAll(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(input.Bytes()); err != nil {
			t.Fatal(err)
		}
		if changed := differ(read, input.Bytes()) + differ(sc.out.Bytes(), input.Bytes()); changed != 1 {
			t.Fatalf("%d bytes changed by the stream, want the 1 corrupted", changed)
		}
		mem, _ := transport.MemPair()
		c := f.Conn(mem)
		for range 5 {
			c.Send(context.Background(), yield(1, "x"))
		}
		mem.Close()
		return log.Events()
	}
	first := run(42)
	if again := run(42); !slices.Equal(first, again) {
		t.Errorf("seed 42 decided\n%q\nthen\n%q", first, again)
	}
	if other := run(43); slices.Equal(first, other) {
		t.Error("seeds 42 and 43 made the same decisions")
	}
	if len(first) < 10 {
		t.Errorf("only %d decisions logged: %q", len(first), first)
	}
}

// TestFaultsActive: the zero Faults injects nothing, and its Stream and
// Conn are the stream and connection given; each fault alone is one.
func TestFaultsActive(t *testing.T) {
	if (transport.Faults{Seed: 7}).Active() {
		t.Error("Faults with only a seed are active")
	}
	sc := &script{in: bytes.NewReader(nil)}
	if s := (transport.Faults{Seed: 7}).Stream(sc); s != io.ReadWriteCloser(sc) {
		t.Errorf("Stream without faults wraps the stream: %T", s)
	}
	mem, peer := transport.MemPair()
	defer peer.Close()
	defer mem.Close()
	if c := (transport.Faults{Seed: 7, SplitWrites: true}).Conn(mem); c != mem {
		t.Errorf("Conn without message faults wraps the connection: %T", c)
	}
	for _, f := range []transport.Faults{
		{Delay: 1}, {SplitWrites: true}, {SplitReads: true}, {EveryByte: true},
		{IgnoreCredit: true}, {DisconnectAfter: 1}, {Corrupt: 1},
	} {
		if !f.Active() {
			t.Errorf("%v is not active", f)
		}
		if s := f.Stream(sc); s == io.ReadWriteCloser(sc) {
			t.Errorf("%v.Stream returns the stream unwrapped", f)
		}
	}
}

// TestFaultsSeedsDiffer: each seed draws its own decisions; the seed is
// mixed well enough that sixteen neighbouring seeds split one write in
// sixteen different ways.
func TestFaultsSeedsDiffer(t *testing.T) {
	seen := map[string]uint64{}
	for seed := range uint64(16) {
		log := &transport.FaultLog{}
		s := transport.Faults{Seed: seed, SplitWrites: true, Log: log}.Stream(&script{in: bytes.NewReader(nil)})
		if _, err := s.Write(frame(0, bytes.Repeat([]byte("s"), 1000))); err != nil {
			t.Fatal(err)
		}
		key := strings.Join(log.Events(), "; ")
		if other, ok := seen[key]; ok {
			t.Fatalf("seeds %d and %d split a write alike: %s", other, seed, key)
		}
		seen[key] = seed
	}
}

// TestFaultStreamReadPieces: under EveryByte a Read returns one byte at a
// time; an empty Read reads nothing and decides nothing.
func TestFaultStreamReadPieces(t *testing.T) {
	log := &transport.FaultLog{}
	in := frame(0, []byte("abc"))
	s := transport.Faults{Seed: 1, EveryByte: true, Log: log}.Stream(&script{in: bytes.NewReader(in)})
	if n, err := s.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
	if ev := log.Events(); len(ev) != 0 {
		t.Fatalf("an empty Read decided %q", ev)
	}
	buf := make([]byte, 16)
	for i := range in {
		n, err := s.Read(buf)
		if n != 1 || err != nil || buf[0] != in[i] {
			t.Fatalf("Read %d = %d, %v (%q); want byte %q", i, n, err, buf[:n], in[i])
		}
	}
}

// TestFaultConnDelayOnly: a message connection with delays alone loses
// nothing and measures what it sends as the connection under it does.
func TestFaultConnDelayOnly(t *testing.T) {
	a, b := transport.MemPair()
	raw := a.(transport.SizedSender)
	a = transport.Faults{Seed: 5, Delay: time.Microsecond}.Conn(a)
	sb := serve(t, b)
	serve(t, a)
	ctx := context.Background()
	want, err := raw.SendSized(ctx, yield(1, "measured"))
	if err != nil || want <= 0 {
		t.Fatalf("SendSized over the in-memory connection: %d, %v", want, err)
	}
	got, err := a.(transport.SizedSender).SendSized(ctx, yield(1, "measured"))
	if err != nil || got != want {
		t.Fatalf("SendSized through the faults: %d, %v; want %d", got, err, want)
	}
	const n = 5
	for i := range n {
		if err := a.Send(ctx, yield(1, fmt.Sprint(i))); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if got := sb.col.waitN(t, n+2); len(got) != n+2 {
		t.Fatalf("peer got %d messages, want %d", len(got), n+2)
	}
	a.Close()
}

// TestFaultStreamCountsSplitFrames: however a stream's reads and writes
// are split, the wrapper follows its frames exactly: DisconnectAfter cuts
// after the last byte of that frame, and Corrupt changes that frame's
// flags byte and no other.
func TestFaultStreamCountsSplitFrames(t *testing.T) {
	var frames [][]byte
	var input []byte
	for i := range 12 {
		frames = append(frames, frame(0, bytes.Repeat([]byte{'a' + byte(i)}, 3+7*i)))
		input = append(input, frames[i]...)
	}
	const cut, bad = 5, 7
	before := func(n int) int { return len(slices.Concat(frames[:n]...)) }
	for seed := range uint64(8) {
		// Reads split at random points, or byte by byte (so that a frame
		// ends with a read), the cut in the read direction.
		for _, every := range []bool{false, true} {
			s := transport.Faults{Seed: seed, SplitReads: true, EveryByte: every, DisconnectAfter: cut}.Stream(&script{in: bytes.NewReader(input)})
			var read []byte
			buf := make([]byte, 64)
			for {
				n, err := s.Read(buf)
				read = append(read, buf[:n]...)
				if err != nil {
					if !errors.Is(err, transport.ErrFault) {
						t.Fatalf("seed %d, EveryByte %v: read error %v, want ErrFault", seed, every, err)
					}
					break
				}
			}
			if !bytes.Equal(read, input[:before(cut)]) {
				t.Fatalf("seed %d, EveryByte %v: read %d bytes before the cut, want the %d of %d frames", seed, every, len(read), before(cut), cut)
			}
		}
		// The corrupted frame: its flags byte, whichever direction.
		sc := &script{in: bytes.NewReader(input)}
		s := transport.Faults{Seed: seed, SplitReads: true, SplitWrites: true, Corrupt: bad}.Stream(sc)
		read, err := io.ReadAll(s)
		if err != nil {
			t.Fatal(err)
		}
		for len(read) > 0 {
			n, err := s.Write(read[:min(len(read), 1+int(seed)*13)])
			if err != nil {
				t.Fatal(err)
			}
			read = read[n:]
		}
		out := sc.out.Bytes()
		for i := range out {
			if want := out[i] != input[i]; want != (i == before(bad-1)+4) {
				t.Fatalf("seed %d: byte %d changed %v (the flags of frame %d are at %d)", seed, i, want, bad, before(bad-1)+4)
			}
		}
	}
}

// TestFaultStreamWriteCut: DisconnectAfter cuts a stream's writes after
// the last byte of that frame: a Write that ends there succeeds and the
// next fails; a Write that goes on past it writes up to there and fails.
func TestFaultStreamWriteCut(t *testing.T) {
	var frames [][]byte
	for i := range 8 {
		frames = append(frames, frame(0, bytes.Repeat([]byte{'a' + byte(i)}, 1+i)))
	}
	const cut = 5
	upTo := slices.Concat(frames[:cut]...)
	// One frame a Write.
	sc := &script{in: bytes.NewReader(nil)}
	s := transport.Faults{Seed: 1, DisconnectAfter: cut}.Stream(sc)
	for i, f := range frames[:cut] {
		if n, err := s.Write(f); n != len(f) || err != nil {
			t.Fatalf("Write of frame %d: %d, %v; want %d, nil", i+1, n, err, len(f))
		}
	}
	if n, err := s.Write(frames[cut]); n != 0 || !errors.Is(err, transport.ErrFault) {
		t.Fatalf("Write after the cut: %d, %v; want 0, ErrFault", n, err)
	}
	if !bytes.Equal(sc.out.Bytes(), upTo) {
		t.Fatalf("%d bytes written, want the %d of %d frames", sc.out.Len(), len(upTo), cut)
	}
	// All the frames in one Write.
	sc = &script{in: bytes.NewReader(nil)}
	s = transport.Faults{Seed: 1, DisconnectAfter: cut}.Stream(sc)
	if n, err := s.Write(slices.Concat(frames...)); n != len(upTo) || !errors.Is(err, transport.ErrFault) {
		t.Fatalf("Write past the cut: %d, %v; want %d, ErrFault", n, err, len(upTo))
	}
	if !bytes.Equal(sc.out.Bytes(), upTo) {
		t.Fatalf("%d bytes written, want the %d of %d frames", sc.out.Len(), len(upTo), cut)
	}
}
