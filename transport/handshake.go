package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// ProtocolVersion is the version of the wire protocol (framing, envelope
// and handshake) that this package speaks. Peers with different versions
// refuse each other in the handshake.
const ProtocolVersion = 1

// helloMagic opens every hello, so that a peer speaking something else is
// told apart from one speaking another version.
const helloMagic = "tractor-go"

// helloFields is the length of the hello array:
// [magic, version, compress, maxFrame, info].
const helloFields = 5

// ErrVersion is returned (wrapped) by Handshake when the peer speaks a
// different protocol version.
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

// Handshaker is implemented by connections that open with a handshake,
// such as [WireConn]. The runtime calls Handshake, when a connection has
// it, before Serve and before any Send.
type Handshaker interface {
	Handshake(ctx context.Context, local Hello) (peer Hello, err error)
}

// Handshake exchanges hellos with the peer: it writes local and reads the
// peer's, concurrently, so neither side needs to go first. It checks that
// both speak the same protocol version ([ErrVersion] otherwise), turns
// compression on if both offered it, and sets the frame limit of both
// directions to the smaller of the two announced. It returns the peer's
// Hello as received, with Info as a [Raw] or nil.
//
// Call it once, before Serve and before any Send, on both sides. ctx bounds
// it: if it ends first, Handshake returns ctx's error. Any failure closes
// the connection.
func (c *WireConn) Handshake(ctx context.Context, local Hello) (Hello, error) {
	c.mu.Lock()
	if c.started || c.closed || c.broken != nil {
		c.mu.Unlock()
		return Hello{}, errors.New("transport: Handshake must come first, before Send, Serve or Close")
	}
	c.started = true
	c.reader = readerHandshake
	c.mu.Unlock()

	peer, err := c.handshake(ctx, local)
	c.mu.Lock()
	c.reader = readerNone
	closed := c.closed
	c.mu.Unlock()
	switch {
	case closed: // Close closed the stream under the handshake
		err = fmt.Errorf("transport: handshake: %w", ErrClosed)
	case err != nil && ctx.Err() != nil:
		err = fmt.Errorf("transport: handshake: %w", ctx.Err())
	}
	if err != nil {
		c.shutdown(err)
		return Hello{}, err
	}
	return peer, nil
}

func (c *WireConn) handshake(ctx context.Context, local Hello) (Hello, error) {
	if err := ctx.Err(); err != nil {
		return Hello{}, err
	}
	if local.Version == 0 {
		local.Version = ProtocolVersion
	}
	if local.MaxFrame == 0 || int64(local.MaxFrame) > int64(c.cfg.MaxFrame) {
		local.MaxFrame = uint32(c.cfg.MaxFrame)
	}
	local.Compress = local.Compress || c.cfg.Compress

	e := getEncoder()
	defer putEncoder(e)
	if err := e.appendHello(local); err != nil {
		return Hello{}, fmt.Errorf("transport: handshake: %w", err)
	}
	if err := e.finishFrame(0, false, 0, c.cfg.MaxFrame); err != nil {
		return Hello{}, fmt.Errorf("transport: handshake: hello: %w", err)
	}

	release := c.bound(ctx)
	written := make(chan error, 1)
	go func() {
		_, err := c.rwc.Write(e.buf)
		written <- err
	}()
	peer, err := c.readHello(local.Version)
	if err != nil {
		c.closeStream() // unblocks the write
	}
	werr := <-written
	release()
	switch {
	case err != nil:
		return Hello{}, err
	case werr != nil:
		return Hello{}, fmt.Errorf("transport: handshake: write: %w", werr)
	}

	if peer.Version != local.Version {
		return Hello{}, fmt.Errorf("transport: handshake: %w: local %d, peer %d", ErrVersion, local.Version, peer.Version)
	}
	limit := min(local.MaxFrame, peer.MaxFrame)
	compress := local.Compress && peer.Compress
	c.fr.max, c.fr.compress = int(limit), compress
	c.sendMax.Store(int64(limit))
	c.compress.Store(compress)
	return peer, nil
}

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

// readHello reads and decodes the peer's hello frame. Its version is
// decoded before anything else and, if it is not version, the rest is left
// alone: a hello of another version may have another shape, and must still
// be reported as a version mismatch.
func (c *WireConn) readHello(version int) (Hello, error) {
	body, err := c.fr.next()
	if err != nil {
		if err == io.EOF {
			err = fmt.Errorf("peer closed before its hello: %w", io.ErrUnexpectedEOF)
		}
		return Hello{}, fmt.Errorf("transport: handshake: %w", err)
	}
	r := mpReader{b: body}
	n, err := r.arrayLen()
	if err != nil {
		return Hello{}, fmt.Errorf("transport: handshake: %w", err)
	}
	if magic, err := r.str(); n < 2 || err != nil || magic != helloMagic {
		return Hello{}, fmt.Errorf("transport: handshake: %w: not a %s hello", ErrMalformed, helloMagic)
	}
	v, err := r.uint(math.MaxInt32)
	if err != nil {
		return Hello{}, fmt.Errorf("transport: handshake: %w", err)
	}
	h := Hello{Version: int(v)}
	if h.Version != version {
		return h, nil // the caller reports the mismatch
	}
	if n != helloFields {
		return Hello{}, fmt.Errorf("transport: handshake: %w: hello has %d fields, want %d", ErrMalformed, n, helloFields)
	}
	if h.Compress, err = r.bool(); err != nil {
		return Hello{}, fmt.Errorf("transport: handshake: %w", err)
	}
	maxFrame, err := r.uint(math.MaxUint32)
	if err != nil {
		return Hello{}, fmt.Errorf("transport: handshake: %w", err)
	}
	if maxFrame == 0 {
		return Hello{}, fmt.Errorf("transport: handshake: %w: peer accepts no frames", ErrMalformed)
	}
	h.MaxFrame = uint32(maxFrame)
	if h.Info, err = r.payload(); err != nil {
		return Hello{}, fmt.Errorf("transport: handshake: %w", err)
	}
	return h, nil
}
