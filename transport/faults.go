package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Faults describes the faults a wrapped connection injects, for tests of
// what the runtime does with a link that misbehaves. The zero value
// injects none. Every decision (how long a delay, where a write or read
// is split) is drawn from generators seeded with Seed, one per direction,
// so that the same Faults over the same traffic makes the same decisions:
// a failing run replays.
//
// Same seed, same run holds for each direction's sequence of decisions:
// the nth decision of a direction is the same in every run. Which
// operation it falls on is the traffic's: over a message connection whose
// messages are sent by several goroutines at once, as the runtime's
// dialogs send theirs, which message gets which delay, or is the one after
// which the connection is cut, depends on the order the scheduler lets
// the Sends in, as do the bytes a stream carries, and where a frame is
// split or corrupted. A run replays exactly where that order is fixed:
// one dialog at a time, or goroutines that a testing/synctest bubble runs
// in a fixed order.
//
// Faults apply at two levels. [Faults.Stream] wraps the byte stream under
// a wire connection ([NewConn], [FileConn]); there every fault applies,
// counted in frames. [Faults.Conn] wraps a message [Conn], the in-memory
// backend's or a wire connection after its handshake; there only Delay,
// IgnoreCredit and DisconnectAfter apply (counted in messages): the
// in-memory backend has no bytes to split or corrupt, and a wire
// connection's are the stream wrapper's.
type Faults struct {
	// Seed seeds every decision.
	Seed uint64
	// Delay, when positive, holds each Write and each Read of a stream,
	// and each Send of a message connection, for a random time below it.
	Delay time.Duration
	// SplitWrites passes each Write to the stream in pieces of random
	// length, each written on its own, so that the peer reads frames
	// split at random points.
	SplitWrites bool
	// SplitReads makes each Read return at most a random number of bytes,
	// so that the reader sees every frame arrive in pieces.
	SplitReads bool
	// EveryByte makes split writes and reads move one byte at a time.
	EveryByte bool
	// IgnoreCredit makes each side tell the other a flow-control window
	// far larger than the one it receives with: the grants of credit
	// messages and the windows that cmd and started messages announce are
	// raised to the maximum, both ways. Each side's runtime then sends
	// stream items beyond the window its peer granted, as a peer that
	// ignores its credit would, and the receiving runtime must catch it.
	IgnoreCredit bool
	// DisconnectAfter, when positive, breaks the connection once either
	// direction has carried that many frames (of a stream, handshake
	// frames included) or messages (of a message connection): a stream's
	// underlying connection is closed after the last byte of that frame,
	// a message connection is closed by a goroutine of its own at once.
	DisconnectAfter int
	// Corrupt, when positive, corrupts the frame of that number (from 1,
	// handshake frames included) in one direction of a stream, drawn from
	// Seed: a reserved bit of its flags byte is set. The protocol carries
	// no checksum, so a flipped bit inside a payload would read as
	// another value; this is the corruption the codec must catch.
	Corrupt int
	// Log, if not nil, records every decision.
	Log *FaultLog `msgpack:"-"`
}

// Active says whether f injects any fault.
func (f Faults) Active() bool {
	return f.Delay > 0 || f.SplitWrites || f.SplitReads || f.EveryByte || f.IgnoreCredit ||
		f.DisconnectAfter > 0 || f.Corrupt > 0
}

// String names the faults f injects.
func (f Faults) String() string {
	return fmt.Sprintf("{Seed:%d Delay:%v SplitWrites:%v SplitReads:%v EveryByte:%v IgnoreCredit:%v DisconnectAfter:%d Corrupt:%d}",
		f.Seed, f.Delay, f.SplitWrites, f.SplitReads, f.EveryByte, f.IgnoreCredit, f.DisconnectAfter, f.Corrupt)
}

// ErrFault is wrapped by the errors of a connection that a [Faults]
// wrapper broke on purpose (DisconnectAfter).
var ErrFault = errors.New("transport: injected fault")

