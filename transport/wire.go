package transport

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config configures a wire connection. The zero value is valid: zero
// MaxFrame and CompressThreshold take their defaults, and compression is
// not offered.
type Config struct {
	// MaxFrame is the largest frame this side accepts, counted after the
	// length prefix and before compression: a frame's flags byte plus its
	// uncompressed body. Senders check it before they compress, so a
	// message over it fails its Send however well it compresses. The
	// handshake lowers it to the smaller of both sides' limits,
	// which then bounds frames in both directions. 0 means
	// [DefaultMaxFrame].
	MaxFrame int
	// CompressThreshold is the body size in bytes from which frames are
	// compressed once both sides agreed to. 0 means 1 KiB, the threshold
	// of [DefaultConfig].
	CompressThreshold int
	// Compress offers S2 compression in the handshake. Frames are
	// compressed only if the peer offers it too.
	Compress bool
	// Secret, when not empty, makes the handshake authenticate the peer:
	// both sides prove that they know it, by HMAC-SHA256 challenge and
	// response, before any hello is sent or read (see [ErrAuth]). Both
	// sides need the same Secret, and the accepting side must call
	// [WireConn.Answer]. It should be long and random, such as 32 random
	// bytes: whoever can watch a handshake can test guesses at it offline.
	// It does not encrypt the connection; see [TCP.TLS] for that. The
	// connection keeps a copy.
	Secret []byte
	// AuthTimeout, when positive, bounds how long [WireConn.Answer] waits
	// for a dialer it does not know yet: unless the dialer has proved that
	// it knows the Secret (without a Secret: has sent its hello) within
	// AuthTimeout of Answer's start, Answer fails with an error matching
	// [ErrAuth] and [context.DeadlineExceeded]. Anyone who can reach a
	// listener can open connections and say nothing; this frees what each
	// holds long before Answer's ctx would, whose bound must leave an
	// authenticated peer time to send a large hello over a slow link. A
	// dialer proves itself in one round trip, two over TLS. Zero means no
	// bound but ctx's, which suits a peer known to be slow to start, such
	// as a child process that dials back once it runs.
	AuthTimeout time.Duration
}

// String describes c with its Secret left out, so that logging a Config,
// or a struct holding one, does not leak the secret.
func (c Config) String() string {
	secret := "none"
	if len(c.Secret) > 0 {
		secret = "set"
	}
	return fmt.Sprintf("{MaxFrame:%d CompressThreshold:%d Compress:%v Secret:%s AuthTimeout:%v}",
		c.MaxFrame, c.CompressThreshold, c.Compress, secret, c.AuthTimeout)
}

// DefaultConfig returns the configuration wire backends use unless told
// otherwise: 16 MiB frames, compression offered for bodies of 1 KiB and up.
func DefaultConfig() Config {
	return Config{MaxFrame: DefaultMaxFrame, CompressThreshold: defaultCompressThreshold, Compress: true}
}

// withDefaults fills in zero fields and clamps MaxFrame to what the length
// field can carry.
func (c Config) withDefaults() Config {
	if c.MaxFrame <= 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	c.MaxFrame = min(c.MaxFrame, maxFrameLimit)
	if c.CompressThreshold <= 0 {
		c.CompressThreshold = defaultCompressThreshold
	}
	c.Secret = bytes.Clone(c.Secret)
	c.AuthTimeout = max(c.AuthTimeout, 0)
	return c
}

const (
	// pendingLimit bounds the frames queued behind a write in progress.
	// A Send that finds this much queued waits: the peer is reading slower
	// than this side sends. Twice this plus one frame bounds what a
	// connection holds for a slow peer.
	pendingLimit = 256 << 10
	// readBuffer is the size of Serve's buffered reader. Frames up to this
	// size are decoded straight from its buffer.
	readBuffer = 64 << 10
)

// closeLinger bounds how long Close waits for frames that Sends queued
// before it to reach the stream, when the peer is not reading. A variable
// so that tests can shorten it.
var closeLinger = 2 * time.Second

// reader says who reads a connection's stream: one party at a time.
type reader uint8

const (
	readerNone      reader = iota
	readerHandshake        // Handshake or Answer reads the peer's frames
	readerServe            // Serve reads messages (until the stream ends)
)

