package transport_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// TestDecodeIntoNilPointer: a payload decoded into a nil pointer of a type
// with a fast path (int, int64, string, time.Time) fails with ErrType, as
// any nil destination does, rather than writing through it.
func TestDecodeIntoNilPointer(t *testing.T) {
	for _, c := range []struct {
		v   any
		dst any
	}{
		{42, (*int)(nil)},
		{42, (*int64)(nil)},
		{"s", (*string)(nil)},
		{time.Unix(1, 0), (*time.Time)(nil)},
	} {
		if err := transport.Recode(c.v, c.dst); !errors.Is(err, transport.ErrType) {
			t.Errorf("Recode(%v, %T(nil)) = %v, want ErrType", c.v, c.dst, err)
		}
	}
}
