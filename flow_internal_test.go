package tractor

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/tractor-go/tractor/transport"
)

// TestWindowClamped: a window over the caps of credit is the caps, so that
// what the receiver announces and revokes is what its sender's credit
// holds.
func TestWindowClamped(t *testing.T) {
	for _, tc := range []struct {
		items, bytes int
		want         flowWindow
	}{
		{8, 1 << 20, flowWindow{8, 1 << 20}},
		{math.MaxInt32, maxCreditBytes, flowWindow{math.MaxInt32, maxCreditBytes}},
		{math.MaxUint32, math.MaxInt64, flowWindow{math.MaxInt32, maxCreditBytes}},
		{math.MaxInt, math.MaxInt, flowWindow{math.MaxInt32, maxCreditBytes}},
	} {
		if got := Window(tc.items, tc.bytes).w; got != tc.want {
			t.Errorf("Window(%d, %d) = %+v, want %+v", tc.items, tc.bytes, got, tc.want)
		}
	}
}

// TestRevokeClamped: revokes of absurd amounts from a buggy peer hold this
// side's credit at minus the caps, never wrapping it round to credit it
// does not have, so it sends nothing; what the peer grants later counts in
// full from there, and lets it send again.
func TestRevokeClamped(t *testing.T) {
	d := newDialog(nil, 1, modeStream, true, newFlowWindow(8, 1<<20))
	d.ctx = context.Background()
	d.grant(transport.Msg{Credit: 8, CreditBytes: 1 << 20})
	absurd := transport.Msg{Kind: transport.KindRevoke, Credit: math.MaxUint32, CreditBytes: math.MaxUint64}
	for i := range 6 {
		d.revoke(absurd)
		if items, bytes := d.sendCredit(); items > 0 || bytes > 0 {
			t.Fatalf("after %d absurd revokes: credit %d items, %d bytes, want none", i+1, items, bytes)
		}
	}
	if items, bytes := d.sendCredit(); items != -maxCreditItems || bytes != -maxCreditBytes {
		t.Fatalf("after absurd revokes: credit %d items, %d bytes, want the floor, %d and %d",
			items, bytes, -maxCreditItems, -maxCreditBytes)
	}
	// No credit: a Send waits, and returns its ctx's end.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.send(ctx, "item"); !errors.Is(err, context.Canceled) {
		t.Fatalf("send without credit: %v, want context.Canceled", err)
	}
	// Grants count in full from the floor.
	d.addCredit(transport.Msg{Kind: transport.KindCredit, Credit: math.MaxUint32, CreditBytes: math.MaxUint64})
	d.addCredit(transport.Msg{Kind: transport.KindCredit, Credit: 3, CreditBytes: 100})
	if items, bytes := d.sendCredit(); items != 3 || bytes != 100 {
		t.Fatalf("after the peer's grants: credit %d items, %d bytes, want 3 and 100", items, bytes)
	}
	// Grants too never take credit past the caps.
	for range 3 {
		d.addCredit(transport.Msg{Kind: transport.KindCredit, Credit: math.MaxUint32, CreditBytes: math.MaxUint64})
	}
	if items, bytes := d.sendCredit(); items != maxCreditItems || bytes != maxCreditBytes {
		t.Fatalf("after absurd grants: credit %d items, %d bytes, want the caps, %d and %d",
			items, bytes, maxCreditItems, maxCreditBytes)
	}
}
