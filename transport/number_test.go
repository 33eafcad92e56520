package transport_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"

	"github.com/tractor-go/tractor/transport"
)

// numberPaths decodes v into a new value of dst's type on both hostings'
// paths: as the Go value the in-memory backend delivers, and as the Raw
// payload a wire delivers.
func numberPaths(t interface{ Fatalf(string, ...any) }, v any, dst reflect.Type) (goVal, wireVal reflect.Value, goErr, wireErr error) {
	b, err := transport.EncodePayload(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	g, w := reflect.New(dst), reflect.New(dst)
	goErr = transport.Decode(v, g.Interface())
	wireErr = transport.Decode(transport.RawPayload(b), w.Interface())
	return g.Elem(), w.Elem(), goErr, wireErr
}

// sameNumber reports whether a and b hold the same value, NaN equal to
// NaN.
func sameNumber(a, b reflect.Value) bool {
	if a.CanFloat() && b.CanFloat() && math.IsNaN(a.Float()) && math.IsNaN(b.Float()) {
		return true
	}
	return a.Interface() == b.Interface()
}

// TestNumberRule: a number decodes into any numeric type that holds it
// exactly, and fails with ErrType naming the value and the type
// otherwise, the same as a Go value (in-process) and as a Raw payload
// (over a wire).
func TestNumberRule(t *testing.T) {
	cases := []struct {
		src  any
		dst  any // a value of the destination type: the result, or nil to fail
		into reflect.Type
	}{
		{int(5), int64(5), nil},
		{int(5), int32(5), nil},
		{int(5), uint8(5), nil},
		{int(5), float64(5), nil},
		{int(5), float32(5), nil},
		{int(5), 5 * time.Nanosecond, nil},
		{time.Duration(3), int64(3), nil},
		{int64(math.MinInt64), int64(math.MinInt64), nil},
		{int64(math.MinInt64), float64(-1 << 63), nil},
		{uint64(math.MaxUint64), uint64(math.MaxUint64), nil},
		{float64(2), int(2), nil},
		{float64(-7), int8(-7), nil},
		{float32(0.5), float64(0.5), nil},
		{float32(0.1), float64(float32(0.1)), nil},
		{math.NaN(), float32(math.NaN()), nil},
		{math.Inf(-1), float32(math.Inf(-1)), nil},
		{int(300), nil, reflect.TypeFor[uint8]()},
		{int(-1), nil, reflect.TypeFor[uint]()},
		{int8(-3), nil, reflect.TypeFor[uint16]()},
		{int(1 << 40), nil, reflect.TypeFor[int32]()},
		{uint64(math.MaxUint64), nil, reflect.TypeFor[int64]()},
		{float64(1.5), nil, reflect.TypeFor[int]()},
		{float64(1e20), nil, reflect.TypeFor[int64]()},
		{float64(-1), nil, reflect.TypeFor[uint32]()},
		{math.Inf(1), nil, reflect.TypeFor[int64]()},
		{math.NaN(), nil, reflect.TypeFor[int]()},
		{int(1<<53 + 1), nil, reflect.TypeFor[float64]()},
		{int(1<<24 + 1), nil, reflect.TypeFor[float32]()},
		{float64(0.1), nil, reflect.TypeFor[float32]()},
		{int(-300), nil, reflect.TypeFor[uint8]()},
		// The edges of the integer ranges, as floats and into floats.
		{float64(-1 << 63), int64(math.MinInt64), nil},
		{float64(1 << 63), nil, reflect.TypeFor[int64]()},
		{float64(3), uint(3), nil},
		{float64(1 << 63), uint64(1 << 63), nil},
		{float64(1 << 64), nil, reflect.TypeFor[uint64]()},
		{int64(math.MaxInt64), nil, reflect.TypeFor[float64]()},
		{uint64(math.MaxUint64), nil, reflect.TypeFor[float64]()},
		{uint64(1 << 63), float64(1 << 63), nil},
		{uint64(1<<53 + 1), nil, reflect.TypeFor[float64]()},
	}
	for _, tc := range cases {
		into := tc.into
		if tc.dst != nil {
			into = reflect.TypeOf(tc.dst)
		}
		t.Run(fmt.Sprintf("%T(%v)>%s", tc.src, tc.src, into), func(t *testing.T) {
			gv, wv, gErr, wErr := numberPaths(t, tc.src, into)
			for _, path := range []struct {
				name string
				v    reflect.Value
				err  error
			}{{"in-process", gv, gErr}, {"wire", wv, wErr}} {
				if tc.dst != nil {
					if path.err != nil || !sameNumber(path.v, reflect.ValueOf(tc.dst)) {
						t.Errorf("%s: got %v, %v; want %v", path.name, path.v, path.err, tc.dst)
					}
					continue
				}
				want := fmt.Sprintf("%v does not fit in %s", tc.src, into)
				if !errors.Is(path.err, transport.ErrType) || !strings.Contains(path.err.Error(), want) {
					t.Errorf("%s: got %v, %v; want an ErrType saying %q", path.name, path.v, path.err, want)
				}
			}
		})
	}
	// What is not a number is not one, on both paths.
	for _, tc := range []struct {
		src  any
		into reflect.Type
	}{{"5", reflect.TypeFor[int]()}, {5, reflect.TypeFor[string]()}, {true, reflect.TypeFor[uint8]()}} {
		_, _, gErr, wErr := numberPaths(t, tc.src, tc.into)
		if !errors.Is(gErr, transport.ErrType) || !errors.Is(wErr, transport.ErrType) {
			t.Errorf("%T into %s: in-process %v, wire %v; want ErrType on both", tc.src, tc.into, gErr, wErr)
		}
	}
}

// TestNumberRuleProperty: for any number and numeric destination type,
// both paths give the same outcome: the value, exactly, if the
// destination holds it, else an ErrType.
func TestNumberRuleProperty(t *testing.T) {
	t.Run("int64>int8", checkNumberRule[int64, int8])
	t.Run("int64>uint16", checkNumberRule[int64, uint16])
	t.Run("uint64>int64", checkNumberRule[uint64, int64])
	t.Run("int>float64", checkNumberRule[int, float64])
	t.Run("int64>float32", checkNumberRule[int64, float32])
	t.Run("float32>float64", checkNumberRule[float32, float64])
	t.Run("float64>float32", checkNumberRule[float64, float32])
	t.Run("float64>int32", checkNumberRule[float64, int32])
	t.Run("float64>uint64", checkNumberRule[float64, uint64])
}

func checkNumberRule[S, D any](t *testing.T) {
	into := reflect.TypeFor[D]()
	rapid.Check(t, func(t *rapid.T) {
		src := rapid.Make[S]().Draw(t, "src")
		gv, wv, gErr, wErr := numberPaths(t, src, into)
		if (gErr == nil) != (wErr == nil) || gErr == nil && !sameNumber(gv, wv) {
			t.Fatalf("%v into %s: in-process %v, %v; wire %v, %v", src, into, gv, gErr, wv, wErr)
		}
		s := reflect.ValueOf(src)
		exact := false
		if sf, ok := bigOf(s); ok {
			d := reflect.New(into).Elem()
			if gErr == nil {
				d = gv
			}
			df, _ := bigOf(d)
			exact = gErr == nil && df.Cmp(sf) == 0
		} else { // NaN
			exact = gErr == nil && into.Kind() >= reflect.Float32 && math.IsNaN(gv.Float())
		}
		if gErr == nil && !exact {
			t.Fatalf("%v into %s gave %v, not the same number", src, into, gv)
		}
		if gErr != nil {
			if !errors.Is(gErr, transport.ErrType) {
				t.Fatalf("%v into %s: %v, want ErrType", src, into, gErr)
			}
			// It failed: no value of the type is that number.
			if sf, ok := bigOf(s); ok && fits(sf, into) {
				t.Fatalf("%v into %s failed (%v), but the type holds it", src, into, gErr)
			}
		}
	})
}

// bigOf returns v as an exact big.Float, or false for NaN.
func bigOf(v reflect.Value) (*big.Float, bool) {
	switch {
	case v.CanInt():
		return new(big.Float).SetInt64(v.Int()), true
	case v.CanUint():
		return new(big.Float).SetUint64(v.Uint()), true
	}
	if math.IsNaN(v.Float()) {
		return nil, false
	}
	return big.NewFloat(v.Float()), true
}

// fits reports whether a value of type t equals f exactly.
func fits(f *big.Float, t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Float32:
		g, acc := f.Float32()
		return acc == big.Exact && !math.IsInf(float64(g), 0) || f.IsInf()
	case reflect.Float64:
		g, acc := f.Float64()
		return acc == big.Exact && !math.IsInf(g, 0) || f.IsInf()
	}
	if !f.IsInt() {
		return false
	}
	i, _ := f.Int(nil)
	v := reflect.New(t).Elem()
	if v.CanInt() {
		return i.IsInt64() && !v.OverflowInt(i.Int64())
	}
	return i.IsUint64() && !v.OverflowUint(i.Uint64())
}

