package transport

import (
	"errors"
	"fmt"
	"math"
)

// The envelope: how a [Msg] becomes a frame body and back. A body is one
// msgpack array
//
//	[kind, cid, endpoint, mode, credit, payload]
//	[kind, cid, endpoint, mode, credit, creditBytes, payload]
//
// the second form only when creditBytes (the byte credit a message grants
// or announces, [Msg.CreditBytes]) is not zero, so the messages that carry
// none, stream items among them, pay nothing for it. The payload is any Go
// value as msgpack encodes it (encoder.go), and arrives as a rawPayload
// (rawpayload.go) once checked (payloadcheck.go). The envelope is written
// and read by hand (msgpack.go) rather than by msgpack's reflection: it is
// on every message's path, and reading it by hand lets the reader refuse
// what msgpack would trust.

// ErrMalformed is returned (wrapped) when bytes from the peer are not a
// well-formed frame or message: a bad header, an envelope that is not
// [kind, cid, endpoint, mode, credit, (creditBytes,) payload], a payload
// that is not exactly one valid msgpack value, or a compressed body that
// does not decompress. The connection that received it is closed.
var ErrMalformed = errors.New("transport: malformed frame")

// msgFields is the length of the envelope array; msgFieldsBytes with the
// byte credit.
const (
	msgFields      = 6
	msgFieldsBytes = 7
)

// appendMsg appends the body encoding of m to e.buf. If the payload cannot
// be encoded it returns an error wrapping [ErrEncode] and e.buf may hold a
// partial encoding past its old length, for the caller to drop.
func (e *encoder) appendMsg(m Msg) error {
	start := len(e.buf)
	fields := byte(msgFields)
	if m.CreditBytes != 0 {
		fields = msgFieldsBytes
	}
	b := append(e.buf, mpFixArray|fields)
	b = appendUint(b, uint64(m.Kind))
	b = appendUint(b, m.CID)
	b = appendStr(b, m.Endpoint)
	b = appendUint(b, uint64(m.Mode))
	b = appendUint(b, uint64(m.Credit))
	if m.CreditBytes != 0 {
		b = appendUint(b, m.CreditBytes)
	}
	e.buf = b
	if err := e.appendPayload(m.Payload); err != nil {
		return err
	}
	e.body = len(e.buf) - start
	return nil
}

// decodeMsg decodes a frame body. The payload it returns is nil or a
// *rawPayload holding a copy of its bytes, allocated from a (which may be
// nil): body may be a buffer the caller reuses.
func decodeMsg(body []byte, a *payloadAlloc) (Msg, error) {
	r := mpReader{b: body, alloc: a}
	n, err := r.arrayLen()
	if err != nil {
		return Msg{}, err
	}
	if n != msgFields && n != msgFieldsBytes {
		return Msg{}, fmt.Errorf("%w: message has %d fields, want %d or %d", ErrMalformed, n, msgFields, msgFieldsBytes)
	}
	var m Msg
	kind, err := r.uint(math.MaxUint8)
	if err != nil {
		return Msg{}, err
	}
	m.Kind = Kind(kind)
	if m.CID, err = r.uint(math.MaxUint64); err != nil {
		return Msg{}, err
	}
	if m.Endpoint, err = r.str(); err != nil {
		return Msg{}, err
	}
	mode, err := r.uint(math.MaxUint8)
	if err != nil {
		return Msg{}, err
	}
	m.Mode = uint8(mode)
	credit, err := r.uint(math.MaxUint32)
	if err != nil {
		return Msg{}, err
	}
	m.Credit = uint32(credit)
	if n == msgFieldsBytes {
		if m.CreditBytes, err = r.uint(math.MaxUint64); err != nil {
			return Msg{}, err
		}
		if m.CreditBytes == 0 { // the short form says that
			return Msg{}, r.malformed("zero byte credit in the long envelope")
		}
	}
	if m.Payload, err = r.payload(); err != nil {
		return Msg{}, err
	}
	return m, nil
}
