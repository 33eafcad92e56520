package transport

import (
	"encoding/binary"
	"fmt"
)

// Checking a received payload before msgpack decodes it. msgpack v5.4.1
// sizes slices and maps from the lengths the input declares: an array32
// header claiming 2^28 elements makes it allocate 4 GiB for a []int from a
// 5-byte payload (and a map32 header 56-84 MB), before finding the input
// ends. So every payload is walked once by [mpReader.skip] when it
// arrives, which checks that each declared length fits in the bytes that
// remain, that nesting stays under [maxNesting], and that no extension
// value can make msgpack parse off the walked path (see [mpReader.ext]);
// only then is it handed to msgpack, whose allocations are then
// proportional to the bytes actually present (times the size of the
// destination's element types).

// maxNesting bounds how deeply arrays and maps may nest in a payload. It
// keeps the recursion of the validator and of msgpack's decoder (which would
// otherwise follow a 16 MiB run of array headers 16 million levels down and
// overflow the goroutine stack, a fatal error) far from the stack limit,
// while leaving room for any data a program really sends.
const maxNesting = 1000

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
