// A whole-file example: Run outside a test function, with its output.

package tractortest_test

import (
	"context"
	"fmt"

	"pgregory.net/rapid"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
)

// double is the user's endpoint under test.
var double = tractor.Func("tractortest.double", func(ctx context.Context, x int) (int, error) {
	return 2 * x, nil
})

// Run the harness on a user's endpoint where there is no *testing.T: its
// error, nil here, would hold the minimal failing sequence of steps.
func ExampleRun() {
	err := tractortest.Run(tractortest.Config{
		Cases: []tractortest.Case{
			tractortest.Func(double, rapid.IntRange(-1000, 1000), func(x, res int) error {
				if res != 2*x {
					return fmt.Errorf("double(%d) = %d", x, res)
				}
				return nil
			}),
		},
		Faults: true, // cancel workers between calls, too
	})
	fmt.Println("property holds:", err == nil)
	// Output:
	// property holds: true
}