type (
	nsLevel uint8
	nsSrc   struct {
		A int
		B []int
		M map[string]float64
		L int
	}
	nsDst struct {
		A uint8
		B []int8
		M map[string]int16
		L nsLevel
	}
)

// TestNumberRuleNested: numbers inside a value that crosses a wire decode
// by the number rule too, builtin and named types, where msgpack would
// wrap them.
func TestNumberRuleNested(t *testing.T) {
	if err := transport.CheckType(reflect.TypeFor[nsDst]()); err != nil {
		t.Fatal(err)
	}
	ok := nsSrc{A: 255, B: []int{-128, 127}, M: map[string]float64{"x": -2, "y": 300}, L: 7}
	got := overWire[nsDst](t, ok)
	if want := (nsDst{A: 255, B: []int8{-128, 127}, M: map[string]int16{"x": -2, "y": 300}, L: 7}); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		src  nsSrc
		want string
	}{
		{nsSrc{A: 300}, "300 does not fit in uint8"},
		{nsSrc{B: []int{1, -129}}, "-129 does not fit in int8"},
		{nsSrc{M: map[string]float64{"x": 0.5}}, "0.5 does not fit in int16"},
		{nsSrc{L: 256}, "256 does not fit in transport_test.nsLevel"},
	} {
		b, err := transport.EncodePayload(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		var dst nsDst
		err = transport.Decode(transport.RawPayload(b), &dst)
		if !errors.Is(err, transport.ErrType) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %+v, %v; want ErrType saying %q", tc.src, dst, err, tc.want)
		}
	}
}

