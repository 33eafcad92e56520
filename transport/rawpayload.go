package transport

import (
	"bytes"
	"fmt"
	"reflect"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// A payload as a wire connection delivers it: checked msgpack bytes,
// carved from chunks shared by a connection's messages, and decoded only
// when the runtime asks, into the type it expects.

// payloadAlloc hands out the payloads of one connection's messages. Small
// payloads are carved, with their rawPayload, from chunks shared by many
// messages: a message then costs no allocation of its own, where it would
// cost two. A payload that is kept keeps its chunk alive, at most
// payloadChunk bytes and a few kilobytes of rawPayloads; larger payloads
// get their own allocation.
type payloadAlloc struct {
	bytes []byte
	raws  []rawPayload
}

const (
	payloadChunk = 16 << 10 // bytes per chunk
	payloadSmall = 512      // largest payload carved from a chunk
	rawsChunk    = 128      // rawPayloads per chunk
)

// payload returns a rawPayload whose b has length size, from a if a is not
// nil.
func (a *payloadAlloc) payload(size int) *rawPayload {
	if a == nil {
		return &rawPayload{b: make([]byte, size)}
	}
	if len(a.raws) == 0 {
		a.raws = make([]rawPayload, rawsChunk)
	}
	p := &a.raws[0]
	a.raws = a.raws[1:]
	if size > payloadSmall {
		p.b = make([]byte, size)
		return p
	}
	if len(a.bytes) < size {
		a.bytes = make([]byte, payloadChunk)
	}
	// The capacity is cut to size: appending to one payload must not
	// spill into the next.
	p.b, a.bytes = a.bytes[:size:size], a.bytes[size:]
	return p
}

// rawPayload is a payload as wire connections deliver it: the msgpack
// encoding of one value, checked by [mpReader.skip] and owned by this value
// (never a view of a read buffer). It is decoded only when the runtime asks,
// into the type the runtime expects, so a payload of the wrong type fails
// the one dialog it belongs to.
type rawPayload struct {
	b []byte
}

// Decode implements [Raw]: it decodes the payload into dst, a non-nil
// pointer, with msgpack's rules (a map decodes into a struct by field name;
// missing fields stay zero, unknown ones are ignored). Failures wrap
// [ErrType] and name dst's type.
func (r *rawPayload) Decode(dst any) (err error) {
	// The commonest small payloads skip msgpack's reflective machinery
	// (a pooled decoder and a type lookup per value, a third of a
	// receiver's time per item): ints and strings here, arrays, slices
	// and structs of plain fields through their type's codec
	// (typecodec.go); anything else, or any doubt, falls through to it.
	switch d := dst.(type) {
	case *int:
		if v, ok := fastInt(r.b); ok && d != nil && int64(int(v)) == v {
			*d = int(v)
			return nil
		}
	case *int64:
		if v, ok := fastInt(r.b); ok && d != nil {
			*d = v
			return nil
		}
	case *string:
		if v, ok := fastStr(r.b); ok && d != nil {
			*d = v
			return nil
		}
	case *time.Time: // msgpack's Decode would bypass its registry
		if v, ok := readTime(r.b); ok && d != nil {
			*d = v
			return nil
		}
	}
	if t := reflect.TypeOf(dst); t != nil && t.Kind() == reflect.Pointer {
		if isNumeric(t.Elem()) { // number.go: the rule Decode of Go values follows
			if n, ok := readNumber(r.b); ok {
				if v := reflect.ValueOf(dst); !v.IsNil() {
					return n.store(v.Elem())
				}
			}
		}
		if c := codecFor(t.Elem()); c != nil {
			if p := reflect.ValueOf(dst).UnsafePointer(); p != nil {
				if rest, ok := c.dec(r.b, p); ok && len(rest) == 0 {
					return nil
				}
			}
		}
	}
	return r.decodeSlow(dst)
}

// fastInt decodes b if it is exactly one msgpack integer that fits an
// int64.
func fastInt(b []byte) (int64, bool) {
	v, neg, rest, ok := readInt(b)
	return v, ok && len(rest) == 0 && (neg || v >= 0)
}

// fastStr decodes b if it is exactly one msgpack string.
func fastStr(b []byte) (string, bool) {
	s, rest, ok := readStr(b)
	if !ok || len(rest) != 0 {
		return "", false
	}
	return string(s), true
}

// decodeSlow decodes with msgpack, for any destination.
func (r *rawPayload) decodeSlow(dst any) (err error) {
	// msgpack can panic on input it was not written to expect, such as a
	// map key that is itself a slice (unhashable) decoded into map[any]any.
	// The bytes come from a peer, so that is a decoding failure, not a bug.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: decode payload into %T: %v", ErrType, dst, p)
		}
	}()
	if err := unmarshal(r.b, dst); err != nil {
		return fmt.Errorf("%w: want %T, got %s: %w", ErrType, dst, encodedKind(r.b), err)
	}
	return nil
}

// Recode decodes v, a value decoded without its type (into an any, as a
// [Msg]'s nested values are), into dst, a non-nil pointer, as if dst had
// been the destination from the start: v is encoded as a wire connection
// encodes a payload and decoded as the receiver would decode it, numbers
// by the number rule. Errors wrap [ErrEncode] or [ErrType].
func Recode(v, dst any) error {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.appendPayload(v); err != nil {
		return err
	}
	return (&rawPayload{b: e.buf}).Decode(dst)
}

// structTag is the struct tag this package's msgpack decoding falls back
// to when a field has no msgpack tag. No field is expected to carry it: it
// is there so that msgpack caches the decoders of a struct's fields under
// a key of this package's own, built after [strictNumbers] registered the
// numeric types among them, and never ones that other msgpack decoding in
// the program built before.
const structTag = "tractorwire"

// unmarshal decodes b into dst with msgpack, its numbers by the number
// rule.
func unmarshal(b []byte, dst any) error {
	if t := reflect.TypeOf(dst); t != nil {
		strictNumbers(t)
	}
	d := msgpack.GetDecoder()
	defer msgpack.PutDecoder(d)
	d.Reset(bytes.NewReader(b))
	d.SetCustomStructTag(structTag)
	return d.Decode(dst)
}

// encodedKind names the kind of value a msgpack encoding holds, by its first
// byte, for errors that say what arrived instead of what was wanted.
func encodedKind(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch c := b[0]; {
	case c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3):
		return "an encoded int"
	case c <= 0x8f || c == 0xde || c == 0xdf:
		return "an encoded map"
	case c <= 0x9f || c == 0xdc || c == 0xdd:
		return "an encoded array"
	case c <= 0xbf || (c >= 0xd9 && c <= 0xdb):
		return "an encoded string"
	case c == 0xc0:
		return "an encoded nil"
	case c == 0xc2 || c == 0xc3:
		return "an encoded bool"
	case c == 0xca || c == 0xcb:
		return "an encoded float"
	case c >= 0xc4 && c <= 0xc6:
		return "encoded bytes"
	}
	return "an encoded extension"
}

// MarshalMsgpack makes a rawPayload encode as the value it holds, even when
// it is nested inside another payload.
func (r *rawPayload) MarshalMsgpack() ([]byte, error) { return r.b, nil }

// String describes the payload without decoding it.
func (r *rawPayload) String() string { return fmt.Sprintf("msgpack(%d bytes)", len(r.b)) }
