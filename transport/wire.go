package transport

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a wire connection. The zero value is valid: zero
// MaxFrame and CompressThreshold take their defaults, and compression is
// not offered.
type Config struct {
	// MaxFrame is the largest frame this side accepts, counted after the
	// length prefix, and the largest size a compressed body may decompress
	// to. The handshake lowers it to the smaller of both sides' limits,
	// which then bounds frames in both directions. 0 means
	// [DefaultMaxFrame].
	MaxFrame int
	// CompressThreshold is the body size in bytes from which frames are
	// compressed once both sides agreed to. 0 means
	// [DefaultCompressThreshold].
	CompressThreshold int
	// Compress offers S2 compression in the handshake. Frames are
	// compressed only if the peer offers it too.
	Compress bool
}

// DefaultConfig returns the configuration wire backends use unless told
// otherwise: 16 MiB frames, compression offered for bodies of 1 KiB and up.
func DefaultConfig() Config {
	return Config{MaxFrame: DefaultMaxFrame, CompressThreshold: DefaultCompressThreshold, Compress: true}
}

// withDefaults fills in zero fields and clamps MaxFrame to what the length
// field can carry.
func (c Config) withDefaults() Config {
	if c.MaxFrame <= 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	c.MaxFrame = min(c.MaxFrame, maxFrameLimit)
	if c.CompressThreshold <= 0 {
		c.CompressThreshold = DefaultCompressThreshold
	}
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

// WireConn is a [Conn] over a byte stream: it frames and encodes each
// message (see [NewConn]). Create it with [NewConn], [FileConn] or a wire
// [Transport] such as [TCP].
type WireConn struct {
	rwc io.ReadWriteCloser
	cfg Config

	// What the handshake agreed for frames this side sends; Send reads
	// them without the mutex.
	compress atomic.Bool
	sendMax  atomic.Int64

	// mu guards the sending side and how the connection ended.
	mu       sync.Mutex
	pending  []byte        // frames queued while a flush is in progress
	spare    []byte        // the buffer last written, reused for pending
	flushing bool          // a Send is writing; it will write pending too
	space    chan struct{} // closed when pending is taken; nil if no one waits
	drained  chan struct{} // closed when the flush ends; Close waits on it
	started  bool          // a Send or Serve ran: too late to Handshake
	closed   bool          // Close was called
	broken   error         // why the connection ended otherwise, if it did

	closeOnce sync.Once
	closeErr  error

	serving atomic.Bool
	fr      frameReader // owned by Handshake, then by Serve
}

// NewConn returns a connection that exchanges framed messages over rwc,
// which it owns from now on: Close closes it. Each message travels as one
// frame: a 4-byte little-endian length of the rest, a flags byte (bit 0:
// the body is S2-compressed) and the body, the msgpack array
// [kind, cid, endpoint, mode, credit, payload]. Payloads arrive as a [Raw]
// (or nil), decoded only when the runtime calls [Decode].
//
// Until [WireConn.Handshake] runs, frames are not compressed and are
// limited to cfg.MaxFrame. Both sides must either handshake or not.
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
	c.sendMax.Store(int64(cfg.MaxFrame))
	return c
}

// Send implements [Conn]. It encodes m and writes it; a message that
// cannot be encoded (see [ErrEncode]) or is over the frame limit (see
// [ErrFrameTooLarge]) fails this Send only, and the stream stays intact.
//
// Writes from concurrent Sends are coalesced without a timer: the first
// Send to find the connection idle writes its frame at once and then keeps
// writing, in batches, whatever other Sends queued meanwhile; those others
// return as soon as their frame is queued. A lone message therefore costs
// one write and no wait, and under load one write carries many frames.
// Send blocks, until ctx ends, only while more than 256 KiB are queued
// behind a write: the peer is slower than its senders. A Send that returned
// nil has queued its frame; Close writes queued frames before closing.
func (c *WireConn) Send(ctx context.Context, m Msg) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e := getEncoder()
	defer putEncoder(e)
	if err := e.appendFrame(m, c.compress.Load(), c.cfg.CompressThreshold, int(c.sendMax.Load())); err != nil {
		return fmt.Errorf("transport: send %s: %w", m.Kind, err)
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
	c.started = true
	if c.flushing {
		c.pending = append(c.pending, e.buf...)
		c.mu.Unlock()
		return nil
	}
	c.flushing = true
	c.mu.Unlock()
	return c.flush(e.buf, m.Kind)
}

// flush writes frame, then in batches whatever other Sends queue
// meanwhile, until nothing is pending. The caller has set c.flushing. It
// returns an error only if frame itself was not written.
func (c *WireConn) flush(frame []byte, kind Kind) error {
	buf, own := frame, true
	for {
		_, err := c.rwc.Write(buf)
		c.mu.Lock()
		if !own && cap(buf) <= keepBuffer {
			c.spare = buf[:0]
		}
		if err != nil {
			c.flushing = false
			c.pending = nil
			c.endFlushLocked()
			c.mu.Unlock()
			c.shutdown(fmt.Errorf("transport: write: %w", err))
			if !own {
				return nil
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.sendErrLocked(kind)
		}
		own = false
		if len(c.pending) == 0 {
			break
		}
		buf, c.pending, c.spare = c.pending, c.spare, nil
		c.wakeLocked()
		c.mu.Unlock()
	}
	c.flushing = false
	c.endFlushLocked()
	c.mu.Unlock()
	return nil
}

// endFlushLocked tells a waiting Close that the flush is over.
func (c *WireConn) endFlushLocked() {
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
//     read or write error that broke the connection.
//
// Whatever the reason, the connection is closed when Serve returns, and
// later Sends fail with [ErrClosed]. Serve must be called at most once,
// after [WireConn.Handshake] if the connection uses one.
func (c *WireConn) Serve(deliver func(Msg)) error {
	if c.serving.Swap(true) {
		panic("transport: Serve called twice")
	}
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
	for {
		body, err := c.fr.next()
		if err != nil {
			return c.serveEnd(err)
		}
		m, err := decodeMsg(body)
		if err != nil {
			return c.serveEnd(err)
		}
		deliver(m)
	}
}

// serveEnd closes the connection after Serve's read failed with err, and
// returns what Serve reports: ErrClosed after a local Close, the cause when
// a failed write broke the connection first (the read then failed because
// the stream was closed under it), err otherwise.
func (c *WireConn) serveEnd(err error) error {
	c.mu.Lock()
	switch {
	case c.closed:
		err = ErrClosed
	case c.broken != nil:
		err = c.broken
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
	c.closeOnce.Do(func() { c.closeErr = c.rwc.Close() })
	return c.closeErr
}

// Close implements [Conn]. Frames that Sends queued before it are written
// first (waiting at most a couple of seconds for a peer that does not
// read), then the stream is closed: the peer's Serve returns io.EOF after
// delivering them, this side's Serve returns [ErrClosed], and Sends blocked
// for room return. Close is idempotent; it returns the stream's Close error
// the first time, if any.
func (c *WireConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
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
	return c.closeStream()
}
