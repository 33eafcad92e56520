package tractor_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tractor-go/tractor"
)

// exCheck is the work of the map examples: it doubles an item, and fails
// on 13.
var exCheck = tractor.Func("example.check", func(ctx context.Context, x int) (int, error) {
	if x == 13 {
		return 0, fmt.Errorf("item %d is unlucky", x)
	}
	return 2 * x, nil
})

// Fan 200 items out to 4 workers and stop at the first error: the results
// come in the order of the items, and the failing call's error cancels the
// calls under way.
func ExampleMap() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		items := make([]int, 200)
		for i := range items {
			items[i] = i + 14 // all pass
		}
		out, err := tractor.Map(ctx, exCheck, items, tractor.Workers(4))
		fmt.Println(out[:3], out[199], err)

		items[100] = 13 // one fails, and the map stops
		_, err = tractor.Map(ctx, exCheck, items, tractor.Workers(4))
		var re *tractor.RemoteError
		if errors.As(err, &re) {
			fmt.Println("failed:", re.Message)
		}
		return nil
	})
	fmt.Println("err:", err)
	// Output:
	// [28 30 32] 426 <nil>
	// failed: item 13 is unlucky
	// err: <nil>
}

// The same map over 4 worker processes: one option.
func ExampleMap_processes() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		items := []int{1, 2, 3, 4, 5, 6}
		out, err := tractor.Map(ctx, exCheck, items, tractor.Workers(4), tractor.Spawn(tractor.Process))
		fmt.Println(out, err)
		return nil
	})
	fmt.Println("err:", err)
	// Output:
	// [2 4 6 8 10 12] <nil>
	// err: <nil>
}
