package transport_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tractor-go/tractor/transport"
)

type point struct {
	X, Y int
	Tag  string
}

type celsius float64

func (c celsius) String() string { return fmt.Sprintf("%.1f°C", float64(c)) }

// decodeInto decodes payload into a fresh T preset to init and returns it.
func decodeInto[T any](t *testing.T, payload any, init T) T {
	t.Helper()
	dst := init
	if err := transport.Decode(payload, &dst); err != nil {
		t.Fatalf("Decode(%#v) into %T: %v", payload, &dst, err)
	}
	return dst
}

func TestDecodeAssignsMatchingValues(t *testing.T) {
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", name, got, want)
		}
	}
	p := point{1, 2, "p"}
	pp := &point{3, 4, "pp"}

	check("int", decodeInto(t, 49, 0), 49)
	check("negative int", decodeInto(t, -7, 3), -7)
	check("string", decodeInto(t, "hi", ""), "hi")
	check("empty string", decodeInto(t, "", "old"), "")
	check("struct", decodeInto(t, p, point{}), p)
	check("pointer", decodeInto[*point](t, pp, nil), pp)
	check("slice", decodeInto[[]int](t, []int{1, 2, 3}, nil), []int{1, 2, 3})
	check("map", decodeInto[map[string]int](t, map[string]int{"a": 1}, nil), map[string]int{"a": 1})
	check("uint8", decodeInto[uint8](t, uint8(200), 0), uint8(200))
	check("named type", decodeInto[celsius](t, celsius(21.5), 0), celsius(21.5))

	// A pointer payload is stored as is, not copied.
	if got := decodeInto[*point](t, pp, nil); got != pp {
		t.Errorf("pointer payload: got %p, want the same pointer %p", got, pp)
	}
}

func TestDecodeIntoInterfaces(t *testing.T) {
	// *any takes any payload as is.
	for _, payload := range []any{7, "s", point{1, 2, "x"}, []byte("raw"), nil} {
		got := decodeInto[any](t, payload, "preset")
		if !reflect.DeepEqual(got, payload) {
			t.Errorf("*any: got %#v, want %#v", got, payload)
		}
	}
	// Other interfaces take payloads that implement them.
	if got := decodeInto[fmt.Stringer](t, celsius(3), nil); got != celsius(3) {
		t.Errorf("*fmt.Stringer: got %#v, want celsius(3)", got)
	}
	boom := errors.New("boom")
	if got := decodeInto[error](t, boom, nil); got != boom {
		t.Errorf("*error: got %#v, want %v", got, boom)
	}
}

func TestDecodeNilPayloadStoresZero(t *testing.T) {
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want zero %#v", name, got, want)
		}
	}
	check("int", decodeInto(t, nil, 42), 0)
	check("string", decodeInto(t, nil, "old"), "")
	check("struct", decodeInto(t, nil, point{9, 9, "old"}), point{})
	check("pointer", decodeInto(t, nil, &point{}), (*point)(nil))
	check("slice", decodeInto(t, nil, []int{1}), []int(nil))
	check("any", decodeInto[any](t, nil, 5), nil)
	check("error", decodeInto(t, nil, errors.New("old")), error(nil))
}

func TestDecodeTypeMismatch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		payload   any
		dst       any
		wantTypes []string // both type names must appear in the error
	}{
		{"string into int", "seven", new(int), []string{"int", "string"}},
		{"int into string", 7, new(string), []string{"string", "int"}},
		{"int64 out of range", int64(300), new(int8), []string{"300", "int8"}}, // number.go
		{"int into struct", 7, new(point), []string{"transport_test.point", "int"}},
		{"struct into string", point{}, new(string), []string{"string", "transport_test.point"}},
		{"named float into int", celsius(1.5), new(int), []string{"1.5", "int"}},
		{"value into pointer", point{}, new(*point), []string{"*transport_test.point", "transport_test.point"}},
		{"non-implementer into interface", 7, new(fmt.Stringer), []string{"fmt.Stringer", "int"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := reflect.ValueOf(tc.dst).Elem().Interface()
			err := transport.Decode(tc.payload, tc.dst)
			if !errors.Is(err, transport.ErrType) {
				t.Fatalf("Decode(%#v, %T) returned %v, want an error matching ErrType", tc.payload, tc.dst, err)
			}
			for _, name := range tc.wantTypes {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error %q does not name type %s", err, name)
				}
			}
			if after := reflect.ValueOf(tc.dst).Elem().Interface(); !reflect.DeepEqual(after, before) {
				t.Errorf("failed Decode changed the destination from %#v to %#v", before, after)
			}
		})
	}
}

