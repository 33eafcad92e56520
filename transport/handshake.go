package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// The handshake opens a wire connection, before Serve and before any Send.
// Each side sends one hello frame. The dialing side calls
// [WireConn.Handshake], which writes its hello and reads the peer's
// concurrently; the accepting side calls [WireConn.Answer], which reads the
// dialer's hello first and chooses its own from it. Without a secret, two
// sides that both call Handshake also meet, each writing as it reads.
//
// With a [Config.Secret], the hellos are preceded by a challenge-response
// that proves each side knows the secret (see auth.go): each side sends a
// random nonce, the dialer proves, the acceptor checks and proves in turn,
// and only then do the hellos, and the Info they carry, travel. Every frame
// of the handshake is a msgpack array opening with the magic string and the
// protocol version.

// ProtocolVersion is the version of the protocol that this package and the
// runtime above it speak: the framing, envelope and handshake, and the
// messages' meaning (see the package doc). Peers with different versions
// refuse each other in the handshake. Version 2 added flow control's byte
// credit to the envelope ([Msg.CreditBytes]), and each side's initial
// window, items and bytes, to the cmd and started messages. Version 3
// added the revoke message ([KindRevoke]), which shrinks a stream's window,
// and the error payload's tree of members and registered error values.
const ProtocolVersion = 3

// helloMagic opens every handshake frame, so that a peer speaking something
// else is told apart from one speaking another version.
const helloMagic = "tractor-go"

// helloFields is the length of the hello array:
// [magic, version, compress, maxFrame, info].
const helloFields = 5

// ErrVersion is returned (wrapped) by Handshake and Answer when the peer
// speaks a different protocol version.
var ErrVersion = errors.New("transport: protocol version mismatch")

// Hello is what each side of a wire connection announces in the handshake.
type Hello struct {
	// Version is the protocol version; 0 means [ProtocolVersion].
	Version int
	// Compress offers compression. The local Hello offers it if either
	// this field or the connection's Config.Compress is set; frames are
	// compressed only if both sides offered.
	Compress bool
	// MaxFrame is the largest frame this side accepts; 0 means the
	// connection's Config.MaxFrame, which also caps it.
	MaxFrame uint32
	// Info is the runtime's own payload, such as the actor's name and id.
	// The peer's Info arrives as a [Raw], or nil, like any payload.
	Info any
}

// Handshake runs the dialing side of the handshake: it writes local and
// reads the peer's hello, concurrently, so that a peer calling Handshake as
// well meets it. With a [Config.Secret] it first proves that it knows the
// secret and checks that the peer does ([ErrAuth] otherwise), and writes
// local only then; the peer must call [WireConn.Answer].
//
// It checks that both speak the same protocol version ([ErrVersion]
// otherwise), turns compression on if both offered it, and sets the frame
// limit of both directions to the smaller of the two announced. It returns
// the peer's Hello as received, with Info as a [Raw] or nil.
//
// Call it once, before Serve and before any Send. ctx bounds it: if it
// ends first, Handshake returns ctx's error. Any failure closes the
// connection.
func (c *WireConn) Handshake(ctx context.Context, local Hello) (Hello, error) {
	return c.shakeHands(ctx, func(s *shake) (Hello, error) {
		local = c.localHello(local)
		if err := s.encodeHello(local); err != nil {
			return Hello{}, err
		}
		if len(c.cfg.Secret) > 0 {
			if err := s.authDial(); err != nil {
				return Hello{}, err
			}
		}
		s.send(s.e.buf)
		peer, _, err := s.readHello(local.Version)
		if err != nil {
			return Hello{}, err
		}
		if err := s.flush(); err != nil {
			return Hello{}, err
		}
		return peer, c.agree(local, peer)
	})
}

