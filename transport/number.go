package transport

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// The number rule, one for every hosting: a payload that is a number
// decodes into a destination of any integer or float type (time.Duration
// and other named types included) that holds its value exactly, and
// otherwise fails with an error matching [ErrType] that names the value
// and the destination's type:
//
//   - an integer into an integer type if it is in range: 300 into a uint8,
//     or -1 into a uint, fails;
//   - a float into an integer type if it is integral and in range: 2.0
//     into an int is 2, 1.5 fails;
//   - an integer into a float type if the float represents it exactly:
//     1<<53 + 1 into a float64 fails;
//   - a float into a float32 if float32 holds it exactly (NaN and the
//     infinities included): 0.5 passes, 0.1 as a float64 fails.
//
// [Decode] applies it to a Go value of another numeric type, as the
// in-memory backend delivers it, and [Raw] payloads to the number they
// encode, so that an int sent to a *int64 decodes, and 300 sent to a
// *uint8 fails, on both. Inside a struct, slice or map that crosses a
// wire, msgpack decodes the builtin numeric types and the named ones (such
// as time.Duration) by the same rule, rather than wrapping 300 to 44 in a
// uint8 as it would: this package registers decoders for them, the named
// ones when it first decodes into a type made of them ([strictNumbers]),
// and decodes structs with a struct tag of its own ([structTag]), so that
// the field decoders msgpack caches per struct type and tag are built
// after that registration whatever the program decoded before (msgpack
// has one registry per process, so the decoders apply to all of a
// program's msgpack decoding too). A named numeric type that msgpack
// encodes otherwise than as a number, because the program registered its
// own encoder and decoder for it with msgpack.Register, keeps them: the
// rule does not apply to it. In-process, a composite value is
// assigned whole, of its own type, or not at all.

// number is a numeric payload, whatever its Go type or its encoding.
type number struct {
	kind reflect.Kind // reflect.Int64, reflect.Uint64 or reflect.Float64
	i    int64
	u    uint64
	f    float64
}

func (n number) String() string {
	switch n.kind {
	case reflect.Int64:
		return strconv.FormatInt(n.i, 10)
	case reflect.Uint64:
		return strconv.FormatUint(n.u, 10)
	}
	return strconv.FormatFloat(n.f, 'g', -1, 64)
}

// numberOf returns v as a number if it is one.
func numberOf(v reflect.Value) (number, bool) {
	switch {
	case v.CanInt():
		return number{kind: reflect.Int64, i: v.Int()}, true
	case v.CanUint():
		return number{kind: reflect.Uint64, u: v.Uint()}, true
	case v.CanFloat():
		return number{kind: reflect.Float64, f: v.Float()}, true
	}
	return number{}, false
}

// isNumeric reports whether t is an integer or float type.
func isNumeric(t reflect.Type) bool {
	k := t.Kind()
	return k >= reflect.Int && k <= reflect.Float64
}

// readNumber reads b if it is exactly one msgpack integer or float.
func readNumber(b []byte) (number, bool) {
	if v, neg, rest, ok := readInt(b); ok {
		if len(rest) != 0 {
			return number{}, false
		}
		if neg || v >= 0 {
			return number{kind: reflect.Int64, i: v}, true
		}
		return number{kind: reflect.Uint64, u: uint64(v)}, true
	}
	switch {
	case len(b) == 5 && b[0] == mpFloat32:
		return number{kind: reflect.Float64, f: float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:])))}, true
	case len(b) == 9 && b[0] == mpFloat64:
		return number{kind: reflect.Float64, f: math.Float64frombits(binary.BigEndian.Uint64(b[1:]))}, true
	}
	return number{}, false
}

// store sets dst, a settable value of a numeric type, to n by the number
// rule, or returns an error wrapping [ErrType] that names both.
func (n number) store(dst reflect.Value) error {
	if err := n.set(dst); err != nil {
		return fmt.Errorf("%w: %w", ErrType, err)
	}
	return nil
}

// set is store, with an error that does not wrap ErrType, for msgpack's
// decoder to return to the Decode that does.
func (n number) set(dst reflect.Value) error {
	switch {
	case dst.CanInt():
		if i, ok := n.toInt(); ok && !dst.OverflowInt(i) {
			dst.SetInt(i)
			return nil
		}
	case dst.CanUint():
		if u, ok := n.toUint(); ok && !dst.OverflowUint(u) {
			dst.SetUint(u)
			return nil
		}
	case dst.CanFloat():
		if f, ok := n.toFloat(dst.Kind() == reflect.Float32); ok {
			dst.SetFloat(f)
			return nil
		}
	default:
		return fmt.Errorf("want %s, got the number %s", dst.Type(), n)
	}
	return fmt.Errorf("%s does not fit in %s", n, dst.Type())
}

// twoTo63 is 2^63, the first float past the int64 range (and half way
// through the uint64 one).
const twoTo63 = float64(1 << 63)

func (n number) toInt() (int64, bool) {
	switch n.kind {
	case reflect.Int64:
		return n.i, true
	case reflect.Uint64:
		return int64(n.u), n.u <= math.MaxInt64
	}
	if n.f != math.Trunc(n.f) || n.f < -twoTo63 || n.f >= twoTo63 { // NaN fails the first
		return 0, false
	}
	return int64(n.f), true
}

