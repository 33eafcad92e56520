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