type (
	// Each test below has numeric types of its own, that nothing decoded
	// or checked before it.
	orderU8  uint8
	orderDst struct {
		L orderU8
		P *orderU8
		Q **orderU8
		S []orderU16
		M map[orderU8y]int
	}
	orderU16 uint16
	orderU8y uint8
	msgU8    uint8
	msgDst   struct {
		L msgU8
		P *msgU8
	}
)

// TestNumberRuleWithoutDeclaration: a named numeric type decodes by the
// number rule the first time a wire's payload is decoded into a type made
// of it, with no declaration and no CheckType before, as a field, through
// pointers, as a slice element and as a map key; and still after
// CheckType.
func TestNumberRuleWithoutDeclaration(t *testing.T) {
	enc := func(v any) transport.Raw {
		b, err := transport.EncodePayload(v)
		if err != nil {
			t.Fatal(err)
		}
		return transport.RawPayload(b)
	}
	cases := []struct {
		src  any
		want string
	}{
		{map[string]any{"L": 300}, "300 does not fit in transport_test.orderU8"},
		{map[string]any{"P": 256}, "256 does not fit in transport_test.orderU8"},
		{map[string]any{"Q": -1}, "-1 does not fit in transport_test.orderU8"},
		{map[string]any{"S": []int{1, 70000}}, "70000 does not fit in transport_test.orderU16"},
		{map[string]any{"M": map[int]int{512: 1}}, "512 does not fit in transport_test.orderU8y"},
	}
	for _, when := range []string{"first", "after CheckType"} {
		for _, tc := range cases {
			var dst orderDst
			err := transport.Decode(enc(tc.src), &dst)
			if !errors.Is(err, transport.ErrType) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v: got %+v, %v; want ErrType saying %q", when, tc.src, dst, err, tc.want)
			}
		}
		if err := transport.CheckType(reflect.TypeFor[orderDst]()); err != nil {
			t.Fatal(err)
		}
	}
	var dst orderDst
	if err := transport.Decode(enc(map[string]any{"L": 255, "P": 7, "Q": 8}), &dst); err != nil || dst.L != 255 || *dst.P != 7 || **dst.Q != 8 {
		t.Errorf("got %+v, %v; want L 255, P 7, Q 8", dst, err)
	}
}