// FaultLog records the decisions of fault wrappers, each as a line
// naming its direction ("write", "read", "send", "deliver") and what was
// decided. It is safe for concurrent use.
type FaultLog struct {
	mu     sync.Mutex
	events []string
}

// Events returns the decisions recorded so far, in order.
func (l *FaultLog) Events() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func (l *FaultLog) add(format string, args ...any) {
	if l == nil {
		return
	}
	s := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.events = append(l.events, s)
	l.mu.Unlock()
}

// rng returns the generator of one direction's decisions. The seed is
// mixed first: PCG's first outputs from nearby seeds are alike.
func (f Faults) rng(dir uint64) *rand.Rand {
	return rand.New(rand.NewPCG(splitmix(f.Seed), splitmix(f.Seed^dir<<32)))
}

// splitmix is SplitMix64's mixing function.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// delay waits the random time a direction's next operation is held for.
func (f Faults) delay(rng *rand.Rand, dir string) {
	if f.Delay <= 0 {
		return
	}
	d := time.Duration(rng.Int64N(int64(f.Delay)))
	f.Log.add("%s: delay %v", dir, d)
	time.Sleep(d)
}

// The directions, which seed their generators.
const (
	dirWrite uint64 = iota + 1
	dirRead
	dirSend
	dirConfig
)

// Stream returns rwc with f's faults injected into the bytes written to and
// read from it. If rwc is a [net.Conn], so is the stream returned, with
// rwc's addresses and deadlines (but not its file descriptor: every byte
// passes through the wrapper). Without faults it returns rwc.
func (f Faults) Stream(rwc io.ReadWriteCloser) io.ReadWriteCloser {
	if !f.Active() {
		return rwc
	}
	s := &faultStream{rwc: rwc, f: f}
	s.w = frameScan{name: "write", rng: f.rng(dirWrite)}
	s.r = frameScan{name: "read", rng: f.rng(dirRead)}
	if f.Corrupt > 0 {
		if f.rng(dirConfig).IntN(2) == 0 {
			s.w.corrupt = f.Corrupt
		} else {
			s.r.corrupt = f.Corrupt
		}
	}
	if nc, ok := rwc.(net.Conn); ok {
		return &faultNetConn{Conn: nc, s: s}
	}
	return s
}

// faultStream is a stream with faults injected. Each direction has one
// user at a time (a wire connection's writer, its reader): their mutexes
// only make that safe to assume.
type faultStream struct {
	rwc io.ReadWriteCloser
	f   Faults

	wmu, rmu sync.Mutex
	w, r     frameScan
	cut      atomic.Bool
}

// frameScan follows the frames of one direction of a stream.
type frameScan struct {
	name string
	rng  *rand.Rand
	// hdr collects the length prefix of the frame being read; left is
	// what remains of the frame after it (flags byte and body); frames
	// counts the frames begun.
	hdr     [4]byte
	nhdr    int
	left    int
	frames  int
	corrupt int // the number of the frame to corrupt in this direction
}

// scan follows the frames in p, which passes in this direction next,
// corrupting the flags byte of the frame due; it returns how many bytes of
// p end at the last byte of frame number stop (len(p) if none does).
func (sc *frameScan) scan(p []byte, stop int, log *FaultLog) int {
	for i := 0; i < len(p); {
		if sc.left == 0 {
			take := min(4-sc.nhdr, len(p)-i)
			copy(sc.hdr[sc.nhdr:], p[i:i+take])
			sc.nhdr += take
			i += take
			if sc.nhdr == 4 {
				sc.nhdr = 0
				sc.left = int(binary.LittleEndian.Uint32(sc.hdr[:]))
				sc.frames++
			}
			continue
		}
		if sc.frames == sc.corrupt && sc.left == int(binary.LittleEndian.Uint32(sc.hdr[:])) {
			bit := byte(2) << sc.rng.IntN(7) // a reserved flag bit
			p[i] |= bit
			log.add("%s: corrupt frame %d flags with %#x", sc.name, sc.frames, bit)
		}
		take := min(sc.left, len(p)-i)
		sc.left -= take
		i += take
		if sc.left == 0 && sc.frames == stop {
			return i
		}
	}
	return len(p)
}

