package transport

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"math"
	"reflect"
	"sync"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// The type codecs encode and decode the commonest payload types without
// msgpack's reflection per value: booleans, integers, floats and strings,
// arrays and slices of them, and structs of such fields (nested a few
// levels). A codec is built once per type, from the type alone, and kept in
// [typeCodecs]; every other type goes through msgpack, as before.
//
// A type codec writes exactly the bytes the codec's msgpack encoder (with
// compact integers) writes for the same value, and reads exactly what
// msgpack would read into the same destination, so both sides of a
// connection, the validator and any peer see no difference; where a
// decoder meets anything it was not built for (a nil, an integer where a
// float belongs, an unknown struct field, a value out of range) it gives up
// and msgpack decodes the payload from the start. A type qualifies only if
// msgpack would encode it by its kind alone: neither it nor a pointer to it
// implements one of msgpack's or encoding's marshaling interfaces, its
// struct fields carry no tag options and no embedding, and no element is a
// byte (msgpack writes byte arrays and slices as binary strings). A type
// the program registered its own encoder for with msgpack.Register, and a
// type holding one, has no codec either, so that it travels one way only,
// its own: each type a codec is built for is checked to encode its zero
// value as msgpack does ([msgpackZero]).

// maxCodecDepth bounds how deeply type codecs nest (an array of structs of
// slices is three deep): deeper types, recursive ones among them, take
// msgpack's path.
const maxCodecDepth = 6

// typeCodec encodes and decodes one type, addressed by a pointer to a value
// of it.
type typeCodec struct {
	// enc appends the msgpack encoding of the value at p to b.
	enc func(b []byte, p unsafe.Pointer) []byte
	// dec decodes the start of b into the value at p and returns the bytes
	// after it, or false if b does not hold what this codec reads; the
	// value at p may then be partly written, with what msgpack would write
	// there too.
	dec func(b []byte, p unsafe.Pointer) ([]byte, bool)
}

// typeCodecs maps a reflect.Type to its *typeCodec, or to a nil one for a
// type that msgpack handles.
var typeCodecs sync.Map

// codecFor returns the codec of t, or nil if t has none.
func codecFor(t reflect.Type) *typeCodec {
	if c, ok := typeCodecs.Load(t); ok {
		return c.(*typeCodec)
	}
	c := buildCodec(t, 0)
	typeCodecs.Store(t, c)
	return c
}

// ifaceData returns the pointer to the value an interface holds. It is
// valid only for types that an interface holds indirectly, which every
// type with a codec is: none is a pointer, nor a struct or array of one
// pointer.
func ifaceData(v any) unsafe.Pointer {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1]
}

// marshalers are the interfaces by which a type chooses its own msgpack
// encoding or decoding.
var marshalers = []reflect.Type{
	reflect.TypeFor[msgpack.CustomEncoder](),
	reflect.TypeFor[msgpack.CustomDecoder](),
	reflect.TypeFor[msgpack.Marshaler](),
	reflect.TypeFor[msgpack.Unmarshaler](),
	reflect.TypeFor[encoding.BinaryMarshaler](),
	reflect.TypeFor[encoding.BinaryUnmarshaler](),
	reflect.TypeFor[encoding.TextMarshaler](),
	reflect.TypeFor[encoding.TextUnmarshaler](),
}

func marshalsItself(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	for _, m := range marshalers {
		if t.Implements(m) || pt.Implements(m) {
			return true
		}
	}
	return false
}

// msgpackZero returns msgpack's encoding of the zero value of t, by the
// encoder registered for t now, with the codec's settings.
func msgpackZero(t reflect.Type) ([]byte, error) {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.enc.EncodeValue(reflect.New(t).Elem()); err != nil {
		return nil, err
	}
	return bytes.Clone(e.buf), nil
}

// buildCodec returns a codec for t, or nil if t is not a type the codecs
// handle (see the comment at the top of this file). A codec that does not
// write the zero value of t as msgpack does (because the program
// registered an encoder of its own for t) is dropped.
func buildCodec(t reflect.Type, depth int) *typeCodec {
	if depth > maxCodecDepth || marshalsItself(t) {
		return nil
	}
	c := kindCodec(t, depth)
	if c == nil {
		return nil
	}
	if want, err := msgpackZero(t); err != nil || !bytes.Equal(c.enc(nil, reflect.New(t).UnsafePointer()), want) {
		return nil
	}
	return c
}

