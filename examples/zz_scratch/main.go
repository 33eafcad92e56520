package main

import (
	"context"
	"fmt"
	"errors"

	"github.com/tractor-go/tractor"
)

var bad = tractor.Func("scratch.bad", func(ctx context.Context, _ struct{}) (int, error) {
	return 0, errors.New("bad")
})

func main() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error {
			p, err := n.RunInActor(ctx, "bad", bad.Bind(struct{}{}))
			if err != nil { return err }
			var v int
			return p.Result(ctx, &v)
		})
	})
	fmt.Println("run:", err)
}