// WireConn is a [Conn] over a byte stream: it frames and encodes each
// message (see [NewConn]). Create it with [NewConn], [FileConn] or [TCP].
type WireConn struct {
	rwc io.ReadWriteCloser
	raw syscall.RawConn // rwc's descriptor, for writes that do not block; or nil
	rw  rawWriter       // tryWrite's state, used by the flushing Send only
	cfg Config

	// What the handshake agreed for frames this side sends; Send reads
	// them without the mutex.
	compress atomic.Bool
	sendMax  atomic.Int64

	// mu guards the sending side and how the connection ended.
	mu        sync.Mutex
	pending   []byte        // frames queued while a flush is in progress
	spare     []byte        // the buffer last written, reused for pending
	flushing  bool          // a Send or writeLoop is writing; it will write pending too
	writer    chan struct{} // closed when the last writeLoop started returns
	space     chan struct{} // closed when pending is taken; nil if no one waits
	drained   chan struct{} // closed when the flush ends; Close waits on it
	lastWrite int64         // monotime when the last flush ended
	started   bool          // a handshake, Send or Serve ran: too late to handshake
	closed    bool          // Close was called
	broken    error         // why sending ended otherwise, if it did

	streamClosed bool // rwc was closed

	closeOnce sync.Once
	closeErr  error

	serving atomic.Bool
	closing atomic.Bool // Close was called: Serve drops what it reads
	reader  reader      // who reads the stream (guarded by mu)
	fr      frameReader // owned by the handshake, then by Serve

	// writeHook, if set, stands in for tryWrite in flush: tests use it to
	// choose how much of each round's buffer the stream takes. It is nil
	// outside tests.
	writeHook func(buf []byte, round int) (int, error)

	// settle, if set, tells the listener that accepted the connection
	// that it is no longer pending (see [TCP.MaxPending]): its handshake
	// ended, or it started without one. It may be called more than once.
	settle func()
}

// NewConn returns a connection that exchanges framed messages over rwc,
// which it owns from now on: Close closes it. Each message travels as one
// frame: a 4-byte little-endian length of the rest, a flags byte (bit 0:
// the body is S2-compressed) and the body, the msgpack array
// [kind, cid, endpoint, mode, credit, payload], or with creditBytes
// before the payload when it is not zero. Payloads arrive as a [Raw]
// (or nil), decoded only when the runtime calls [Decode].
//
// Until the handshake ([WireConn.Handshake] on the dialing side,
// [WireConn.Answer] on the accepting side) runs, frames are not compressed
// and are limited to cfg.MaxFrame. Both sides must either handshake or
// not; with cfg.Secret set they must.
//
// If rwc has a SetDeadline method (as a net.Conn does), the handshake uses
// it to honour its ctx; otherwise ctx ending closes the connection.
func NewConn(rwc io.ReadWriteCloser, cfg Config) *WireConn {
	cfg = cfg.withDefaults()
	c := &WireConn{
		rwc: rwc,
		cfg: cfg,
		fr:  frameReader{br: bufio.NewReaderSize(rwc, readBuffer), max: cfg.MaxFrame},
	}
	// Writes go through the descriptor only if rwc is the stream itself:
	// a stream that wraps another, as a *tls.Conn does (it has NetConn),
	// must see every byte, even if it gains a SyscallConn method some day.
	type wrapper interface{ NetConn() net.Conn }
	if _, wraps := rwc.(wrapper); !wraps {
		if sc, ok := rwc.(syscall.Conn); ok {
			if raw, err := sc.SyscallConn(); err == nil {
				c.raw = raw
			}
		}
	}
	c.sendMax.Store(int64(cfg.MaxFrame))
	return c
}

// Send implements [Conn]. It encodes m and writes it; a message that
// cannot be encoded (see [ErrEncode]) or is over the frame limit (see
// [ErrFrameTooLarge]) fails this Send only, and the stream stays intact.
//
// Writes from concurrent Sends are coalesced without a timer. The first
// Send to find the connection idle writes its frame at once, in its own
// goroutine, then writes in batches what other Sends queued meanwhile;
// those return as soon as their frame is queued. A lone message therefore
// costs one write and no wait, and under load one write carries many
// frames. When the stream is full (the peer reads slower than this side
// writes) or a flushing Send has written a few batches for others, a
// goroutine takes over the writing until the queue is empty, and the Send
// returns. Send blocks, until ctx ends, only while more than 256 KiB are
// queued. A Send that returned nil has queued its frame; Close writes
// queued frames before closing.
//
// On a stream with no file descriptor (no SyscallConn method), writes
// cannot be tried without blocking, so a flushing Send may block in its
// write while the peer is slow, without regard to ctx.
func (c *WireConn) Send(ctx context.Context, m Msg) error { return c.send(ctx, m, nil) }

