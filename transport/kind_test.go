package transport_test

import (
	"testing"

	"github.com/tractor-go/tractor/transport"
)

func TestKindString(t *testing.T) {
	for _, tc := range []struct {
		k    transport.Kind
		want string
	}{
		{transport.KindCmd, "cmd"},
		{transport.KindStarted, "started"},
		{transport.KindYield, "yield"},
		{transport.KindStop, "stop"},
		{transport.KindReturn, "return"},
		{transport.KindError, "error"},
		{transport.KindCancel, "cancel"},
		{transport.KindCredit, "credit"},
		{transport.KindRevoke, "revoke"},
		{0, "kind(0)"},
		{transport.KindRevoke + 1, "kind(10)"},
		{200, "kind(200)"},
		{255, "kind(255)"},
	} {
		if got := tc.k.String(); got != tc.want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(tc.k), got, tc.want)
		}
	}
}

func TestKindsAreDistinctAndNonZero(t *testing.T) {
	kinds := []transport.Kind{
		transport.KindCmd, transport.KindStarted, transport.KindYield, transport.KindStop,
		transport.KindReturn, transport.KindError, transport.KindCancel, transport.KindCredit,
		transport.KindRevoke,
	}
	seen := map[transport.Kind]bool{}
	for _, k := range kinds {
		if k == 0 {
			t.Errorf("kind %s is zero; the zero Msg must not be valid", k)
		}
		if seen[k] {
			t.Errorf("kind %d used twice", uint8(k))
		}
		seen[k] = true
	}
}
