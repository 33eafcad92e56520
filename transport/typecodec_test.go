package transport_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"

	"github.com/tractor-go/tractor/transport"
)

// Payload types the type codecs handle.
type (
	pcCelsius float64
	pcInner   struct {
		X    int32
		Y    float64
		Tags []string
	}
	pcItem struct {
		ID     int64
		Name   string `msgpack:"name"`
		Skip   int    `msgpack:"-"`
		hidden int
		Ok     bool
		Vals   [3]uint16
		Ratio  float32
		In     pcInner
		Ins    []pcInner
		U8     uint8
		Big    uint64
		I8     int8
		N      []int
		Temps  []pcCelsius
	}
	pcPair struct{ A, B int64 }
)

// Payload types they leave to msgpack.
type (
	pcEmbeds struct {
		pcPair
		C int
	}
	pcOmit struct {
		A int `msgpack:"a,omitempty"`
	}
	pcAsArray struct {
		_msgpack struct{} `msgpack:",as_array"`
		A        int
	}
	pcIface struct{ A any }
	pcPtr   struct{ A *int }
	pcDup   struct {
		A, B int `msgpack:"x"`
	}
	pcTree struct {
		V    int
		Kids []pcTree
	}
	pcBytes   struct{ B []byte }
	pcMarshal [2]int
)

func (m pcMarshal) MarshalMsgpack() ([]byte, error) { return msgpack.Marshal(m[0] + m[1]) }

// refEncode is msgpack's encoding of v, with the codec's settings.
func refEncode(t interface {
	Helper()
	Fatalf(string, ...any)
}, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("msgpack: encode %T: %v", v, err)
	}
	return buf.Bytes()
}

// TestTypeCodecMatchesMsgpack: for random values of each type with a
// codec, the codec writes msgpack's bytes, reads them back without falling
// back to msgpack, and Decode gives what msgpack gives, into a fresh
// destination and into one holding an earlier value.
func TestTypeCodecMatchesMsgpack(t *testing.T) {
	t.Run("[4]int64", checkTypeCodec[[4]int64])
	t.Run("[2]pcCelsius", checkTypeCodec[[2]pcCelsius])
	t.Run("[2][3]int", checkTypeCodec[[2][3]int])
	t.Run("[]int", checkTypeCodec[[]int])
	t.Run("[]string", checkTypeCodec[[]string])
	t.Run("[]bool", checkTypeCodec[[]bool])
	t.Run("[]float32", checkTypeCodec[[]float32])
	t.Run("[3]string", checkTypeCodec[[3]string])
	t.Run("int16", checkTypeCodec[int16])
	t.Run("uint32", checkTypeCodec[uint32])
	t.Run("time.Duration", checkTypeCodec[time.Duration])
	t.Run("pcPair", checkTypeCodec[pcPair])
	t.Run("pcInner", checkTypeCodec[pcInner])
	t.Run("pcItem", checkTypeCodec[pcItem])
	t.Run("[]pcItem", checkTypeCodec[[]pcItem])
	t.Run("[2]pcInner", checkTypeCodec[[2]pcInner])
}

func checkTypeCodec[T any](t *testing.T) {
	if !transport.HasTypeCodec(reflect.TypeFor[T]()) {
		t.Fatalf("%v has no type codec", reflect.TypeFor[T]())
	}
	gen := rapid.Make[T]()
	rapid.Check(t, func(t *rapid.T) {
		v := gen.Draw(t, "v")
		want := refEncode(t, v)
		got, err := transport.EncodePayload(v)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("encoding of %#v\n got % x\nwant % x", v, got, want)
		}
		var fast T
		if !transport.TypeCodecDecode(got, &fast) {
			t.Fatalf("the codec does not read its own encoding % x", got)
		}
		if back := refEncode(t, fast); !bytes.Equal(back, want) {
			t.Fatalf("decode(encode(%#v)) = %#v", v, fast)
		}
		// Into a destination holding another value, as a receiver
		// reusing its variable has: Decode and msgpack agree.
		prior := refEncode(t, gen.Draw(t, "prior"))
		var viaDecode, viaMsgpack T
		if err := msgpack.Unmarshal(prior, &viaDecode); err != nil {
			t.Fatal(err)
		}
		if err := msgpack.Unmarshal(prior, &viaMsgpack); err != nil {
			t.Fatal(err)
		}
		if err := transport.Decode(transport.RawPayload(got), &viaDecode); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if err := msgpack.Unmarshal(got, &viaMsgpack); err != nil {
			t.Fatalf("msgpack: %v", err)
		}
		if a, b := refEncode(t, viaDecode), refEncode(t, viaMsgpack); !bytes.Equal(a, b) {
			t.Fatalf("over an earlier value Decode gives %#v, msgpack %#v", viaDecode, viaMsgpack)
		}
	})
}

