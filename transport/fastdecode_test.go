package transport_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tractor-go/tractor/transport"
)

// wireRaw returns v as a received payload: encoded by the codec, decoded
// from the frame body.
func wireRaw(t *testing.T, v any) any {
	t.Helper()
	body, err := transport.EncodeMsg(transport.Msg{Kind: transport.KindYield, CID: 1, Payload: v})
	if err != nil {
		t.Fatal(err)
	}
	m, err := transport.DecodeMsg(body)
	if err != nil {
		t.Fatal(err)
	}
	return m.Payload
}

// TestPayloadFastPaths: ints and strings decode without msgpack's
// reflection and agree with it on every encoding width, sign and bound.
func TestPayloadFastPaths(t *testing.T) {
	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	for _, want := range ints {
		var got int64
		if err := transport.Decode(wireRaw(t, want), &got); err != nil || got != want {
			t.Errorf("int64 %d: got %d, %v", want, got, err)
		}
		var gi int
		if err := transport.Decode(wireRaw(t, want), &gi); err != nil || int64(gi) != want {
			t.Errorf("int %d: got %d, %v", want, gi, err)
		}
		// The codec's own int encoding is what msgpack reads, too.
		var ga any
		if err := transport.Decode(wireRaw(t, int(want)), &ga); err != nil {
			t.Errorf("int %d into *any: %v", want, err)
		} else if n, ok := asInt64(ga); !ok || n != want {
			t.Errorf("int %d into *any: got %#v", want, ga)
		}
		if want >= math.MinInt32 && want <= math.MaxInt32 {
			var g32 int32
			if err := transport.Decode(wireRaw(t, int(want)), &g32); err != nil || int64(g32) != want {
				t.Errorf("int %d into *int32: got %d, %v", want, g32, err)
			}
		}
	}
	// A uint64 above MaxInt64 does not fit: the number rule (number.go)
	// refuses it, where msgpack would store -1.
	var big int64
	if err := transport.Decode(wireRaw(t, uint64(math.MaxUint64)), &big); !errors.Is(err, transport.ErrType) {
		t.Errorf("uint64 max into int64: got %d, %v; want ErrType", big, err)
	}
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
		want := strings.Repeat("é", n/2) + strings.Repeat("x", n%2)
		var got string
		if err := transport.Decode(wireRaw(t, want), &got); err != nil || got != want {
			t.Errorf("string of %d bytes: got %d bytes, %v", len(want), len(got), err)
		}
	}
	// Wrong types still fail with ErrType.
	var s string
	if err := transport.Decode(wireRaw(t, 5), &s); !errors.Is(err, transport.ErrType) {
		t.Errorf("int into *string: %v, want ErrType", err)
	}
	var i int
	if err := transport.Decode(wireRaw(t, "x"), &i); !errors.Is(err, transport.ErrType) {
		t.Errorf("string into *int: %v, want ErrType", err)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func asInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		return int64(n), n <= math.MaxInt64
	}
	return 0, false
}
