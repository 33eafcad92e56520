package transport

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The msgpack format as this package writes and reads it by hand, for the
// envelope, the handshake and the commonest payloads: the format codes,
// appenders that write a value in its shortest form, and mpReader, which
// reads one value at a time and refuses anything malformed.

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
