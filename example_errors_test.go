package tractor_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tractor-go/tractor"
)

// OutOfStock is a program's own error type. Registered, its values cross
// process boundaries: a caller in another process finds it with
// errors.As, fields and all.
type OutOfStock struct {
	Item string
	Left int
}

func (e *OutOfStock) Error() string { return fmt.Sprintf("%s: only %d left", e.Item, e.Left) }

// Register at package initialisation, as endpoints are declared, so that
// every process built from the binary knows the code.
func init() { tractor.RegisterError[*OutOfStock]("example.out_of_stock") }

var exOrder = tractor.Func("example.order", func(ctx context.Context, n int) (int, error) {
	if n > 2 {
		return 0, fmt.Errorf("order of %d: %w", n, &OutOfStock{Item: "apples", Left: 2})
	}
	return n, nil
})

func ExampleRegisterError() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			// The shop runs in a process of its own.
			shop, err := n.StartActor(ctx, "shop", tractor.Expose(exOrder), tractor.Spawn(tractor.Process))
			if err != nil {
				return err
			}
			defer shop.CancelActor(ctx)

			_, err = exOrder.Call(ctx, shop, 5)
			var oos *OutOfStock
			if errors.As(err, &oos) {
				fmt.Printf("%s has %d left\n", oos.Item, oos.Left)
			}
			var re *tractor.RemoteError
			if errors.As(err, &re) {
				fmt.Println("from actor", re.Actor.Name)
			}
			return nil
		})
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// apples has 2 left
	// from actor shop
}
