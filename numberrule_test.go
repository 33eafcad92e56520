package tractor_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// numberDouble takes a uint8, so that arguments of other numeric types
// meet the number rule on the callee's side.
var numberDouble = tractor.Func("test.number.double", func(ctx context.Context, v uint8) (int, error) {
	return 2 * int(v), nil
})

// TestNumberRuleEveryHosting: an argument of another numeric type decodes
// if the endpoint's type holds its value exactly and fails with
// ErrBadArgument naming the value and the type otherwise; a result decodes
// into another numeric type by the same rule; alike on every hosting.
func TestNumberRuleEveryHosting(t *testing.T) {
	for _, h := range hostings {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(numberDouble), func(ctx context.Context, p *tractor.Portal) {
				for _, arg := range []any{int(100), int64(100), float64(100), uint16(100)} {
					res, err := tractor.CallRaw(ctx, p, numberDouble.Name(), arg)
					if err != nil {
						t.Fatalf("%T(%v) into uint8: %v", arg, arg, err)
					}
					var got int64
					if err := transport.Decode(res, &got); err != nil || got != 200 {
						t.Fatalf("%T(%v): result into int64 = %d, %v; want 200", arg, arg, got, err)
					}
					var small int8
					if err := transport.Decode(res, &small); !errors.Is(err, transport.ErrType) || !strings.Contains(err.Error(), "200 does not fit in int8") {
						t.Fatalf("%T(%v): result into int8 = %d, %v; want ErrType, 200 does not fit", arg, arg, small, err)
					}
				}
				for _, tc := range []struct {
					arg  any
					want string
				}{{int(300), "300 does not fit in uint8"}, {int(-1), "-1 does not fit in uint8"}, {1.5, "1.5 does not fit in uint8"}} {
					_, err := tractor.CallRaw(ctx, p, numberDouble.Name(), tc.arg)
					if !errors.Is(err, tractor.ErrBadArgument) || !strings.Contains(err.Error(), tc.want) {
						t.Fatalf("%T(%v) into uint8: %v; want ErrBadArgument saying %q", tc.arg, tc.arg, err, tc.want)
					}
				}
			})
		})
	}
}
