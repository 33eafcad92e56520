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

// Fan 200 items out to 4 workers and stop at the first error. The results
// come in the order of the items; a failing call cancels the calls under
// way, and its error is Map's.
func ExampleMap() {
	items := make([]int, 200)
	for i := range items {
		items[i] = 200 - i
	}
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		out, err := tractor.Map(ctx, exCheck, items, tractor.Workers(4))
		if err != nil {
			return err
		}
		fmt.Println(out[:3], out[199])
		return nil
	})
	var re *tractor.RemoteError
	if errors.As(err, &re) {
		fmt.Println("failed:", re.Message)
	}
	// Output:
	// failed: item 13 is unlucky
}

// The same job over 4 worker processes: one option more.
func ExampleMap_processes() {
	items := make([]int, 200)
	for i := range items {
		items[i] = 200 - i
	}
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		out, err := tractor.Map(ctx, exCheck, items, tractor.Workers(4), tractor.Spawn(tractor.Process))
		if err != nil {
			return err
		}
		fmt.Println(out[:3], out[199])
		return nil
	})
	var re *tractor.RemoteError
	if errors.As(err, &re) {
		fmt.Println("failed:", re.Message)
	}
	// Output:
	// failed: item 13 is unlucky
}

// Results come in the order of the items, whichever worker ran each.
func ExampleMap_order() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		out, err := tractor.Map(ctx, exCheck, []int{5, 4, 3, 2, 1}, tractor.Workers(2))
		fmt.Println(out, err)
		return err
	})
	fmt.Println("err:", err)
	// Output:
	// [10 8 6 4 2] <nil>
	// err: <nil>
}