// TestTypeCodecDecodesLikeMsgpack: payloads of one type decoded into
// another, where the codec must give up or agree with msgpack: integers out
// of a destination's range, arrays of another length, floats of another
// width, maps with missing and unknown fields, nils. (A payload that is
// itself a number follows the number rule instead: TestNumberRuleProperty.)
func TestTypeCodecDecodesLikeMsgpack(t *testing.T) {
	t.Run("[]int>[4]int64", checkCrossDecode[[]int, [4]int64])
	t.Run("[]int8>[]uint8", checkCrossDecode[[]int8, []uint16])
	t.Run("[4]int64>[]int32", checkCrossDecode[[4]int64, []int32])
	t.Run("[]*string>[]string", checkCrossDecode[[]*string, []string])
	t.Run("map>pcPair", checkCrossDecode[map[string]int64, pcPair])
	t.Run("map-int>pcInner", checkCrossDecode[map[string]int32, pcInner])
	t.Run("map-float>pcInner", checkCrossDecode[map[string]float64, pcInner])
	t.Run("pcItem>pcInner", checkCrossDecode[pcItem, pcInner])
	t.Run("[]pcPair>[]pcPair-partial", checkCrossDecode[[]map[string]int64, []pcPair])
}

func checkCrossDecode[S, D any](t *testing.T) {
	src, dst := rapid.Make[S](), rapid.Make[D]()
	rapid.Check(t, func(t *rapid.T) {
		b := refEncode(t, src.Draw(t, "src"))
		prior := refEncode(t, dst.Draw(t, "prior"))
		var viaDecode, viaMsgpack D
		if rapid.Bool().Draw(t, "over an earlier value") {
			if err := msgpack.Unmarshal(prior, &viaDecode); err != nil {
				t.Fatal(err)
			}
			if err := msgpack.Unmarshal(prior, &viaMsgpack); err != nil {
				t.Fatal(err)
			}
		}
		errDecode := transport.Decode(transport.RawPayload(b), &viaDecode)
		errMsgpack := msgpack.Unmarshal(b, &viaMsgpack)
		if (errDecode == nil) != (errMsgpack == nil) {
			t.Fatalf("Decode of % x: %v, msgpack: %v", b, errDecode, errMsgpack)
		}
		if errDecode != nil {
			if !errors.Is(errDecode, transport.ErrType) {
				t.Fatalf("Decode error %v is not ErrType", errDecode)
			}
			return
		}
		if a, b := refEncode(t, viaDecode), refEncode(t, viaMsgpack); !bytes.Equal(a, b) {
			t.Fatalf("Decode gives %#v, msgpack %#v", viaDecode, viaMsgpack)
		}
	})
}

// TestTypeCodecFallback: types msgpack encodes other than by their kind
// have no codec and keep msgpack's encoding, and Decode succeeds or fails
// on them as msgpack does: among them a type the program registered its
// own msgpack encoder for (regColor, a named int written as a string), and
// arrays, slices and structs of it, so such a type travels one way only,
// whatever its neighbours. (A time in UTC only: in another zone it carries
// its zone too, see TestTimeKeepsItsZone.)
func TestTypeCodecFallback(t *testing.T) {
	n := 7
	values := []any{
		[]byte("bytes"), [4]byte{1, 2, 3, 4}, map[string]int{"a": 1}, &n,
		time.Unix(1, 2).UTC(), pcEmbeds{pcPair{1, 2}, 3}, pcOmit{}, pcAsArray{A: 1},
		pcIface{A: "x"}, pcPtr{A: &n}, pcDup{1, 2},
		pcTree{1, []pcTree{{2, []pcTree{{3, []pcTree{{4, nil}}}}}}},
		pcBytes{[]byte{1}}, pcMarshal{1, 2}, [2][]byte{{1}, {2}}, []any{1, "a"},
		regColor(1), regSwatch{C: 2, N: 3}, []regColor{0, 2}, [2]regSwatch{{C: 1}},
	}
	for _, v := range values {
		typ := reflect.TypeOf(v)
		if transport.HasTypeCodec(typ) {
			t.Errorf("%v has a type codec; msgpack encodes it otherwise", typ)
			continue
		}
		got, err := transport.EncodePayload(v)
		if err != nil {
			t.Errorf("%v: %v", typ, err)
			continue
		}
		if want := refEncode(t, v); !bytes.Equal(got, want) {
			t.Errorf("%v: got % x, want % x", typ, got, want)
		}
		errDecode := transport.Decode(transport.RawPayload(got), reflect.New(typ).Interface())
		errMsgpack := msgpack.Unmarshal(got, reflect.New(typ).Interface())
		if (errDecode == nil) != (errMsgpack == nil) {
			t.Errorf("%v: Decode: %v, msgpack: %v", typ, errDecode, errMsgpack)
		}
	}
	// Values msgpack cannot encode still fail the Send alone.
	if _, err := transport.EncodePayload(complex(1, 2)); !errors.Is(err, transport.ErrEncode) {
		t.Errorf("complex128: got %v, want ErrEncode", err)
	}
}
