package transport_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// plain is a struct of plain fields, which a codec of typecodec.go decodes.
type plain struct {
	A int
	B string
}

// TestDecodeIntoNilPointer: a payload decoded into a nil pointer of a type
// with a fast path (int, int64, string, time.Time, and the types with a
// codec) fails with ErrType, as any nil destination does, rather than
// writing through it.
func TestDecodeIntoNilPointer(t *testing.T) {
	for _, c := range []struct {
		v   any
		dst any
	}{
		{42, (*int)(nil)},
		{42, (*int64)(nil)},
		{"s", (*string)(nil)},
		{time.Unix(1, 0), (*time.Time)(nil)},
		{[]int{1, 2}, (*[]int)(nil)}, // through its type's codec
		{plain{A: 1, B: "b"}, (*plain)(nil)},
	} {
		if err := transport.Recode(c.v, c.dst); !errors.Is(err, transport.ErrType) {
			t.Errorf("Recode(%v, %T(nil)) = %v, want ErrType", c.v, c.dst, err)
		}
	}
}

// TestDecodeErrorNamesWhatArrived: a payload of the wrong type fails with
// ErrType naming the type wanted and the kind that arrived.
func TestDecodeErrorNamesWhatArrived(t *testing.T) {
	var n int
	err := transport.Recode("text", &n)
	if !errors.Is(err, transport.ErrType) || !strings.Contains(err.Error(), "want *int, got an encoded string") {
		t.Fatalf("Recode of a string into an int: %v, want ErrType naming both", err)
	}
}