func TestDecodeNonPointerDestination(t *testing.T) {
	var s string
	for _, tc := range []struct {
		name    string
		payload any
		dst     any
	}{
		{"int value", 7, 0},
		{"string value", "x", s},
		{"struct value", point{}, point{}},
		{"nil payload into value", nil, 0},
		{"untyped nil", 7, nil},
		{"nil struct pointer", point{}, (*point)(nil)},
		{"nil payload into nil pointer", nil, (*point)(nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := transport.Decode(tc.payload, tc.dst)
			if err == nil {
				t.Fatalf("Decode(%#v, %#v) succeeded; want an error", tc.payload, tc.dst)
			}
			if !errors.Is(err, transport.ErrType) {
				t.Errorf("error %v does not match ErrType", err)
			}
		})
	}
}

// fakeRaw is a [transport.Raw] that records what it was asked to decode into.
type fakeRaw struct {
	value any   // what it stores through an *any destination
	err   error // what Decode returns
	dsts  []any
}

func (r *fakeRaw) Decode(dst any) error {
	r.dsts = append(r.dsts, dst)
	if r.err != nil {
		return r.err
	}
	switch d := dst.(type) {
	case *any:
		*d = r.value
	case *int:
		*d = r.value.(int)
	default:
		return fmt.Errorf("fakeRaw: cannot decode into %T: %w", dst, transport.ErrType)
	}
	return nil
}

func TestDecodeRawDecodesItself(t *testing.T) {
	t.Run("into int", func(t *testing.T) {
		raw := &fakeRaw{value: 99}
		var n int
		if err := transport.Decode(raw, &n); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if n != 99 {
			t.Fatalf("got %d, want 99 (the Raw's decoding)", n)
		}
		if len(raw.dsts) != 1 || raw.dsts[0] != any(&n) {
			t.Fatalf("Raw.Decode got destinations %v, want exactly [%p]", raw.dsts, &n)
		}
	})
	t.Run("into any", func(t *testing.T) {
		// A Raw payload is decoded even into *any, never stored as is.
		raw := &fakeRaw{value: "decoded"}
		var v any
		if err := transport.Decode(raw, &v); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if v != "decoded" {
			t.Fatalf("got %#v, want the Raw's decoding %q", v, "decoded")
		}
		if len(raw.dsts) != 1 {
			t.Fatalf("Raw.Decode called %d times, want 1", len(raw.dsts))
		}
	})
	t.Run("error passes through", func(t *testing.T) {
		bad := errors.New("corrupt frame")
		raw := &fakeRaw{err: bad}
		var n int
		if err := transport.Decode(raw, &n); !errors.Is(err, bad) {
			t.Fatalf("Decode returned %v, want the Raw's error %v", err, bad)
		}
		if len(raw.dsts) != 1 {
			t.Fatalf("Raw.Decode called %d times, want 1", len(raw.dsts))
		}
	})
	t.Run("non-pointer destination is the Raw's to judge", func(t *testing.T) {
		raw := &fakeRaw{value: 1}
		err := transport.Decode(raw, 5)
		if !errors.Is(err, transport.ErrType) || !strings.Contains(err.Error(), "fakeRaw") {
			t.Fatalf("Decode returned %v, want the Raw's own ErrType error", err)
		}
		if len(raw.dsts) != 1 || raw.dsts[0] != any(5) {
			t.Fatalf("Raw.Decode got destinations %v, want [5]", raw.dsts)
		}
	})
}

func TestDecodeTypedNilPointer(t *testing.T) {
	for _, dst := range []any{(*int)(nil), (*string)(nil), (*any)(nil)} {
		var payload any = 5
		if _, ok := dst.(*string); ok {
			payload = "s"
		}
		if err := transport.Decode(payload, dst); !errors.Is(err, transport.ErrType) {
			t.Errorf("Decode(%v, %T(nil)) = %v, want ErrType", payload, dst, err)
		}
	}
}
