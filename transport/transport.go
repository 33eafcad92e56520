// Package transport moves protocol messages between two actors.
//
// The runtime in the parent package talks to its peers only through [Conn],
// which every backend implements: the in-memory backend ([Pipe], [Mem]) passes
// Go values without encoding, and wire backends frame and encode each
// [Msg]. The package knows nothing of actors: a [Msg] is a dialog id, a kind
// and a payload.
//
// # Delivery
//
// A Conn is push-based on the receiving side: [Conn.Serve] hands every
// incoming message to a deliver function, in the order the peer sent it. The
// deliver function must not block and must not call Send on the same
// connection; the runtime only files the message into a per-dialog queue.
// This lets the in-memory backend call deliver directly from the sender's
// goroutine (no extra goroutine hop per message) while a wire backend calls it
// from its read loop.
//
// # Wire backends
//
// [TCP] and the pipe backend ([Socketpair] and [FileConn], for a parent and
// the child process it spawns) share one framing and one codec, in
// [WireConn]: each message is a length-prefixed frame holding a msgpack
// array, S2-compressed above a size threshold when both sides agreed to.
// A wire connection opens with a handshake, before Serve and before any
// Send: the dialer calls [WireConn.Handshake] and the acceptor
// [WireConn.Answer] (see [Handshaker] and [Answerer]), and each side sends
// one hello frame, the acceptor's chosen after reading the dialer's. With
// a [Config.Secret], a challenge-response comes first: each side sends a
// random nonce, the dialer sends an HMAC-SHA256 of both under the secret,
// and the acceptor checks it before proving the same in turn; only then
// are hellos sent and read, and a peer that fails is dropped with
// [ErrAuth]. [TCP] can run over TLS too. A connection's payloads arrive
// as [Raw] values, decoded by [Decode] into the type the receiver expects.
// Bad input from the peer ends that connection with an error wrapping
// [ErrMalformed] or [ErrFrameTooLarge]; a payload of the wrong type fails
// only the Decode of that message, with [ErrType].
package transport

import (
	"context"
	"errors"
	"fmt"
	"reflect"
)

// Kind is the kind of a protocol message. The set follows tractor's dialog
// protocol; see the package doc of the parent package for the sequences.
type Kind uint8

// The message kinds.
const (
	// KindCmd opens a dialog: Endpoint names the function, Mode the dialog
	// kind, Payload the argument.
	KindCmd Kind = iota + 1
	// KindStarted carries a context dialog's first value.
	KindStarted
	// KindYield carries one stream item, in either direction.
	KindYield
	// KindStop says the sender will yield no more on this dialog.
	KindStop
	// KindReturn carries a dialog's final result.
	KindReturn
	// KindError carries a dialog's final error (or, with CID 0, an actor's).
	KindError
	// KindCancel asks the peer to cancel one dialog, or with CID 0 the
	// whole actor. Payload names the canceller.
	KindCancel
	// KindCredit grants the peer Credit more yields on a dialog.
	KindCredit
)

var kindNames = [...]string{
	KindCmd: "cmd", KindStarted: "started", KindYield: "yield", KindStop: "stop",
	KindReturn: "return", KindError: "error", KindCancel: "cancel", KindCredit: "credit",
}

// String returns the protocol name of k, such as "yield".
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Msg is one protocol message. The zero value is not a valid message.
type Msg struct {
	Kind Kind
	// CID is the dialog id. The side that opened the dialog chose it.
	CID uint64
	// Endpoint is the endpoint name of a KindCmd message.
	Endpoint string
	// Mode is the dialog kind of a KindCmd message (function, stream or
	// context), as the runtime numbers them.
	Mode uint8
	// Credit is the number of yields granted by a KindCredit message.
	Credit uint32
	// Payload is the message's value: a Go value on the in-memory backend,
	// a [Raw] encoding on wire backends. Use [Decode] to read it.
	Payload any
}

// Conn is one bidirectional message connection between two actors.
//
// Send is safe for concurrent use; messages sent by one goroutine arrive in
// the order sent. Serve is called once, by the connection's owner.
type Conn interface {
	// Send delivers m to the peer. It may block while the connection's
	// outbound buffer is full and returns ctx's error if ctx ends first, or
	// an error wrapping [ErrClosed] once either side has closed.
	Send(ctx context.Context, m Msg) error
	// Serve passes every incoming message to deliver, in order, until the
	// connection ends. It returns [io.EOF] after the peer's Close, having
	// delivered everything sent before it; [ErrClosed] after a local Close;
	// another error if the connection broke. deliver must not block.
	Serve(deliver func(Msg)) error
	// Close ends the connection; it is idempotent.
	Close() error
}

// Listener accepts connections for a [Transport].
type Listener interface {
	// Accept waits for the next connection or for ctx to end.
	Accept(ctx context.Context) (Conn, error)
	// Addr is the address peers dial to reach this listener.
	Addr() string
	// Close stops accepting; connections already accepted stay open.
	Close() error
}

// Transport makes connections between actors. It is the one seam through
// which the runtime reaches its peers.
type Transport interface {
	// Name is the transport's short name, such as "mem" or "tcp".
	Name() string
	// Listen opens a listener at addr ("" picks a fresh address).
	Listen(ctx context.Context, addr string) (Listener, error)
	// Dial connects to the listener at addr.
	Dial(ctx context.Context, addr string) (Conn, error)
}

var (
	// ErrClosed is returned by Send, Serve and Accept once the connection
	// or listener was closed locally.
	ErrClosed = errors.New("transport: closed")
	// ErrNoListener is returned by Dial when nothing listens at the address.
	ErrNoListener = errors.New("transport: no listener at address")
	// ErrType is returned by Decode when a payload cannot be stored into the
	// destination's type.
	ErrType = errors.New("transport: payload type mismatch")
)

// Raw is an encoded payload, as wire backends deliver it. Its Decode method
// decodes it into a destination pointer; the runtime calls it lazily, so a
// payload of the wrong type fails only the dialog it belongs to.
type Raw interface {
	Decode(dst any) error
}

// Decode stores payload into the value dst points to. A Go value is assigned
// when its type is assignable to dst's element type (a nil payload stores the
// zero value); a [Raw] payload decodes itself. Anything else returns an error
// wrapping [ErrType] that names both types.
func Decode(payload any, dst any) error {
	if r, ok := payload.(Raw); ok {
		return r.Decode(dst)
	}
	// The common cases avoid reflection: the destination is *any, or a
	// pointer whose element type the payload has exactly.
	switch d := dst.(type) {
	case *any:
		if d != nil {
			*d = payload
			return nil
		}
	case *int:
		if v, ok := payload.(int); ok && d != nil {
			*d = v
			return nil
		}
	case *string:
		if v, ok := payload.(string); ok && d != nil {
			*d = v
			return nil
		}
	}
	dv := reflect.ValueOf(dst)
	if dv.Kind() != reflect.Pointer || dv.IsNil() {
		return fmt.Errorf("%w: destination %T is not a non-nil pointer", ErrType, dst)
	}
	elem := dv.Elem()
	if payload == nil {
		elem.SetZero()
		return nil
	}
	pv := reflect.ValueOf(payload)
	if !pv.Type().AssignableTo(elem.Type()) {
		return fmt.Errorf("%w: want %s, got %T", ErrType, elem.Type(), payload)
	}
	elem.Set(pv)
	return nil
}