// TestNumberRuleAfterPlainMsgpack: what the program decoded with msgpack
// itself before, which builds and caches msgpack's decoders for a struct's
// fields and for pointers, does not stop this package's decoding from
// following the number rule.
func TestNumberRuleAfterPlainMsgpack(t *testing.T) {
	b, err := transport.EncodePayload(map[string]any{"L": 300, "P": 300})
	if err != nil {
		t.Fatal(err)
	}
	var plain msgDst
	if err := msgpack.Unmarshal(b, &plain); err != nil || plain.L != 44 {
		t.Fatalf("plain msgpack: got %+v, %v; want it to wrap 300 to 44", plain, err)
	}
	var dst msgDst
	err = transport.Decode(transport.RawPayload(b), &dst)
	if want := "300 does not fit in transport_test.msgU8"; !errors.Is(err, transport.ErrType) || !strings.Contains(err.Error(), want) {
		t.Errorf("got %+v, %v; want ErrType saying %q", dst, err, want)
	}
	b, err = transport.EncodePayload(map[string]any{"P": 300})
	if err != nil {
		t.Fatal(err)
	}
	if err := transport.Decode(transport.RawPayload(b), &dst); !errors.Is(err, transport.ErrType) {
		t.Errorf("pointer: got %+v, %v; want ErrType", dst, err)
	}
}

// regColor is a named numeric type that the program encodes as a string,
// with an encoder and a decoder of its own registered with msgpack.
type regColor int

var regColorNames = []string{"red", "green", "blue"}

func init() {
	msgpack.Register(regColor(0),
		func(e *msgpack.Encoder, v reflect.Value) error {
			return e.EncodeString(regColorNames[v.Int()])
		},
		func(d *msgpack.Decoder, v reflect.Value) error {
			s, err := d.DecodeString()
			if err != nil {
				return err
			}
			for i, name := range regColorNames {
				if s == name {
					v.SetInt(int64(i))
					return nil
				}
			}
			return fmt.Errorf("no color %q", s)
		})
}

type (
	regPaint struct {
		C regColor
		M map[string]int
	} // msgpack's path
	regSwatch struct {
		C regColor
		N int
	} // small enough for a type codec
	regOther struct {
		C regColor
		P *regColor
	}
)

// TestNumberRuleLeavesRegisteredTypes: a named numeric type the program
// registered with msgpack, encoded as a string, keeps its encoder and its
// decoder: this package decodes its own encoding of a struct holding it,
// whether msgpack or a type codec would carry the struct, and the
// program's own msgpack decoding of another struct holding it, directly
// and through a pointer, works as it did before this package decoded.
func TestNumberRuleLeavesRegisteredTypes(t *testing.T) {
	if got := overWire[regPaint](t, regPaint{C: 2, M: map[string]int{"a": 1}}); got.C != 2 || got.M["a"] != 1 {
		t.Errorf("regPaint: got %+v, want C 2", got)
	}
	if got := overWire[regSwatch](t, regSwatch{C: 1, N: 3}); got.C != 1 || got.N != 3 {
		t.Errorf("regSwatch: got %+v, want C 1, N 3", got)
	}
	if b, err := transport.EncodePayload(regSwatch{C: 1}); err != nil || !bytes.Contains(b, []byte("green")) {
		t.Errorf("regSwatch encodes as % x, %v; want its color by name", b, err)
	}
	blue := regColor(2)
	b, err := msgpack.Marshal(regOther{C: 1, P: &blue})
	if err != nil {
		t.Fatal(err)
	}
	var o regOther
	if err := msgpack.Unmarshal(b, &o); err != nil || o.C != 1 || o.P == nil || *o.P != 2 {
		t.Errorf("the program's own msgpack: got %+v, %v; want C 1, P 2", o, err)
	}
}
