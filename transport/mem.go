package transport

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"sync"
)

// MemPair returns the two ends of an in-memory connection, for two actors
// in one process. Messages pass as Go values, without encoding or copying:
// a payload must not be mutated after it was sent. Send never blocks (flow
// control is the runtime's, per dialog) and delivers from the sender's
// goroutine into the peer's deliver function, so a message costs one mutex
// and one function call.
func MemPair() (Conn, Conn) { return memPair(false) }

// MemPairEncoded returns the two ends of an in-memory connection that
// encodes every message and decodes it on the other end, as a wire
// connection with the default frame limit would (see [RoundTrip]): a
// payload arrives as a [Raw], decoded into what the receiver asks for,
// and a message that could not go over a wire fails its Send the same
// way. The runtime uses it between actors of one process under
// tractor.WireCheck, to show them what actors of two processes would see.
func MemPairEncoded() (Conn, Conn) { return memPair(true) }

func memPair(encode bool) (Conn, Conn) {
	a := &memConn{done: make(chan struct{}), encode: encode}
	b := &memConn{done: make(chan struct{}), encode: encode}
	a.peer, b.peer = b, a
	return a, b
}

// RoundTrip returns m as a wire connection's peer would receive it: m is
// encoded into a frame, against the default frame limit and without
// compression, and decoded back; the payload is then a [Raw] (or nil) and
// Size the encoded body's length, as [WireConn] reports it. It fails as a
// wire connection's Send would, with an error wrapping [ErrEncode] or
// [ErrFrameTooLarge]. A [MemPairEncoded] connection passes every message
// through it; the runtime also uses it for the inline calls between
// actors of one process under tractor.WireCheck.
func RoundTrip(m Msg) (Msg, error) {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.appendFrame(m, false, 0, DefaultMaxFrame); err != nil {
		return Msg{}, fmt.Errorf("transport: send %s: %w", m.Kind, err)
	}
	// decodeMsg copies the payload's bytes: the encoder goes back to its
	// pool.
	out, err := decodeMsg(e.buf[frameHeader:], nil)
	if err != nil {
		return Msg{}, fmt.Errorf("transport: send %s: %w: %w", m.Kind, ErrEncode, err)
	}
	out.Size = e.body
	return out, nil
}

// memConn is one end of a [MemPair]. Its mutex guards its inbound side: the
// deliver function, messages queued before Serve, and how it ended.
type memConn struct {
	peer   *memConn
	encode bool // every message passes through RoundTrip

	mu      sync.Mutex
	recv    Receiver // once attached
	pending []Msg
	ended   error // why Serve returns; set once
	done    chan struct{}
}

// Send implements [Conn].
func (c *memConn) Send(ctx context.Context, m Msg) error {
	_, err := c.SendSized(ctx, m)
	return err
}

// SendSized implements [SizedSender]: m's size is [PayloadSize] of its
// payload, or its encoded length on a [MemPairEncoded] connection.
func (c *memConn) SendSized(ctx context.Context, m Msg) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if c.encode {
		var err error
		if m, err = RoundTrip(m); err != nil {
			return 0, err
		}
	} else {
		m.Size = PayloadSize(m.Payload)
	}
	p := c.peer
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended != nil {
		return 0, fmt.Errorf("send %s: %w", m.Kind, ErrClosed)
	}
	if p.recv == nil {
		p.pending = append(p.pending, m)
		return m.Size, nil
	}
	p.recv.Deliver(m)
	return m.Size, nil
}

// Serve implements [Conn].
func (c *memConn) Serve(deliver func(Msg)) error {
	c.Attach(funcReceiver(deliver))
	<-c.done
	return c.ended
}

// Receiver takes what an in-memory connection delivers to a receiver
// attached to it: each message, then, once, how the connection ended.
type Receiver interface {
	Deliver(Msg)
	Ended(reason error)
}

// funcReceiver is Serve's receiver: it delivers, and Serve's return says
// how the connection ended.
type funcReceiver func(Msg)

func (f funcReceiver) Deliver(m Msg) { f(m) }
func (funcReceiver) Ended(error)     {}

// Attach is Serve without a goroutine to wait in: it delivers what came
// before it to r, files r for what follows, and returns; r.Ended runs
// once, with what Serve would return, when the connection ends, from the
// goroutine that ended it (a Close of either end). An in-memory
// connection needs no reader, so an idle one costs no goroutine.
func (c *memConn) Attach(r Receiver) {
	c.mu.Lock()
	if c.recv != nil {
		c.mu.Unlock()
		panic("transport: Serve called twice")
	}
	c.recv = r
	// What the peer sent before Serve, even if it has closed since, is
	// delivered first; a local Close dropped it already.
	for _, m := range c.pending {
		r.Deliver(m)
	}
	c.pending = nil
	reason := c.ended
	c.mu.Unlock()
	if reason != nil {
		r.Ended(reason)
	}
}

// Ended returns why c's inbound side ended (io.EOF once the peer closed,
// ErrClosed once c was closed), or nil while it is open: an in-memory
// connection knows at once, where Serve's return comes later, from
// another goroutine.
func (c *memConn) Ended() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

// end records why c's inbound side ended, once. A local Close drops what
// was not yet delivered; the peer's Close keeps it for Serve.
func (c *memConn) end(reason error) {
	c.mu.Lock()
	if c.ended != nil {
		c.mu.Unlock()
		return
	}
	c.ended = reason
	if reason == ErrClosed {
		c.pending = nil
	}
	close(c.done)
	r := c.recv
	c.mu.Unlock()
	if r != nil {
		r.Ended(reason)
	}
}

// Close implements [Conn]. The peer's Serve returns io.EOF once it has
// delivered everything sent before Close; messages are delivered
// synchronously, so that is at once.
func (c *memConn) Close() error {
	c.end(ErrClosed)
	c.peer.end(io.EOF)
	return nil
}

// PayloadSize is the in-memory backend's estimate of the memory a payload
// holds, a cheap one (no walk of the value): the length of a string, the
// length times the element size of a slice or array, the number of entries
// times the key and element sizes of a map, the size of anything else;
// through one pointer, and for the strings and slices among a struct's own
// fields, the same. Memory reached any deeper is not counted: a stalled
// in-memory receiver holds only references to values its sender made.
// A [Raw] payload counts its encoded length.
func PayloadSize(v any) int {
	switch p := v.(type) {
	case nil:
		return 0
	case int, int64, float64:
		return 8
	case string:
		return len(p)
	case []byte:
		return len(p)
	case *rawPayload:
		return len(p.b)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return 0
		}
		rv = rv.Elem()
	}
	n := int(rv.Type().Size())
	switch rv.Kind() {
	case reflect.Struct:
		for i := range rv.NumField() {
			n += backing(rv.Field(i))
		}
	default:
		n += backing(rv)
	}
	return n
}

// backing is the size of what a string, slice or map value v refers to,
// one level down; 0 for other kinds.
func backing(v reflect.Value) int {
	switch v.Kind() {
	case reflect.String:
		return v.Len()
	case reflect.Slice:
		return v.Len() * int(v.Type().Elem().Size())
	case reflect.Map:
		return v.Len() * int(v.Type().Key().Size()+v.Type().Elem().Size())
	}
	return 0
}
