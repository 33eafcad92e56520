package tractor_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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
	for _, h := range rows(hostings) {
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

// timeSeen is what valuesTime's callee saw of the time it was sent.
type timeSeen struct {
	At   time.Time
	Hour int
	Zone string
}

var valuesTime = tractor.Func("test.values.time", func(ctx context.Context, at time.Time) (timeSeen, error) {
	zone, _ := at.Zone()
	return timeSeen{At: at, Hour: at.Hour(), Zone: zone}, nil
})

// TestTimeZoneEveryHosting: a time.Time keeps its zone through an
// argument and a result on every hosting: the callee reads the sender's
// wall clock and zone, and the caller gets back an equal time in the same
// zone.
func TestTimeZoneEveryHosting(t *testing.T) {
	at := time.Date(2026, 3, 1, 22, 45, 0, 1, time.FixedZone("X", 5*3600+1800))
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(valuesTime), func(ctx context.Context, p *tractor.Portal) {
				got, err := valuesTime.Call(ctx, p, at)
				if err != nil {
					t.Fatal(err)
				}
				if got.Hour != 22 || got.Zone != "X" {
					t.Errorf("callee saw hour %d in zone %q, want 22 in X", got.Hour, got.Zone)
				}
				zone, off := got.At.Zone()
				if !got.At.Equal(at) || zone != "X" || off != 5*3600+1800 {
					t.Errorf("result %v (zone %s %+d), want %v", got.At, zone, off, at)
				}
			})
		})
	}
}

// wireCheckRelay runs in a process actor: it starts a goroutine actor,
// calls parityMutate there with a map, and says whether it saw the
// callee's change.
var wireCheckRelay = tractor.Func("test.wirecheck.relay", func(ctx context.Context, _ struct{}) (bool, error) {
	var seen bool
	err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
		p, err := n.StartActor(ctx, "grandchild", tractor.Spawn(tractor.Goroutine), tractor.Expose(parityMutate))
		if err != nil {
			return err
		}
		defer p.CancelActor(ctx)
		m := map[string]int{"caller": 1}
		if _, err := parityMutate.Call(ctx, p, m); err != nil {
			return err
		}
		_, seen = m["callee"]
		return nil
	})
	return seen, err
})

// TestWireCheckReachesProcessChildren: WireCheck given at the root
// reaches a process actor's own goroutine actors: with WireCheck(false) a
// map its goroutine child mutates is the caller's (by reference), with
// WireCheck(true) it is a copy.
func TestWireCheckReachesProcessChildren(t *testing.T) {
	for _, h := range rows([]hosting{processPipe, processTCP}) {
		for _, on := range []bool{false, true} {
			name := h.name + "/WireCheck=" + strconv.FormatBool(on)
			t.Run(name, func(t *testing.T) {
				h := hosting{name, append(slices.Clip(h.opts), tractor.WireCheck(on))}
				withWorker(t, h, eps(wireCheckRelay), func(ctx context.Context, p *tractor.Portal) {
					seen, err := wireCheckRelay.Call(ctx, p, struct{}{})
					if err != nil {
						t.Fatal(err)
					}
					if seen == on {
						t.Errorf("the process actor saw its goroutine child's change to the map: %v, want %v", seen, !on)
					}
				})
			})
		}
	}
}