// SendSized implements [SizedSender]: it is Send, and returns the length of
// m's encoded body, before compression, which the peer's Serve reports in
// [Msg.Size].
func (c *WireConn) SendSized(ctx context.Context, m Msg) (int, error) {
	var size int
	err := c.send(ctx, m, &size)
	return size, err
}

// send is Send; it stores the body's length in *size, if size is not nil.
func (c *WireConn) send(ctx context.Context, m Msg, size *int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e := getEncoder()
	defer putEncoder(e)
	if err := e.appendFrame(m, c.compress.Load(), c.cfg.CompressThreshold, int(c.sendMax.Load())); err != nil {
		return fmt.Errorf("transport: send %s: %w", m.Kind, err)
	}
	if size != nil {
		*size = e.body
	}

	c.mu.Lock()
	for !c.closed && c.broken == nil && len(c.pending) >= pendingLimit {
		if c.space == nil {
			c.space = make(chan struct{})
		}
		space := c.space
		c.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	if err := c.sendErrLocked(m.Kind); err != nil {
		c.mu.Unlock()
		return err
	}
	if !c.started && c.settle != nil {
		c.settle()
	}
	c.started = true
	if c.flushing {
		c.pending = append(c.pending, e.buf...)
		c.mu.Unlock()
		return nil
	}
	c.flushing = true
	if monotime()-c.lastWrite < int64(streamGap) {
		// Part of a stream: let a goroutine write it, and batch what
		// follows, instead of paying a write per message.
		c.pending = append(c.pending, e.buf...)
		c.startWriterLocked()
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	return c.flush(e.buf, m.Kind)
}

// streamGap tells a stream from a lone message. A Send that comes less
// than this after the previous write ended is taken to be one of a stream
// of messages from a goroutine that does not wait between them: it queues
// its frame and starts a goroutine to write it, so that the frames that
// follow while that write runs are batched into the next one. Without
// this, a single goroutine streaming over TCP pays a write syscall per
// message (6 µs on loopback) instead of about 0.3 µs. Anything sent after a
// pause, such as a request after its previous response, is written at once
// by its own Send as before. No timer is involved: the gap only chooses who
// writes, never delays a write.
const streamGap = 5 * time.Microsecond

// epoch anchors monotime.
var epoch = time.Now()

// monotime returns monotonic nanoseconds.
func monotime() int64 { return int64(time.Since(epoch)) }

// inlineRounds is how many batches of other Sends' frames a flushing Send
// writes before it hands the writing over to a goroutine, so that its
// caller is not held up for long by senders that keep coming.
const inlineRounds = 4

// flush writes frame, the calling Send's own, then what other Sends queue
// meanwhile, with writes that do not block, until nothing is pending. If
// the stream is full, or after inlineRounds batches, it queues what is left
// and starts [WireConn.writeLoop] to write it. The caller has set
// c.flushing. It returns an error only if frame itself could not be
// written.
func (c *WireConn) flush(frame []byte, kind Kind) error {
	buf, own := frame, true
	for round := 0; ; round++ {
		var n int
		var err error
		if c.writeHook == nil {
			n, err = c.tryWrite(buf)
		} else {
			n, err = c.writeHook(buf, round)
		}
		c.mu.Lock()
		if err != nil {
			c.writeFailedLocked(err)
			defer c.mu.Unlock()
			if !own {
				return nil
			}
			return c.sendErrLocked(kind)
		}
		if n == len(buf) && !own && cap(buf) <= keepBuffer {
			c.spare = buf[:0]
		}
		if n < len(buf) {
			// What is left goes first in the queue. The caller's frame is
			// in a buffer it is about to release, so it is copied.
			if rest := buf[n:]; own || len(c.pending) > 0 {
				q := make([]byte, 0, len(rest)+len(c.pending))
				c.pending = append(append(q, rest...), c.pending...)
			} else {
				c.pending = rest
			}
		}
		if n < len(buf) || (round >= inlineRounds && len(c.pending) > 0) {
			c.startWriterLocked()
			c.mu.Unlock()
			return nil
		}
		own = false
		if len(c.pending) == 0 {
			c.lastWrite = monotime()
			c.endFlushLocked()
			c.mu.Unlock()
			return nil
		}
		buf, c.pending, c.spare = c.pending, c.spare, nil
		c.wakeLocked()
		c.mu.Unlock()
	}
}

// startWriterLocked starts [WireConn.writeLoop] to write what is pending.
// c.flushing stays set: the goroutine now owns the writing.
func (c *WireConn) startWriterLocked() {
	done := make(chan struct{})
	c.writer = done
	go c.writeLoop(done)
}

// writeLoop writes pending frames, in batches, with writes that block,
// until none are left or a write fails. It runs only while the peer is
// slow or senders are many, and it returns when the queue is empty.
func (c *WireConn) writeLoop(done chan struct{}) {
	defer close(done)
	c.mu.Lock()
	for len(c.pending) > 0 {
		buf := c.pending
		c.pending, c.spare = c.spare, nil
		c.wakeLocked()
		c.mu.Unlock()
		_, err := c.rwc.Write(buf)
		c.mu.Lock()
		if cap(buf) <= keepBuffer {
			c.spare = buf[:0]
		}
		if err != nil {
			c.writeFailedLocked(err)
			c.mu.Unlock()
			return
		}
	}
	c.lastWrite = monotime()
	c.endFlushLocked()
	c.mu.Unlock()
}

// writeFailedLocked ends sending after a failed write: queued frames are
// dropped, and Sends fail from now on. The stream stays open for reading:
// a write fails mostly because the peer closed, and Serve is to deliver
// what the peer sent before that, then see the end of the stream.
func (c *WireConn) writeFailedLocked(err error) {
	c.pending = nil
	c.endFlushLocked()
	if !c.closed && c.broken == nil {
		c.broken = fmt.Errorf("transport: write: %w", err)
	}
	c.wakeLocked()
}

// endFlushLocked ends a flush and tells a waiting Close.
func (c *WireConn) endFlushLocked() {
	c.flushing = false
	if c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
}

// wakeLocked wakes the Sends waiting for room in pending.
func (c *WireConn) wakeLocked() {
	if c.space != nil {
		close(c.space)
		c.space = nil
	}
}

// sendErrLocked returns the error for a Send on an ended connection, or
// nil if the connection is open.
func (c *WireConn) sendErrLocked(kind Kind) error {
	switch {
	case c.closed:
		return fmt.Errorf("transport: send %s: %w", kind, ErrClosed)
	case c.broken != nil:
		return fmt.Errorf("transport: send %s: %w (%v)", kind, ErrClosed, c.broken)
	}
	return nil
}

// Serve implements [Conn]. It reads frames in the calling goroutine and
// passes each message to deliver. It returns
//
//   - io.EOF when the peer closed the stream at a frame boundary, having
//     delivered everything sent before;
//   - [ErrClosed] after a local Close;
//   - an error wrapping [ErrMalformed] or [ErrFrameTooLarge] for a bad
//     frame, io.ErrUnexpectedEOF for a stream cut inside a frame, or the
//     read error that broke the connection.
//
// Whatever the reason, the connection is closed when Serve returns, and
// later Sends fail with [ErrClosed]. A failed write does not stop Serve:
// writes fail mostly because the peer closed, and what it sent before
// still arrives. After a local Close, Serve delivers nothing more but reads
// on until the peer closes too (see [WireConn.Close]).
//
// Serve must be called at most once, after [WireConn.Handshake] or
// [WireConn.Answer] has returned if the connection uses one; it panics if
// called twice or during the handshake.
func (c *WireConn) Serve(deliver func(Msg)) error {
	if c.serving.Swap(true) {
		panic("transport: Serve called twice")
	}
	c.mu.Lock()
	if c.reader == readerHandshake {
		c.mu.Unlock()
		panic("transport: Serve called during Handshake")
	}
	if !c.started && c.settle != nil {
		c.settle()
	}
	c.started = true
	closed, failed := c.closed, c.streamClosed && c.broken != nil
	ended := c.broken
	if !closed && !failed {
		c.reader = readerServe
	}
	c.mu.Unlock()
	switch {
	case closed: // Close has dealt with the stream
		return ErrClosed
	case failed: // a failed handshake
		return ended
	}
	for {
		body, err := c.fr.next()
		if err != nil {
			return c.serveEnd(err)
		}
		m, err := decodeMsg(body, &c.fr.alloc)
		if err != nil {
			return c.serveEnd(err)
		}
		if c.closing.Load() {
			continue // closed locally: read on until the peer closes, but drop
		}
		m.Size = len(body)
		deliver(m)
	}
}

// serveEnd closes the connection after Serve's read failed with err, and
// returns what Serve reports: ErrClosed after a local Close (the read
// failed because Close closed the stream), err otherwise.
func (c *WireConn) serveEnd(err error) error {
	c.mu.Lock()
	if c.closed {
		err = ErrClosed
	}
	c.mu.Unlock()
	c.shutdown(err)
	return err
}

// shutdown ends the connection for cause, unless it ended already, and
// closes the stream: Serve and blocked Sends return.
func (c *WireConn) shutdown(cause error) {
	c.mu.Lock()
	if !c.closed && c.broken == nil {
		c.broken = cause
	}
	c.wakeLocked()
	c.mu.Unlock()
	c.closeStream()
}

func (c *WireConn) closeStream() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.streamClosed = true
		c.mu.Unlock()
		c.closeErr = c.rwc.Close()
	})
	return c.closeErr
}