// Answer runs the accepting side of the handshake, against a peer that
// calls [WireConn.Handshake]: it reads the dialer's hello, calls reply with
// it (Info as a [Raw] or nil) for the local hello, writes that, and returns
// the dialer's hello. If reply returns an error, Answer closes the
// connection without a hello and returns the error, wrapped. With a
// [Config.Secret], the dialer must first prove that it knows the secret,
// and Answer proves it in turn; a dialer that fails is dropped with
// [ErrAuth] before its hello is read, and reply is not called.
//
// Version, compression and frame limit are agreed as by Handshake, from
// the hello reply returns; a version mismatch ([ErrVersion]) is found only
// after reply has returned, since reply may choose the local version.
// reply runs in the calling goroutine, while ctx bounds the handshake; it
// should not block.
//
// Call it once, before Serve and before any Send. ctx bounds it: if it
// ends first, Answer returns ctx's error. [Config.AuthTimeout], if set,
// bounds the part before the dialer has proved itself. Any failure closes
// the connection. Two sides that both call Answer wait for each other until
// ctx ends (with a secret, they fail at once with [ErrAuth]).
func (c *WireConn) Answer(ctx context.Context, reply func(peer Hello) (Hello, error)) (Hello, error) {
	return c.shakeHands(ctx, func(s *shake) (Hello, error) {
		s.authBy(c.cfg.AuthTimeout)
		if len(c.cfg.Secret) > 0 {
			if err := s.authAccept(); err != nil {
				return Hello{}, err
			}
			if err := s.authenticated(); err != nil {
				return Hello{}, err
			}
		}
		peer, readable, err := s.readHello(anyVersion)
		if err != nil {
			return Hello{}, err
		}
		if err := s.authenticated(); err != nil {
			return Hello{}, err
		}
		var local Hello
		if readable {
			if local, err = reply(peer); err != nil {
				return Hello{}, fmt.Errorf("transport: handshake: reply: %w", err)
			}
		}
		// A hello of another version, in a shape this side cannot read,
		// gets a bare hello of this side's version: the dialer then
		// reports the mismatch too.
		local = c.localHello(local)
		if err := s.encodeHello(local); err != nil {
			return Hello{}, err
		}
		s.send(s.e.buf)
		if err := s.flush(); err != nil {
			return Hello{}, err
		}
		return peer, c.agree(local, peer)
	})
}

// shake is one handshake in progress. Its reads run in the caller's
// goroutine and its writes, in order, in a goroutine of its own, so that
// no read waits for a write that waits for the peer to read (a net.Pipe
// buffers nothing, and both sides may write before they read).
type shake struct {
	c       *WireConn
	ctx     context.Context // ends with parent, or at authBy's bound
	parent  context.Context // the caller's
	cancel  context.CancelCauseFunc
	late    *time.Timer // authBy's bound, until authenticated stops it
	lateErr error       // why the handshake fails once late fires
	e       *encoder    // holds the local hello until it is written
	frames  chan []byte // to the writer; closed by flush
	wrote   chan error  // the writer's error, once it has returned
	flushed bool
	werr    error // the writer's error, once flushed
}

// shakeFrames bounds the frames one side of a handshake queues (at most
// three: challenge, proof and hello, or a refusal among them), so that
// queueing one never blocks.
const shakeFrames = 4

// shakeHands runs one side of a handshake, and closes the connection if it
// fails.
func (c *WireConn) shakeHands(ctx context.Context, run func(*shake) (Hello, error)) (Hello, error) {
	c.mu.Lock()
	if c.started || c.closed || c.broken != nil {
		c.mu.Unlock()
		return Hello{}, errors.New("transport: the handshake must come first, before Send, Serve or Close")
	}
	c.started = true
	c.reader = readerHandshake
	c.mu.Unlock()

	var peer Hello
	err := ctx.Err()
	if err != nil {
		err = fmt.Errorf("transport: handshake: %w", err)
	} else {
		peer, err = c.runShake(ctx, run)
	}
	if c.settle != nil {
		c.settle()
	}
	c.mu.Lock()
	c.reader = readerNone
	closed := c.closed
	c.mu.Unlock()
	if closed { // Close closed the stream under the handshake
		err = fmt.Errorf("transport: handshake: %w", ErrClosed)
	}
	if err != nil {
		c.shutdown(err)
		return Hello{}, err
	}
	return peer, nil
}

// runShake starts the writer, bounds the stream's I/O by ctx, and runs
// run. When it returns the writer has, and ctx no longer affects the
// stream.
func (c *WireConn) runShake(ctx context.Context, run func(*shake) (Hello, error)) (peer Hello, err error) {
	s := &shake{
		c: c, parent: ctx, e: getEncoder(),
		frames: make(chan []byte, shakeFrames),
		wrote:  make(chan error, 1),
	}
	s.ctx, s.cancel = context.WithCancelCause(ctx)
	defer s.cancel(nil) // after release: ctx no longer affects the stream
	go s.writeLoop()
	release := c.bound(s.ctx)
	returned := false
	defer func() {
		if s.late != nil {
			s.late.Stop()
		}
		if !returned || err != nil {
			c.closeStream() // unblocks a write the peer does not read
		}
		if werr := s.flush(); err == nil && returned {
			err = werr
		}
		release()
		putEncoder(s.e)
	}()
	peer, err = run(s)
	returned = true
	return peer, err
}

