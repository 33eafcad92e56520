// A whole-file example: the documentation shows the endpoints, the cases
// and the call to Check together. TestUserEndpoints, in check_test.go, runs
// the same cases.

package tractortest_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
)

// The endpoints under test: a user's own.
var (
	reverse = tractor.Func("tractortest.reverse", func(ctx context.Context, s string) (string, error) {
		r := []rune(s)
		slices.Reverse(r)
		return string(r), nil
	})
	countdown = tractor.Stream("tractortest.countdown", func(ctx context.Context, n int, yield func(int) error) error {
		for i := n; i > 0; i-- {
			if err := yield(i); err != nil {
				return err
			}
		}
		return nil
	})
)

// cases says how to draw calls of the endpoints and what their results
// must be.
var cases = []tractortest.Case{
	tractortest.Func(reverse, rapid.String(), func(arg, res string) error {
		r := []rune(res)
		slices.Reverse(r)
		if string(r) != arg {
			return fmt.Errorf("reverse(%q) = %q", arg, res)
		}
		return nil
	}),
	tractortest.Stream(countdown, rapid.IntRange(0, 50), func(n int, items []int) error {
		for i, v := range items {
			if v != n-i {
				return fmt.Errorf("countdown(%d): item %d is %d", n, i, v)
			}
		}
		if len(items) != n {
			return fmt.Errorf("countdown(%d): %d items", n, len(items))
		}
		return nil
	}),
}

// Property-test a user's endpoints: random calls, streams, cancellations,
// faults and hostile dialogs and exits against workers hosted as the
// options say, with the results checked by the cases and the runtime's
// invariants by Check.
func ExampleCheck() {
	// In a test function, with t its *testing.T:
	var t *testing.T
	if t == nil {
		return // (an Example has no t: this shows the call only)
	}
	tractortest.Check(t, tractortest.Config{
		Cases:   cases,
		Faults:  true,
		Hostile: true,
		Options: []tractor.Option{tractor.Spawn(tractor.Process)},
	})
}
