package transport_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tractor-go/tractor/transport"
)

type wtBad struct {
	OK   []map[string]int
	Deep struct{ Fns []func() }
}

// TestCheckTypeNamesTheField: CheckType's error matches ErrEncode, names
// the type, the path to the field and the field's type, and is the same
// error on the second call, from the cache.
func TestCheckTypeNamesTheField(t *testing.T) {
	rt := reflect.TypeFor[wtBad]()
	err := transport.CheckType(rt)
	if !errors.Is(err, transport.ErrEncode) {
		t.Fatalf("CheckType = %v, want an error matching ErrEncode", err)
	}
	const want = "type transport_test.wtBad field .Deep.Fns[]: func() cannot cross a process"
	if err.Error() != want {
		t.Fatalf("CheckType = %q, want %q", err, want)
	}
	if again := transport.CheckType(rt); again != err {
		t.Fatalf("second CheckType = %v (%p), want the cached %p", again, again, err)
	}
	for _, ok := range []reflect.Type{nil, reflect.TypeFor[any](), reflect.TypeFor[[]byte](), reflect.TypeFor[map[string]any]()} {
		if err := transport.CheckType(ok); err != nil {
			t.Errorf("CheckType(%v) = %v, want nil", ok, err)
		}
	}
	if err := transport.CheckType(reflect.TypeFor[error]()); err == nil || !strings.Contains(err.Error(), "interface with methods") {
		t.Errorf("CheckType(error) = %v, want a refusal of an interface with methods", err)
	}
}

type (
	recSlice []recSlice
	recMap   map[string]recMap
	recPtr   *recPtr
	recA     struct {
		Bs []recB
		M  map[string]recA
	}
	recB struct {
		A    *recA
		Self recSlice
	}
	recBad struct {
		Next *recBad
		Kids []recBad
		C    chan int
	}
)

// TestCheckTypeRecursive: types that refer to themselves through a slice,
// a map, a pointer or another struct are checked without end (they once
// overflowed the stack), cross when their parts do, and are refused, by
// the path to the field, when one does not.
func TestCheckTypeRecursive(t *testing.T) {
	for _, rt := range []reflect.Type{
		reflect.TypeFor[recSlice](), reflect.TypeFor[recMap](), reflect.TypeFor[recPtr](),
		reflect.TypeFor[recA](), reflect.TypeFor[recB](), reflect.TypeFor[[]recMap](),
	} {
		if err := transport.CheckType(rt); err != nil {
			t.Errorf("CheckType(%v) = %v, want nil", rt, err)
		}
	}
	const want = "type transport_test.recBad field .C: chan int cannot cross a process"
	if err := transport.CheckType(reflect.TypeFor[recBad]()); err == nil || err.Error() != want {
		t.Errorf("CheckType(recBad) = %v, want %q", err, want)
	}

	// And values of them cross.
	in := recA{Bs: []recB{{A: &recA{M: map[string]recA{"x": {}}}, Self: recSlice{{}, nil}}}}
	b, err := transport.EncodePayload(in)
	if err != nil {
		t.Fatal(err)
	}
	var out recA
	if err := transport.RawPayload(b).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("recA crossed as %#v, want %#v", out, in)
	}
}

type (
	wtInner struct{ A, B int }
	wtCount int
	// wtEmbeds embeds an unexported struct: msgpack encodes its fields
	// inline, so it crosses.
	wtEmbeds struct {
		wtInner
		C string
	}
	// wtEmbedsInt embeds an unexported named int, which msgpack drops.
	wtEmbedsInt struct{ wtCount }
)

// TestCheckTypeWhere: a type refused as a whole is named without a field,
// a map's values are checked as well as its keys, and an embedded
// unexported struct crosses where an embedded unexported non-struct is
// refused.
func TestCheckTypeWhere(t *testing.T) {
	for _, tc := range []struct {
		rt   reflect.Type
		want string // "" for a type that crosses
	}{
		{reflect.TypeFor[chan int](), "type chan int: chan int cannot cross a process"},
		{reflect.TypeFor[map[string]func()](), "type map[string]func() field [value]: func() cannot cross a process"},
		{reflect.TypeFor[map[chan int]string](), "type map[chan int]string field [key]: chan int cannot cross a process"},
		{reflect.TypeFor[wtEmbeds](), ""},
		{reflect.TypeFor[wtEmbedsInt](), "type transport_test.wtEmbedsInt field .wtCount: transport_test.wtCount is unexported and would be dropped silently (export it, tag it `msgpack:\"-\"`, or give the type a marshaller)"},
	} {
		err := transport.CheckType(tc.rt)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckType(%v) = %v, want nil", tc.rt, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("CheckType(%v) = %v, want %q", tc.rt, err, tc.want)
		}
	}
}