// piece draws the length of the next piece of n bytes to move.
func (sc *frameScan) piece(f Faults, n int) int {
	k := n
	switch {
	case f.EveryByte:
		k = 1
	case n > 1:
		k = 1 + sc.rng.IntN(n)
	}
	f.Log.add("%s: %d of %d bytes", sc.name, k, n)
	return k
}

// disconnected is the error of a stream cut by DisconnectAfter.
func (s *faultStream) disconnected() error {
	return fmt.Errorf("%w: disconnected after %d frames: %w", ErrFault, s.f.DisconnectAfter, net.ErrClosed)
}

// cutStream closes the underlying stream, once.
func (s *faultStream) cutStream(dir string) {
	if !s.cut.Swap(true) {
		s.f.Log.add("%s: disconnect after frame %d", dir, s.f.DisconnectAfter)
		s.rwc.Close()
	}
}

// Write writes p, split and corrupted as f says.
func (s *faultStream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.cut.Load() {
		return 0, s.disconnected()
	}
	s.f.delay(s.w.rng, "write")
	if s.w.corrupt > 0 {
		p = append([]byte(nil), p...) // the caller's buffer stays intact
	}
	end := s.w.scan(p, s.f.DisconnectAfter, s.f.Log)
	written := 0
	for written < end {
		k := end - written
		if s.f.SplitWrites || s.f.EveryByte {
			k = s.w.piece(s.f, k)
		}
		n, err := s.rwc.Write(p[written : written+k])
		written += n
		if err != nil {
			return written, err
		}
	}
	if end < len(p) || (s.f.DisconnectAfter > 0 && s.w.frames >= s.f.DisconnectAfter && s.w.left == 0) {
		s.cutStream("write")
		if end < len(p) {
			return written, s.disconnected()
		}
	}
	return written, nil
}

// Read reads into p, split and corrupted as f says.
func (s *faultStream) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.cut.Load() {
		return 0, s.disconnected()
	}
	s.f.delay(s.r.rng, "read")
	if len(p) > 0 && (s.f.SplitReads || s.f.EveryByte) {
		p = p[:s.r.piece(s.f, len(p))]
	}
	n, err := s.rwc.Read(p)
	end := s.r.scan(p[:n], s.f.DisconnectAfter, s.f.Log)
	if end < n || (s.f.DisconnectAfter > 0 && s.r.frames >= s.f.DisconnectAfter && s.r.left == 0) {
		s.cutStream("read")
		return end, err
	}
	return n, err
}

// Close closes the underlying stream.
func (s *faultStream) Close() error {
	if s.cut.Swap(true) {
		return nil
	}
	return s.rwc.Close()
}

// faultNetConn is a faultStream over a net.Conn, which it remains.
type faultNetConn struct {
	net.Conn
	s *faultStream
}

func (c *faultNetConn) Read(p []byte) (int, error)  { return c.s.Read(p) }
func (c *faultNetConn) Write(p []byte) (int, error) { return c.s.Write(p) }
func (c *faultNetConn) Close() error                { return c.s.Close() }

// Conn returns c with f's message-level faults injected (Delay,
// IgnoreCredit, DisconnectAfter), or c itself if f has none of them. The
// connection returned implements what c does of [SizedSender] and of the
// in-memory backend's Attach and Ended.
func (f Faults) Conn(c Conn) Conn {
	if f.Delay <= 0 && !f.IgnoreCredit && f.DisconnectAfter <= 0 {
		return c
	}
	fc := &faultConn{inner: c, f: f, rng: f.rng(dirSend)}
	fc.sized, _ = c.(SizedSender)
	if m, ok := c.(memAttacher); ok {
		return &faultMemConn{faultConn: fc, mem: m}
	}
	return fc
}

// memAttacher is what the in-memory backend offers beyond [Conn].
type memAttacher interface {
	Attach(Receiver)
	Ended() error
}