// kindCodec returns the codec of t by its kind, or nil.
func kindCodec(t reflect.Type, depth int) *typeCodec {
	switch t.Kind() {
	case reflect.Bool:
		return &typeCodec{
			enc: func(b []byte, p unsafe.Pointer) []byte { return appendBool(b, *(*bool)(p)) },
			dec: decBool,
		}
	case reflect.Int:
		return &typeCodec{enc: encSigned[int], dec: decSigned[int]}
	case reflect.Int8:
		return &typeCodec{enc: encSigned[int8], dec: decSigned[int8]}
	case reflect.Int16:
		return &typeCodec{enc: encSigned[int16], dec: decSigned[int16]}
	case reflect.Int32:
		return &typeCodec{enc: encSigned[int32], dec: decSigned[int32]}
	case reflect.Int64:
		return &typeCodec{enc: encSigned[int64], dec: decSigned[int64]}
	case reflect.Uint:
		return &typeCodec{enc: encUnsigned[uint], dec: decUnsigned[uint]}
	case reflect.Uint8:
		return &typeCodec{enc: encUnsigned[uint8], dec: decUnsigned[uint8]}
	case reflect.Uint16:
		return &typeCodec{enc: encUnsigned[uint16], dec: decUnsigned[uint16]}
	case reflect.Uint32:
		return &typeCodec{enc: encUnsigned[uint32], dec: decUnsigned[uint32]}
	case reflect.Uint64:
		return &typeCodec{enc: encUnsigned[uint64], dec: decUnsigned[uint64]}
	case reflect.Float32:
		return &typeCodec{
			enc: func(b []byte, p unsafe.Pointer) []byte {
				return binary.BigEndian.AppendUint32(append(b, mpFloat32), math.Float32bits(*(*float32)(p)))
			},
			dec: decFloat32,
		}
	case reflect.Float64:
		return &typeCodec{
			enc: func(b []byte, p unsafe.Pointer) []byte {
				return binary.BigEndian.AppendUint64(append(b, mpFloat64), math.Float64bits(*(*float64)(p)))
			},
			dec: decFloat64,
		}
	case reflect.String:
		return &typeCodec{
			enc: func(b []byte, p unsafe.Pointer) []byte { return appendStr(b, *(*string)(p)) },
			dec: decString,
		}
	case reflect.Array:
		return arrayCodec(t, depth)
	case reflect.Slice:
		return sliceCodec(t, depth)
	case reflect.Struct:
		return structCodec(t, depth)
	}
	return nil
}

// elemCodec returns the codec of the elements of t, an array or slice
// type, or nil: msgpack writes bytes as a binary string, not an array.
func elemCodec(t reflect.Type, depth int) *typeCodec {
	if t.Elem().Kind() == reflect.Uint8 {
		return nil
	}
	return buildCodec(t.Elem(), depth+1)
}

func arrayCodec(t reflect.Type, depth int) *typeCodec {
	ec := elemCodec(t, depth)
	if ec == nil {
		return nil
	}
	n, size := t.Len(), t.Elem().Size()
	return &typeCodec{
		enc: func(b []byte, p unsafe.Pointer) []byte {
			b = appendArrayLen(b, n)
			for i := range n {
				b = ec.enc(b, unsafe.Add(p, uintptr(i)*size))
			}
			return b
		},
		// msgpack leaves the elements past a shorter array alone and
		// refuses a longer one; only the exact length is read here.
		dec: func(b []byte, p unsafe.Pointer) ([]byte, bool) {
			m, b, ok := readArrayLen(b)
			if !ok || m != n {
				return nil, false
			}
			for i := range n {
				if b, ok = ec.dec(b, unsafe.Add(p, uintptr(i)*size)); !ok {
					return nil, false
				}
			}
			return b, true
		},
	}
}

func sliceCodec(t reflect.Type, depth int) *typeCodec {
	ec := elemCodec(t, depth)
	if ec == nil {
		return nil
	}
	size := t.Elem().Size()
	return &typeCodec{
		enc: func(b []byte, p unsafe.Pointer) []byte {
			v := reflect.NewAt(t, p).Elem()
			if v.IsNil() {
				return append(b, mpNil)
			}
			n := v.Len()
			b = appendArrayLen(b, n)
			data := v.UnsafePointer()
			for i := range n {
				b = ec.enc(b, unsafe.Add(data, uintptr(i)*size))
			}
			return b
		},
		// Like msgpack's: the destination's array is reused if it has
		// room for the elements, else the elements up to its capacity are
		// carried over into a new one (a struct element keeps the fields
		// the map leaves out); nil is left to msgpack, which reads it
		// differently for strings and other elements.
		dec: func(b []byte, p unsafe.Pointer) ([]byte, bool) {
			n, b, ok := readArrayLen(b)
			if !ok || n > len(b) { // each element takes a byte at least
				return nil, false
			}
			v := reflect.NewAt(t, p).Elem()
			switch {
			case n == 0 && v.IsNil():
				v.Set(reflect.MakeSlice(t, 0, 0))
				return b, true
			case v.Cap() >= n:
				v.SetLen(n)
			default:
				grown := reflect.MakeSlice(t, n, n)
				reflect.Copy(grown, v.Slice(0, v.Cap()))
				v.Set(grown)
			}
			data := v.UnsafePointer()
			for i := range n {
				if b, ok = ec.dec(b, unsafe.Add(data, uintptr(i)*size)); !ok {
					return nil, false
				}
			}
			return b, true
		},
	}
}

