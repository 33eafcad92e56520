// Package transport moves protocol messages between two actors.
//
// The runtime in the parent package talks to its peers only through [Conn],
// which every backend implements: the in-memory backend ([MemPair]) passes
// Go values without encoding, and wire backends frame and encode each
// [Msg]. The package knows nothing of actors: a [Msg] is a dialog id, a kind
// and a payload.
//
// # Messages
//
// Each message belongs to a dialog, named by its CID, which the side that
// opens the dialog chooses. The runtime runs three kinds of dialog, with
// these sequences of message kinds (* repeats, | is either):
//
//	function  caller: cmd           callee: return | error
//	stream    caller: cmd           callee: yield*, then stop and return, or error
//	context   caller: cmd           callee: started, then return | error
//
// A context dialog's two sides may exchange yields between started and the
// callee's final message, each ending its yields with a stop. While a
// dialog runs, the receiver of yields grants its sender more with credit
// messages (and takes some back with revoke, once, if it shrinks its
// window), and the caller may send cancel, which the callee answers with
// its final message all the same. A callee that fails before its first
// value sends only its error. Two messages concern an actor rather than a
// dialog, and carry CID 0: cancel asks the peer actor to cancel itself,
// and stop is the last message a cancelled actor sends its parent.
//
// PROTOCOL.md, at the root of the module, is the full specification: the
// bytes of frames, handshake and envelope, every sequence with its
// cancellation and errors, flow control, limits and versioning.
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
// [WireConn.Answer], and each side sends one hello frame, the acceptor's
// chosen after reading the dialer's; both must speak [ProtocolVersion].
// With a [Config.Secret], a challenge-response comes first: each side sends
// a random nonce, the dialer sends an HMAC-SHA256 of both under the secret,
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
// protocol; the package doc gives the sequences a dialog runs.
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
	// KindStop says the sender will yield no more on this dialog, or, with
	// CID 0, that this is the last message of an ending actor.
	KindStop
	// KindReturn carries a dialog's final result.
	KindReturn
	// KindError carries a dialog's final error.
	KindError
	// KindCancel asks the peer to cancel one dialog, or with CID 0 the
	// whole actor. Payload names the canceller.
	KindCancel
	// KindCredit grants the peer Credit more yields and CreditBytes more
	// bytes of yields on a dialog.
	KindCredit
	// KindRevoke takes back Credit yields and CreditBytes bytes of the
	// credit granted to the peer on a dialog: the sender of the revoke
	// shrank the window it receives with. The peer's credit may go below zero; it then waits
	// for grants.
	KindRevoke
)

var kindNames = [...]string{
	KindCmd: "cmd", KindStarted: "started", KindYield: "yield", KindStop: "stop",
	KindReturn: "return", KindError: "error", KindCancel: "cancel", KindCredit: "credit",
	KindRevoke: "revoke",
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
	// Credit is the number of yields granted by a KindCredit message. On
	// a KindCmd or KindStarted message it is the window the sender grants
	// the peer from the start: its yields allowed before the first grant.
	Credit uint32
	// CreditBytes is the byte credit that goes with Credit, in the unit
	// of [Msg.Size]: the yields' sizes added up. A sender of yields may send
	// while it has any byte credit left, so that one yield larger than the
	// whole window still goes through (alone).
	CreditBytes uint64
	// Payload is the message's value: a Go value on the in-memory backend,
	// a [Raw] encoding on wire backends. Use [Decode] to read it.
	Payload any
	// Size is the message's size as its connection measures it, for flow
	// control; Serve sets it on each message it delivers, and Send ignores
	// it. On a wire connection it is the length of the encoded message
	// before compression (the same for both sides, whatever the
	// compression); on the in-memory backend, an estimate of the payload's
	// memory, [PayloadSize]. See [SizedSender].
	Size int
}

// SizedSender is implemented by a [Conn] that measures what it sends:
// SendSized is Send, and also returns the message's size, the one the
// peer's Serve reports in [Msg.Size]. Both backends implement it. The
// runtime bounds the bytes a dialog has in flight with these sizes; over a
// Conn that does not implement it (whose Serve must then leave Size 0), it
// bounds only the number of items.
type SizedSender interface {
	SendSized(ctx context.Context, m Msg) (int, error)
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

// Listener accepts connections, such as those dialled to a [TCP] address.
type Listener interface {
	// Accept waits for the next connection or for ctx to end.
	Accept(ctx context.Context) (Conn, error)
	// Addr is the address peers dial to reach this listener.
	Addr() string
	// Close stops accepting; connections already accepted stay open.
	Close() error
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
// zero value); a number is converted to another numeric type by the number
// rule that [Raw] payloads follow too (number.go: it must hold the value
// exactly); a [Raw] payload decodes itself. Anything else returns an error
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
		if n, ok := numberOf(pv); ok && isNumeric(elem.Type()) {
			return n.store(elem) // number.go: as a wire would decode it
		}
		return fmt.Errorf("%w: want %s, got %T", ErrType, elem.Type(), payload)
	}
	elem.Set(pv)
	return nil
}
