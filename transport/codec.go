package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// The codec turns a [Msg] into a frame body and back. A body is one
// msgpack array
//
//	[kind, cid, endpoint, mode, credit, payload]
//	[kind, cid, endpoint, mode, credit, creditBytes, payload]
//
// the second form only when creditBytes (the byte credit a message grants
// or announces, [Msg.CreditBytes]) is not zero, so the messages that carry
// none, stream items among them, pay nothing for it. The payload is any
// Go value as msgpack encodes it (structs as maps keyed by field name;
// plain types through their own codec, typecodec.go, with the same
// bytes), and arrives as a rawPayload (rawpayload.go). The envelope is written and read by hand rather than by
// msgpack's reflection: it is on every message's path, and reading it by hand
// lets the reader refuse what msgpack would trust. msgpack v5.4.1 sizes
// slices and maps from the lengths the input declares: an array32 header
// claiming 2^28 elements makes it allocate 4 GiB for a []int from a 5-byte
// payload (and a map32 header 56-84 MB), before finding the input ends. So
// every payload is walked once by [mpReader.skip] when it arrives, which
// checks that each declared length fits in the bytes that remain, that
// nesting stays under [maxNesting], and that no extension value can make
// msgpack parse off the walked path (see [mpReader.ext]); only then is it
// handed to msgpack, whose allocations are then proportional to the bytes
// actually present (times the size of the destination's element types).

var (
	// ErrMalformed is returned (wrapped) when bytes from the peer are not a
	// well-formed frame or message: a bad header, an envelope that is not
	// [kind, cid, endpoint, mode, credit, (creditBytes,) payload], a payload that is not
	// exactly one valid msgpack value, or a compressed body that does not
	// decompress. The connection that received it is closed.
	ErrMalformed = errors.New("transport: malformed frame")
	// ErrEncode is returned (wrapped) by Send when a payload cannot be
	// encoded, such as a channel or a func, or a value nested deeper than
	// the protocol allows. Only that Send fails; the connection is intact.
	ErrEncode = errors.New("transport: payload cannot be encoded")
)

// maxNesting bounds how deeply arrays and maps may nest in a payload. It
// keeps the recursion of the validator and of msgpack's decoder (which would
// otherwise follow a 16 MiB run of array headers 16 million levels down and
// overflow the goroutine stack, a fatal error) far from the stack limit,
// while leaving room for any data a program really sends.
const maxNesting = 1000

// msgpack format codes the codec reads or writes directly.
const (
	mpPosFixIntMax = 0x7f
	mpFixMap       = 0x80 // 0x80-0x8f
	mpFixArray     = 0x90 // 0x90-0x9f
	mpFixStr       = 0xa0 // 0xa0-0xbf
	mpNil          = 0xc0
	mpFalse        = 0xc2
	mpTrue         = 0xc3
	mpBin8         = 0xc4
	mpBin16        = 0xc5
	mpBin32        = 0xc6
	mpExt8         = 0xc7
	mpExt16        = 0xc8
	mpExt32        = 0xc9
	mpFloat32      = 0xca
	mpFloat64      = 0xcb
	mpUint8        = 0xcc
	mpUint16       = 0xcd
	mpUint32       = 0xce
	mpUint64       = 0xcf
	mpInt8         = 0xd0
	mpInt16        = 0xd1
	mpInt32        = 0xd2
	mpInt64        = 0xd3
	mpFixExt1      = 0xd4 // 0xd4-0xd8: fixext 1, 2, 4, 8, 16
	mpFixExt16     = 0xd8
	mpStr8         = 0xd9
	mpStr16        = 0xda
	mpStr32        = 0xdb
	mpArray16      = 0xdc
	mpArray32      = 0xdd
	mpMap16        = 0xde
	mpMap32        = 0xdf
	mpNegFixIntMin = 0xe0
)

// msgFields is the length of the envelope array; msgFieldsBytes with the
// byte credit.
const (
	msgFields      = 6
	msgFieldsBytes = 7
)

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
	if cap(e.buf) > keepBuffer {
		e.buf = nil
	}
	if cap(e.zbuf) > keepBuffer {
		e.zbuf = nil
	}
	encoders.Put(e)
}

