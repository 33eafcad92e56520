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