// faultConn is a message connection with faults injected.
type faultConn struct {
	inner Conn
	sized SizedSender
	f     Faults

	mu   sync.Mutex // guards rng, the counts and cut
	rng  *rand.Rand
	sent int
	got  int
	cut  bool
}

// count counts a message in one direction and says whether it may pass;
// the one that reaches DisconnectAfter passes, and starts the cut.
func (c *faultConn) count(n *int, dir string) bool {
	if c.f.DisconnectAfter <= 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return false
	}
	*n++
	if *n >= c.f.DisconnectAfter {
		c.cut = true
		c.f.Log.add("%s: disconnect after message %d", dir, *n)
		// Closing here could reenter the runtime that called Send, or
		// the peer's lock that delivers: a goroutine closes, at once.
		// Nothing waits for it, as nothing can without deadlock: the
		// runtime learns of the end from inside inner.Close (an
		// in-memory connection calls its receiver's Ended), and its
		// handling closes this connection in turn, so Close cannot wait
		// for the goroutine it is called from; and an attached
		// in-memory connection has no Serve whose return could wait.
		// It is bounded: it runs once per connection (cut is set once,
		// under mu), and inner.Close does not block (an in-memory
		// connection's takes its locks and returns; a wire
		// connection's returns at once while Serve reads, and
		// otherwise within closeLinger); and faults are for tests.
		go c.inner.Close()
	}
	return true
}

// lie raises the credit m grants or announces, under IgnoreCredit.
func (c *faultConn) lie(m Msg, dir string) Msg {
	if !c.f.IgnoreCredit {
		return m
	}
	switch m.Kind {
	case KindCmd, KindStarted, KindCredit:
		c.f.Log.add("%s: %s grants %d items, %d bytes: raised", dir, m.Kind, m.Credit, m.CreditBytes)
		m.Credit, m.CreditBytes = math.MaxUint32, math.MaxInt64
	}
	return m
}

func (c *faultConn) Send(ctx context.Context, m Msg) error {
	_, err := c.SendSized(ctx, m)
	return err
}

// SendSized implements [SizedSender], with the size 0 if the inner
// connection does not measure.
func (c *faultConn) SendSized(ctx context.Context, m Msg) (int, error) {
	if c.f.Delay > 0 {
		c.mu.Lock()
		d := time.Duration(c.rng.Int64N(int64(c.f.Delay)))
		c.mu.Unlock()
		c.f.Log.add("send: delay %v", d)
		time.Sleep(d)
	}
	if !c.count(&c.sent, "send") {
		return 0, fmt.Errorf("send %s: %w: %w", m.Kind, ErrFault, ErrClosed)
	}
	m = c.lie(m, "send")
	if c.sized != nil {
		return c.sized.SendSized(ctx, m)
	}
	return 0, c.inner.Send(ctx, m)
}

// deliver wraps a deliver function with the faults of incoming messages.
func (c *faultConn) deliver(deliver func(Msg)) func(Msg) {
	return func(m Msg) {
		if c.count(&c.got, "deliver") {
			deliver(c.lie(m, "deliver"))
		}
	}
}

func (c *faultConn) Serve(deliver func(Msg)) error { return c.inner.Serve(c.deliver(deliver)) }

func (c *faultConn) Close() error { return c.inner.Close() }

// faultMemConn is a faultConn over an in-memory connection, which it
// remains: it is attached without a goroutine and knows at once that it
// ended.
type faultMemConn struct {
	*faultConn
	mem memAttacher
}

func (c *faultMemConn) Attach(r Receiver) { c.mem.Attach(faultReceiver{r, c.deliver(r.Deliver)}) }

func (c *faultMemConn) Ended() error { return c.mem.Ended() }

// faultReceiver is a Receiver whose deliveries pass through the faults.
type faultReceiver struct {
	Receiver
	deliver func(Msg)
}

func (r faultReceiver) Deliver(m Msg) { r.deliver(m) }