// Write, WriteByte and WriteString make encoder the writer of its own
// msgpack.Encoder, so encoding appends to buf without another buffer.
func (e *encoder) Write(p []byte) (int, error) { e.buf = append(e.buf, p...); return len(p), nil }

func (e *encoder) WriteByte(c byte) error { e.buf = append(e.buf, c); return nil }

func (e *encoder) WriteString(s string) (int, error) {
	e.buf = append(e.buf, s...)
	return len(s), nil
}

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

func appendUint(b []byte, v uint64) []byte {
	switch {
	case v <= mpPosFixIntMax:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, mpUint8, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, mpUint16), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, mpUint32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, mpUint64), v)
}

// appendInt appends v in its shortest msgpack encoding.
func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0:
		return appendUint(b, uint64(v))
	case v >= -32:
		return append(b, byte(int8(v))) // negative fixint
	case v >= math.MinInt8:
		return append(b, mpInt8, byte(int8(v)))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, mpInt16), uint16(int16(v)))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, mpInt32), uint32(int32(v)))
	}
	return binary.BigEndian.AppendUint64(append(b, mpInt64), uint64(v))
}

func appendStr(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, mpFixStr|byte(n))
	case n <= math.MaxUint8:
		b = append(b, mpStr8, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, mpStr16), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, mpStr32), uint32(n))
	}
	return append(b, s...)
}

// appendBin appends p as a msgpack byte string.
func appendBin(b []byte, p []byte) []byte {
	n := len(p)
	switch {
	case n <= math.MaxUint8:
		b = append(b, mpBin8, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, mpBin16), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, mpBin32), uint32(n))
	}
	return append(b, p...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, mpTrue)
	}
	return append(b, mpFalse)
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

// mpReader reads msgpack values from a byte slice. Every error it returns
// wraps [ErrMalformed].
type mpReader struct {
	b     []byte
	off   int
	fixes []fixup       // rewrites the payload's copy needs, in order
	alloc *payloadAlloc // where payload copies come from, or nil
}

func (r *mpReader) rest() int { return len(r.b) - r.off }

func (r *mpReader) malformed(what string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformed, what, r.off)
}