// authBy makes the handshake fail unless authenticated is called within
// d; a d of 0 sets no bound. It is [Config.AuthTimeout]'s bound.
func (s *shake) authBy(d time.Duration) {
	if d <= 0 {
		return
	}
	what := "proof that it knows the secret"
	if len(s.c.cfg.Secret) == 0 {
		what = "hello"
	}
	s.lateErr = fmt.Errorf("%w: no %s from the peer within %v: %w", ErrAuth, what, d, context.DeadlineExceeded)
	s.late = time.AfterFunc(d, func() { s.cancel(s.lateErr) })
}

// authenticated lifts authBy's bound, now that the peer has proved itself;
// it fails if the bound has passed already.
func (s *shake) authenticated() error {
	if s.late == nil {
		return nil
	}
	fired := !s.late.Stop()
	s.late = nil
	if fired {
		return fmt.Errorf("transport: handshake: %w", s.lateErr)
	}
	return nil
}

// ended returns why s.ctx ended: the caller's ctx's error, or authBy's.
func (s *shake) ended() error {
	if err := s.parent.Err(); err != nil {
		return err
	}
	return context.Cause(s.ctx)
}

// writeLoop writes the frames sent, in order, until flush; after a failed
// write it drops the rest.
func (s *shake) writeLoop() {
	var err error
	for b := range s.frames {
		if err == nil {
			_, err = s.c.rwc.Write(b)
		}
	}
	s.wrote <- err
}

// send queues frame for writing. frame must stay untouched until flush.
func (s *shake) send(frame []byte) { s.frames <- frame }

// flush waits until the frames queued are written and returns the write's
// error. Nothing can be sent after it.
func (s *shake) flush() error {
	if !s.flushed {
		s.flushed = true
		close(s.frames)
		s.werr = <-s.wrote
	}
	switch {
	case s.werr == nil:
		return nil
	case s.ctx.Err() != nil:
		return fmt.Errorf("transport: handshake: %w", s.ended())
	}
	return fmt.Errorf("transport: handshake: write: %w", s.werr)
}

// read reads the peer's next frame, what it should be.
func (s *shake) read(what string) ([]byte, error) {
	body, err := s.c.fr.next()
	if err != nil {
		return nil, s.readErr(what, err)
	}
	return body, nil
}