// Close implements [Conn]. Frames that Sends queued before it are written
// first, waiting at most a couple of seconds for a peer that does not read.
// Then the connection ends: the peer's Serve returns io.EOF after
// delivering them, this side's Serve returns [ErrClosed] without
// delivering more, and Sends, including those waiting for room, fail with
// [ErrClosed]. Close is idempotent.
//
// On a socket, Close first ends only the sending direction (CloseWrite)
// and reads, dropping it, what the peer still sends, until the peer closes
// too (a WireConn does when its Serve sees EOF) or a couple of seconds
// pass; only then is the socket closed. Serve does that reading if it
// runs, and Close returns at once; otherwise Close does it, and returns
// when it is done. The reason is that closing a socket while data from the
// peer is unread, or still arriving, resets the connection, and the reset
// destroys data this side sent that the peer has not read yet (Linux does
// so for TCP and for Unix sockets alike); this way nothing sent before
// Close is lost.
func (c *WireConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.closing.Store(true)
	c.wakeLocked()
	var drained chan struct{}
	if c.flushing {
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		drained = c.drained
	}
	c.mu.Unlock()
	if drained != nil {
		t := time.NewTimer(closeLinger)
		select {
		case <-drained:
		case <-t.C:
		}
		t.Stop()
	}

	// With c.closed set, neither Serve nor a handshake starts reading now:
	// if nobody reads, the stream is Close's to drain.
	c.mu.Lock()
	owner := c.reader
	c.mu.Unlock()
	var err error
	switch {
	case owner == readerServe && c.halfClose():
		// Serve reads on, dropping, until the peer closes or the
		// deadline passes, then closes the stream.
	case owner == readerNone && c.halfClose():
		io.Copy(io.Discard, c.fr.br) // until the peer closes or the deadline
		err = c.closeStream()
	default:
		err = c.closeStream()
	}
	// A writeLoop blocked in a write fails now; wait for it, so that no
	// goroutine outlives Close.
	c.mu.Lock()
	writer := c.writer
	c.mu.Unlock()
	if writer != nil {
		<-writer
	}
	return err
}

// halfClose ends the sending direction of the stream, so that the peer
// reads EOF after everything written, and bounds how long Serve reads on.
// It reports whether the stream could do both.
func (c *WireConn) halfClose() bool {
	type halfCloser interface {
		CloseWrite() error
		SetReadDeadline(time.Time) error
	}
	hc, ok := c.rwc.(halfCloser)
	return ok && hc.SetReadDeadline(time.Now().Add(closeLinger)) == nil && hc.CloseWrite() == nil
}