// structField is one field of a struct codec: its msgpack name, its
// offset and its codec.
type structField struct {
	name   string
	offset uintptr
	codec  *typeCodec
}

// structCodec handles structs that msgpack encodes as a map of their
// exported fields by name, in declaration order: no embedded field, no
// struct options (a _msgpack field), and field tags that are at most a
// plain name or "-".
func structCodec(t reflect.Type, depth int) *typeCodec {
	var fields []structField
	seen := make(map[string]bool)
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous || f.Name == "_msgpack" {
			return nil
		}
		tag := f.Tag.Get("msgpack")
		if tag == "-" {
			continue
		}
		if !f.IsExported() {
			continue
		}
		if !plainTag(tag) {
			return nil
		}
		name := f.Name
		if tag != "" {
			name = tag
		}
		if seen[name] { // msgpack writes both; leave it to msgpack
			return nil
		}
		seen[name] = true
		c := buildCodec(f.Type, depth+1)
		if c == nil {
			return nil
		}
		fields = append(fields, structField{name, f.Offset, c})
	}
	return &typeCodec{
		enc: func(b []byte, p unsafe.Pointer) []byte {
			b = appendMapLen(b, len(fields))
			for i := range fields {
				f := &fields[i]
				b = appendStr(b, f.name)
				b = f.codec.enc(b, unsafe.Add(p, f.offset))
			}
			return b
		},
		// Fields absent from the map keep their value, as msgpack's do;
		// an unknown field is left to msgpack.
		dec: func(b []byte, p unsafe.Pointer) ([]byte, bool) {
			n, b, ok := readMapLen(b)
			if !ok {
				return nil, false
			}
			for i := range n {
				var key []byte
				if key, b, ok = readStr(b); !ok {
					return nil, false
				}
				f := findField(fields, i, key)
				if f == nil {
					return nil, false
				}
				if b, ok = f.codec.dec(b, unsafe.Add(p, f.offset)); !ok {
					return nil, false
				}
			}
			return b, true
		},
	}
}

// findField returns the field named key, looking first at the i-th, where
// a map the codecs wrote has it.
func findField(fields []structField, i int, key []byte) *structField {
	if i < len(fields) && fields[i].name == string(key) {
		return &fields[i]
	}
	for j := range fields {
		if fields[j].name == string(key) {
			return &fields[j]
		}
	}
	return nil
}

// plainTag reports whether a msgpack struct tag is empty or a name with no
// options, quoting or anything else msgpack's tag parser would interpret.
func plainTag(tag string) bool {
	for _, c := range tag {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// encSigned and encUnsigned write an integer of any width as msgpack
// with compact integers does: in its shortest encoding.
func encSigned[T int | int8 | int16 | int32 | int64](b []byte, p unsafe.Pointer) []byte {
	return appendInt(b, int64(*(*T)(p)))
}

func encUnsigned[T uint | uint8 | uint16 | uint32 | uint64](b []byte, p unsafe.Pointer) []byte {
	return appendUint(b, uint64(*(*T)(p)))
}

// decSigned and decUnsigned read an integer in any encoding that fits
// the destination; msgpack decides about one that does not.
func decSigned[T int | int8 | int16 | int32 | int64](b []byte, p unsafe.Pointer) ([]byte, bool) {
	v, neg, b, ok := readInt(b)
	if !ok || !neg && v < 0 || int64(T(v)) != v { // v < 0: a uint64 over MaxInt64
		return nil, false
	}
	*(*T)(p) = T(v)
	return b, true
}

func decUnsigned[T uint | uint8 | uint16 | uint32 | uint64](b []byte, p unsafe.Pointer) ([]byte, bool) {
	v, neg, b, ok := readInt(b)
	if !ok || neg || uint64(T(uint64(v))) != uint64(v) {
		return nil, false
	}
	*(*T)(p) = T(uint64(v))
	return b, true
}

func appendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, mpFixArray|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, mpArray16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, mpArray32), uint32(n))
}

func appendMapLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, mpFixMap|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, mpMap16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, mpMap32), uint32(n))
}

// The readers below take a value from the start of b and return the bytes
// after it, or false if b does not start with one.

// readInt reads any msgpack integer: v holds its bits, to be read as an
// int64 if neg and as a uint64 otherwise.
func readInt(b []byte) (v int64, neg bool, rest []byte, ok bool) {
	if len(b) == 0 {
		return 0, false, nil, false
	}
	c := b[0]
	switch {
	case c <= mpPosFixIntMax:
		return int64(c), false, b[1:], true
	case c >= mpNegFixIntMin:
		return int64(int8(c)), true, b[1:], true
	case c >= mpUint8 && c <= mpUint64:
		u, rest, ok := readBE(b[1:], 1<<(c-mpUint8))
		return int64(u), false, rest, ok
	case c >= mpInt8 && c <= mpInt64:
		n := 1 << (c - mpInt8)
		u, rest, ok := readBE(b[1:], n)
		shift := 64 - 8*uint(n)
		v := int64(u<<shift) >> shift
		return v, v < 0, rest, ok
	}
	return 0, false, nil, false
}

// readBE reads an n-byte big-endian unsigned integer, n in 1, 2, 4, 8.
func readBE(b []byte, n int) (uint64, []byte, bool) {
	if len(b) < n {
		return 0, nil, false
	}
	switch n {
	case 1:
		return uint64(b[0]), b[1:], true
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), b[2:], true
	case 4:
		return uint64(binary.BigEndian.Uint32(b)), b[4:], true
	}
	return binary.BigEndian.Uint64(b), b[8:], true
}

// readLen reads the length after a header code of the 16- or 32-bit form.
func readLen(b []byte, c, c16, c32 byte) (int, []byte, bool) {
	var n uint64
	var ok bool
	switch c {
	case c16:
		n, b, ok = readBE(b, 2)
	case c32:
		n, b, ok = readBE(b, 4)
	}
	return int(n), b, ok && n <= math.MaxInt32
}

func readArrayLen(b []byte) (int, []byte, bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	if c := b[0]; c&0xf0 == mpFixArray {
		return int(c & 0x0f), b[1:], true
	}
	return readLen(b[1:], b[0], mpArray16, mpArray32)
}

func readMapLen(b []byte) (int, []byte, bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	if c := b[0]; c&0xf0 == mpFixMap {
		return int(c & 0x0f), b[1:], true
	}
	return readLen(b[1:], b[0], mpMap16, mpMap32)
}

// readStr reads a string; the bytes returned alias b.
func readStr(b []byte) ([]byte, []byte, bool) {
	if len(b) == 0 {
		return nil, nil, false
	}
	c, rest := b[0], b[1:]
	var n uint64
	ok := true
	switch {
	case c&0xe0 == mpFixStr:
		n = uint64(c & 0x1f)
	case c >= mpStr8 && c <= mpStr32:
		n, rest, ok = readBE(rest, 1<<(c-mpStr8))
	default:
		return nil, nil, false
	}
	if !ok || n > uint64(len(rest)) {
		return nil, nil, false
	}
	return rest[:n], rest[n:], true
}

func decString(b []byte, p unsafe.Pointer) ([]byte, bool) {
	s, b, ok := readStr(b)
	if ok {
		*(*string)(p) = string(s)
	}
	return b, ok
}

func decBool(b []byte, p unsafe.Pointer) ([]byte, bool) {
	if len(b) == 0 || b[0] != mpFalse && b[0] != mpTrue {
		return nil, false
	}
	*(*bool)(p) = b[0] == mpTrue
	return b[1:], true
}

func decFloat32(b []byte, p unsafe.Pointer) ([]byte, bool) {
	if len(b) < 5 || b[0] != mpFloat32 {
		return nil, false
	}
	*(*float32)(p) = math.Float32frombits(binary.BigEndian.Uint32(b[1:]))
	return b[5:], true
}

func decFloat64(b []byte, p unsafe.Pointer) ([]byte, bool) {
	if len(b) < 9 || b[0] != mpFloat64 {
		return nil, false
	}
	*(*float64)(p) = math.Float64frombits(binary.BigEndian.Uint64(b[1:]))
	return b[9:], true
}