// readErr returns the error for a failed read of the peer's what: ctx's
// error if ctx has ended (which makes reads fail).
func (s *shake) readErr(what string, err error) error {
	switch {
	case s.ctx.Err() != nil:
		return fmt.Errorf("transport: handshake: %w", s.ended())
	case err == io.EOF:
		return fmt.Errorf("transport: handshake: peer closed before its %s: %w", what, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("transport: handshake: %w", err)
}

// localHello fills in the defaults of the local hello.
func (c *WireConn) localHello(h Hello) Hello {
	if h.Version == 0 {
		h.Version = ProtocolVersion
	}
	if h.MaxFrame == 0 || int64(h.MaxFrame) > int64(c.cfg.MaxFrame) {
		h.MaxFrame = uint32(c.cfg.MaxFrame)
	}
	h.Compress = h.Compress || c.cfg.Compress
	return h
}

// agree checks the peer's version against the local one and sets what
// both hellos agree: the frame limit and compression.
func (c *WireConn) agree(local, peer Hello) error {
	if peer.Version != local.Version {
		return fmt.Errorf("transport: handshake: %w: local %d, peer %d", ErrVersion, local.Version, peer.Version)
	}
	limit := min(local.MaxFrame, peer.MaxFrame)
	compress := local.Compress && peer.Compress
	c.fr.max, c.fr.compress = int(limit), compress
	c.sendMax.Store(int64(limit))
	c.compress.Store(compress)
	return nil
}

// Compressing reports whether the handshake agreed to compress frames
// (both hellos offered it); it is false before the handshake.
func (c *WireConn) Compressing() bool { return c.compress.Load() }

// bound makes blocked reads and writes on the stream return once ctx
// ends: through deadlines if the stream has them, else by closing it. The
// returned function undoes this, once ctx can no longer interfere.
func (c *WireConn) bound(ctx context.Context) (release func()) {
	type deadliner interface{ SetDeadline(time.Time) error }
	d, ok := c.rwc.(deadliner)
	if !ok {
		stop := context.AfterFunc(ctx, func() { c.closeStream() })
		return func() { stop() }
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		d.SetDeadline(time.Unix(1, 0)) // long past: blocked I/O returns now
	})
	return func() {
		if !stop() {
			<-fired
			d.SetDeadline(time.Time{})
		}
	}
}

// encodeHello encodes the hello frame announcing h into s.e.
func (s *shake) encodeHello(h Hello) error {
	e := s.e
	e.buf = e.buf[:0]
	if err := e.appendHello(h); err != nil {
		return fmt.Errorf("transport: handshake: %w", err)
	}
	if err := e.finishFrame(0, false, 0, s.c.cfg.MaxFrame); err != nil {
		return fmt.Errorf("transport: handshake: hello: %w", err)
	}
	return nil
}

// appendHello appends the body of a hello frame after a reserved header.
func (e *encoder) appendHello(h Hello) error {
	b := append(e.buf, make([]byte, frameHeader)...)
	b = append(b, mpFixArray|helloFields)
	b = appendStr(b, helloMagic)
	b = appendUint(b, uint64(max(h.Version, 0)))
	b = appendBool(b, h.Compress)
	b = appendUint(b, uint64(h.MaxFrame))
	e.buf = b
	return e.appendPayload(h.Info)
}

// anyVersion asks readHello to read a hello of any version.
const anyVersion = -1

// shakeFrame is a handshake frame, read as far as the two elements every
// one opens with: [magic, version, ...].
type shakeFrame struct {
	r       mpReader // positioned after the version
	n       int      // the array's length
	version int
	// auth says it is a step of the authentication (see auth.go): a frame
	// of [ProtocolVersion] whose third element is a string, where a
	// hello's is a bool.
	auth bool
}

func parseShakeFrame(body []byte) (shakeFrame, error) {
	f := shakeFrame{r: mpReader{b: body}}
	n, err := f.r.arrayLen()
	if err != nil {
		return f, err
	}
	if magic, err := f.r.str(); n < 2 || err != nil || magic != helloMagic {
		return f, fmt.Errorf("%w: not a %s handshake frame", ErrMalformed, helloMagic)
	}
	v, err := f.r.uint(math.MaxInt32)
	if err != nil {
		return f, err
	}
	f.n, f.version = n, int(v)
	f.auth = f.version == ProtocolVersion && f.r.isStr()
	return f, nil
}

// readHello reads and decodes the peer's hello frame. Its version is
// decoded before anything else and, if it is not version, the rest is left
// alone: a hello of another version may have another shape, and must still
// be reported as a version mismatch. With version anyVersion, the rest is
// decoded whatever the version, and left alone only if it does not decode
// and the version is not [ProtocolVersion]. complete says whether the rest
// was decoded.
func (s *shake) readHello(version int) (h Hello, complete bool, err error) {
	body, err := s.read("hello")
	if err != nil {
		return Hello{}, false, err
	}
	f, err := parseShakeFrame(body)
	if err != nil {
		return Hello{}, false, fmt.Errorf("transport: handshake: %w", err)
	}
	if f.auth {
		return Hello{}, false, s.unexpectedAuth(f)
	}
	h.Version = f.version
	if version != anyVersion && h.Version != version {
		return h, false, nil // the caller reports the mismatch
	}
	if err := f.decodeHello(&h); err != nil {
		if version == anyVersion && h.Version != ProtocolVersion {
			return Hello{Version: h.Version}, false, nil
		}
		return Hello{}, false, fmt.Errorf("transport: handshake: %w", err)
	}
	return h, true, nil
}

// decodeHello decodes the rest of a hello into h.
func (f *shakeFrame) decodeHello(h *Hello) (err error) {
	if f.n != helloFields {
		return fmt.Errorf("%w: hello has %d fields, want %d", ErrMalformed, f.n, helloFields)
	}
	if h.Compress, err = f.r.bool(); err != nil {
		return err
	}
	maxFrame, err := f.r.uint(math.MaxUint32)
	if err != nil {
		return err
	}
	if maxFrame == 0 {
		return fmt.Errorf("%w: peer accepts no frames", ErrMalformed)
	}
	h.MaxFrame = uint32(maxFrame)
	h.Info, err = f.r.payload()
	return err
}