func (r *mpReader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, r.malformed("truncated value")
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// be reads an n-byte big-endian unsigned integer, n in 1, 2, 4, 8.
func (r *mpReader) be(n int) (uint64, error) {
	if r.rest() < n {
		return 0, r.malformed("truncated value")
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	switch n {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	}
	return binary.BigEndian.Uint64(p), nil
}

// uint reads a non-negative integer no larger than max, in any msgpack
// integer encoding.
func (r *mpReader) uint(max uint64) (uint64, error) {
	c, err := r.byte()
	if err != nil {
		return 0, err
	}
	var v uint64
	switch {
	case c <= mpPosFixIntMax:
		v = uint64(c)
	case c >= mpUint8 && c <= mpUint64:
		v, err = r.be(1 << (c - mpUint8))
	case c >= mpInt8 && c <= mpInt64:
		n := 1 << (c - mpInt8)
		v, err = r.be(n)
		if err == nil && v>>(8*n-1) != 0 { // sign bit set
			return 0, r.malformed("negative integer")
		}
	default:
		return 0, r.malformed(fmt.Sprintf("code %#x where an integer belongs", c))
	}
	if err != nil {
		return 0, err
	}
	if v > max {
		return 0, r.malformed(fmt.Sprintf("integer %d over %d", v, max))
	}
	return v, nil
}

func (r *mpReader) bool() (bool, error) {
	c, err := r.byte()
	if err != nil {
		return false, err
	}
	switch c {
	case mpFalse:
		return false, nil
	case mpTrue:
		return true, nil
	}
	return false, r.malformed(fmt.Sprintf("code %#x where a bool belongs", c))
}

// arrayLen reads an array header.
func (r *mpReader) arrayLen() (int, error) {
	c, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch {
	case c&0xf0 == mpFixArray:
		return int(c & 0x0f), nil
	case c == mpArray16:
		n, err := r.be(2)
		return int(n), err
	case c == mpArray32:
		n, err := r.be(4)
		return int(n), err
	}
	return 0, r.malformed(fmt.Sprintf("code %#x where an array belongs", c))
}

// str reads a string; nil reads as "".
func (r *mpReader) str() (string, error) {
	c, err := r.byte()
	if err != nil {
		return "", err
	}
	var n uint64
	switch {
	case c == mpNil:
		return "", nil
	case c&0xe0 == mpFixStr:
		n = uint64(c & 0x1f)
	case c >= mpStr8 && c <= mpStr32:
		n, err = r.be(1 << (c - mpStr8))
	default:
		return "", r.malformed(fmt.Sprintf("code %#x where a string belongs", c))
	}
	if err != nil {
		return "", err
	}
	if n > uint64(r.rest()) {
		return "", r.malformed("truncated string")
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s, nil
}

// bin reads a byte string (bin 8, 16 or 32). The bytes returned alias the
// body.
func (r *mpReader) bin() ([]byte, error) {
	c, err := r.byte()
	if err != nil {
		return nil, err
	}
	if c < mpBin8 || c > mpBin32 {
		return nil, r.malformed(fmt.Sprintf("code %#x where bytes belong", c))
	}
	n, err := r.be(1 << (c - mpBin8))
	if err != nil {
		return nil, err
	}
	if n > uint64(r.rest()) {
		return nil, r.malformed("truncated bytes")
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b, nil
}

// isStr reports whether the next value is a string, without reading it.
func (r *mpReader) isStr() bool {
	if r.off >= len(r.b) {
		return false
	}
	c := r.b[r.off]
	return c&0xe0 == mpFixStr || c >= mpStr8 && c <= mpStr32
}

// payload reads the last element of a body: one msgpack value that must end
// exactly where the body does. A nil value reads as a nil payload.
func (r *mpReader) payload() (any, error) {
	start := r.off
	if err := r.skip(0); err != nil {
		return nil, err
	}
	if r.off != len(r.b) {
		return nil, r.malformed(fmt.Sprintf("%d bytes after the message", len(r.b)-r.off))
	}
	if r.b[start] == mpNil {
		return nil, nil
	}
	// The copy applies the rewrites that skip asked for.
	size := len(r.b) - start
	for _, f := range r.fixes {
		size += len(f.with) - (f.end - f.start)
	}
	p := r.alloc.payload(size)
	b, at := p.b[:0], start
	for _, f := range r.fixes {
		b = append(append(b, r.b[at:f.start]...), f.with...)
		at = f.end
	}
	p.b = append(b, r.b[at:]...)
	return p, nil
}

// A fixup replaces b[start:end] of a payload with the equivalent encoding
// with, when the payload is copied out.
type fixup struct {
	start, end int
	with       []byte
}

// ext steps over the rest of an extension value whose code is at b[start]
// and whose data is size bytes, after a type byte.
//
// Asked to decode an extension into a Go map, msgpack's decoder
// (DecodeMapLen) skips the extension's header and reads a map header from
// its data. If the data began with a map header or nil, that reading would
// run on past the extension, through bytes this walk read otherwise, and
// could meet lengths nobody checked. So an extension's data must not be
// empty nor begin with a map header or nil. One kind is exempt, because its
// first byte belongs to a number: timestamps (type -1) in their 4- and
// 8-byte forms, which the payload's copy carries in the equivalent 12-byte
// form instead, beginning with the top byte of the nanoseconds (at most
// 0x3b).
func (r *mpReader) ext(start int, size uint64) error {
	if size+1 > uint64(r.rest()) {
		return r.malformed("truncated extension value")
	}
	typ := int8(r.b[r.off])
	data := r.b[r.off+1 : r.off+1+int(size)]
	r.off += 1 + int(size)
	switch {
	case size == 0:
		return r.malformed("empty extension value")
	case !readsAsMap(data[0]):
		return nil
	case typ != -1 || (size != 4 && size != 8):
		return r.malformed(fmt.Sprintf("extension value of type %d that msgpack would misread", typ))
	}
	var sec uint64
	var nsec uint32
	if size == 4 {
		sec = uint64(binary.BigEndian.Uint32(data))
	} else {
		v := binary.BigEndian.Uint64(data)
		nsec, sec = uint32(v>>34), v&(1<<34-1)
	}
	with := binary.BigEndian.AppendUint32([]byte{mpExt8, 12, 0xff}, nsec)
	r.fixes = append(r.fixes, fixup{start, r.off, binary.BigEndian.AppendUint64(with, sec)})
	return nil
}

// readsAsMap reports whether msgpack reads c as the header of a map (or a
// nil one) when it expects a map.
func readsAsMap(c byte) bool {
	return c&0xf0 == mpFixMap || c == mpNil || c == mpMap16 || c == mpMap32
}

// skip steps over one value, checking it as it goes: every declared length
// must fit in the bytes that remain (each array element takes at least one
// byte, each map entry two), and arrays and maps may nest at most
// [maxNesting] deep. The work is linear in the bytes present, whatever the
// value declares.
func (r *mpReader) skip(depth int) error {
	start := r.off
	c, err := r.byte()
	if err != nil {
		return err
	}
	var n uint64 // bytes of data to step over, or elements to skip
	elems := 0   // 1 for arrays, 2 for maps (values per element)
	switch {
	case c <= mpPosFixIntMax || c >= mpNegFixIntMin:
		return nil
	case c&0xf0 == mpFixMap:
		n, elems = uint64(c&0x0f), 2
	case c&0xf0 == mpFixArray:
		n, elems = uint64(c&0x0f), 1
	case c&0xe0 == mpFixStr:
		n = uint64(c & 0x1f)
	case c == mpNil, c == mpFalse, c == mpTrue:
		return nil
	case c == mpBin8, c == mpStr8:
		n, err = r.be(1)
	case c == mpBin16, c == mpStr16:
		n, err = r.be(2)
	case c == mpBin32, c == mpStr32:
		n, err = r.be(4)
	case c >= mpExt8 && c <= mpExt32:
		if n, err = r.be(1 << (c - mpExt8)); err != nil {
			return err
		}
		return r.ext(start, n)
	case c == mpFloat32:
		n = 4
	case c == mpFloat64:
		n = 8
	case c >= mpUint8 && c <= mpUint64:
		n = 1 << (c - mpUint8)
	case c >= mpInt8 && c <= mpInt64:
		n = 1 << (c - mpInt8)
	case c >= mpFixExt1 && c <= mpFixExt16:
		return r.ext(start, 1<<(c-mpFixExt1))
	case c == mpArray16:
		n, err = r.be(2)
		elems = 1
	case c == mpArray32:
		n, err = r.be(4)
		elems = 1
	case c == mpMap16:
		n, err = r.be(2)
		elems = 2
	case c == mpMap32:
		n, err = r.be(4)
		elems = 2
	default: // 0xc1 is never used
		return r.malformed(fmt.Sprintf("invalid code %#x", c))
	}
	if err != nil {
		return err
	}
	if elems == 0 {
		if n > uint64(r.rest()) {
			return r.malformed("truncated value")
		}
		r.off += int(n)
		return nil
	}
	if n*uint64(elems) > uint64(r.rest()) {
		return r.malformed(fmt.Sprintf("container of %d elements in %d bytes", n, r.rest()))
	}
	if depth >= maxNesting {
		return r.malformed(fmt.Sprintf("values nested over %d deep", maxNesting))
	}
	for i := uint64(0); i < n*uint64(elems); i++ {
		if err := r.skip(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// checkValue reports whether b is exactly one valid msgpack value, as
// [mpReader.skip] defines valid.
func checkValue(b []byte) error {
	r := mpReader{b: b}
	if err := r.skip(0); err != nil {
		return err
	}
	if r.off != len(b) {
		return r.malformed("trailing bytes")
	}
	return nil
}
