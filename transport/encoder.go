package transport

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Payload encoding: the pooled encoder that frames and handshakes are
// written with, and how it encodes a payload, any Go value, as msgpack
// (structs as maps keyed by field name; plain types through their own
// codec, typecodec.go, with the same bytes).

// ErrEncode is returned (wrapped) by Send when a payload cannot be
// encoded, such as a channel or a func, or a value nested deeper than the
// protocol allows. Only that Send fails; the connection is intact.
var ErrEncode = errors.New("transport: payload cannot be encoded")

// encoder appends msgpack encodings to a byte slice. Encoders are pooled:
// msgpack's Encoder keeps scratch buffers worth reusing.
type encoder struct {
	buf  []byte
	zbuf []byte // compression scratch space
	enc  *msgpack.Encoder
	body int // the length of the body appendMsg encoded last: [Msg.Size]

	// The payload type this encoder met last and its codec (nil for
	// msgpack's), so that a stream's items skip the lookup in typeCodecs.
	lastType  reflect.Type
	lastCodec *typeCodec
}

var encoders = sync.Pool{New: func() any {
	e := new(encoder)
	e.enc = msgpack.NewEncoder(e)
	e.enc.UseCompactInts(true)
	return e
}}

func getEncoder() *encoder {
	e := encoders.Get().(*encoder)
	e.buf = e.buf[:0]
	return e
}

// putEncoder returns e to the pool, without the buffers a big message grew.
func putEncoder(e *encoder) {
	e.dropLarge()
	encoders.Put(e)
}

// dropLarge lets go of the buffers over keepBuffer, so that the pool holds
// on only to small ones.
func (e *encoder) dropLarge() {
	if cap(e.buf) > keepBuffer {
		e.buf = nil
	}
	if cap(e.zbuf) > keepBuffer {
		e.zbuf = nil
	}
}

// Write, WriteByte and WriteString make encoder the writer of its own
// msgpack.Encoder, so encoding appends to buf without another buffer.
func (e *encoder) Write(p []byte) (int, error) { e.buf = append(e.buf, p...); return len(p), nil }

func (e *encoder) WriteByte(c byte) error { e.buf = append(e.buf, c); return nil }

func (e *encoder) WriteString(s string) (int, error) {
	e.buf = append(e.buf, s...)
	return len(s), nil
}

// appendPayload appends the msgpack encoding of v to e.buf. A [Raw] that a
// wire connection delivered is copied verbatim, so a runtime can forward a
// payload it never decoded. Types with a codec of their own (typecodec.go)
// are written by it, with the bytes msgpack would write.
func (e *encoder) appendPayload(v any) error {
	switch p := v.(type) {
	case nil:
		e.buf = append(e.buf, mpNil)
		return nil
	case *rawPayload:
		e.buf = append(e.buf, p.b...)
		return nil
	case int: // the commonest payloads skip msgpack's type lookup
		e.buf = appendInt(e.buf, int64(p))
		return nil
	case int64:
		e.buf = appendInt(e.buf, p)
		return nil
	case string:
		e.buf = appendStr(e.buf, p)
		return nil
	case time.Time: // msgpack's Encode would bypass its registry
		e.buf = appendTime(e.buf, p)
		return nil
	}
	// Arrays, slices and structs of plain fields have a codec built once
	// for their type (typecodec.go), rather than msgpack's reflection per
	// value.
	if t := reflect.TypeOf(v); t != e.lastType {
		e.lastType, e.lastCodec = t, codecFor(t)
	}
	if c := e.lastCodec; c != nil {
		e.buf = c.enc(e.buf, ifaceData(v))
		return nil
	}
	start := len(e.buf)
	if err := e.enc.Encode(v); err != nil {
		return fmt.Errorf("%w: %T: %w", ErrEncode, v, err)
	}
	// The receiver refuses payloads nested too deeply; refuse them here,
	// so that only this Send fails rather than the peer's connection.
	if err := checkValue(e.buf[start:]); err != nil {
		return fmt.Errorf("%w: %T: %w", ErrEncode, v, err)
	}
	return nil
}