func (n number) toUint() (uint64, bool) {
	switch n.kind {
	case reflect.Int64:
		return uint64(n.i), n.i >= 0
	case reflect.Uint64:
		return n.u, true
	}
	if n.f != math.Trunc(n.f) || n.f < 0 || n.f >= 2*twoTo63 {
		return 0, false
	}
	return uint64(n.f), true
}

// toFloat returns n as a float64 or, with f32, as a float32 widened, if
// that float holds it exactly.
func (n number) toFloat(f32 bool) (float64, bool) {
	var f float64
	switch n.kind {
	case reflect.Int64:
		f = float64(n.i)
		if f32 {
			f = float64(float32(n.i))
		}
		return f, f >= -twoTo63 && f < twoTo63 && int64(f) == n.i
	case reflect.Uint64:
		f = float64(n.u)
		if f32 {
			f = float64(float32(n.u))
		}
		return f, f < 2*twoTo63 && uint64(f) == n.u
	}
	if !f32 || math.IsNaN(n.f) {
		return n.f, true
	}
	f = float64(float32(n.f))
	return f, f == n.f
}

func init() {
	for _, v := range []any{
		int(0), int8(0), int16(0), int32(0), int64(0),
		uint(0), uint8(0), uint16(0), uint32(0), uint64(0),
		float32(0), float64(0),
	} {
		msgpack.Register(v, nil, decodeNumber)
	}
}

// numberWalks holds the types [strictNumbers] has walked.
var numberWalks sync.Map // reflect.Type -> struct{}

// strictNumbers has msgpack decode the numeric types that t is made of by
// the number rule: it registers [decodeNumber] for each named numeric type
// met in t (the builtin ones are registered at init), and [decodePointer]
// for each pointer to one, replacing a decoder that msgpack may have built
// for it already. It runs, once per type, before this package has msgpack
// decode into t, so the rule holds whatever a program declared or decoded
// before. A type that decodes itself is left to its own decoder, and so is
// a numeric type that msgpack encodes otherwise than as a number
// ([encodesAsNumber]).
func strictNumbers(t reflect.Type) {
	if _, done := numberWalks.Load(t); done {
		return
	}
	registerNumbers(t, make(map[reflect.Type]bool))
	numberWalks.Store(t, struct{}{}) // after registering: a concurrent decode walks too
}

// registerNumbers is strictNumbers' walk; it reports whether t is a
// numeric type, or a pointer to one, that decodes by the number rule.
// seen holds the answer for each type walked, false while it is being
// walked, so a recursive type ends where it repeats.
func registerNumbers(t reflect.Type, seen map[reflect.Type]bool) (strict bool) {
	if strict, ok := seen[t]; ok {
		return strict
	}
	seen[t] = false
	defer func() { seen[t] = strict }()
	if marshalsItself(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if !encodesAsNumber(t) { // the program's own encoding: keep its decoder
			return false
		}
		msgpack.Register(reflect.Zero(t).Interface(), nil, decodeNumber)
		return true
	case reflect.Pointer:
		if registerNumbers(t.Elem(), seen) {
			msgpack.Register(reflect.Zero(t).Interface(), nil, decodePointer)
			return true
		}
	case reflect.Array, reflect.Slice:
		registerNumbers(t.Elem(), seen)
	case reflect.Map:
		registerNumbers(t.Key(), seen)
		registerNumbers(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			registerNumbers(t.Field(i).Type, seen)
		}
	}
	return false
}

// encodesAsNumber reports whether msgpack encodes the zero value of t, a
// numeric type, as a number: not if the program registered an encoder of
// its own for t with msgpack.Register (a named int written as a string,
// say), whose decoder the number rule must then leave in place.
func encodesAsNumber(t reflect.Type) bool {
	b, err := msgpackZero(t)
	if err != nil || len(b) == 0 {
		return false
	}
	c := b[0]
	return c <= mpPosFixIntMax || c >= mpNegFixIntMin || c >= mpFloat32 && c <= mpInt64
}

// decodePointer is msgpack's decoder for pointers to numeric types: nil
// for a nil, else the number, by the decoder registered for its type now,
// where msgpack's own pointer decoder keeps the one it found when it was
// built.
func decodePointer(d *msgpack.Decoder, v reflect.Value) error {
	c, err := d.PeekCode()
	if err != nil {
		return err
	}
	if c == mpNil {
		v.SetZero()
		return d.DecodeNil()
	}
	if v.IsNil() {
		v.Set(reflect.New(v.Type().Elem()))
	}
	return d.DecodeValue(v.Elem())
}

// decodeNumber is msgpack's decoder for numeric types: it reads any
// msgpack number and stores it by the number rule. A nil stores zero, as
// msgpack's own decoders do.
func decodeNumber(d *msgpack.Decoder, v reflect.Value) error {
	c, err := d.PeekCode()
	if err != nil {
		return err
	}
	var n number
	switch {
	case c == mpNil:
		v.SetZero()
		return d.DecodeNil()
	case c == mpFloat32 || c == mpFloat64:
		n.kind = reflect.Float64
		n.f, err = d.DecodeFloat64()
	case c >= mpUint8 && c <= mpUint64:
		n.kind = reflect.Uint64
		n.u, err = d.DecodeUint64()
	case c <= mpPosFixIntMax || c >= mpNegFixIntMin || c >= mpInt8 && c <= mpInt64:
		n.kind = reflect.Int64
		n.i, err = d.DecodeInt64()
	default:
		return fmt.Errorf("want %s, got %s", v.Type(), encodedKind([]byte{c}))
	}
	if err != nil {
		return err
	}
	return n.set(v)
}
