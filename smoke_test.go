package tractor_test

import (
	"context"
	"testing"

	"github.com/tractor-go/tractor"
)

func TestSmoke(t *testing.T) {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "worker", tractor.Expose(square, count, echo))
			if err != nil {
				return err
			}
			defer p.CancelActor(ctx)
			v, err := square.Call(ctx, p, 7)
			if err != nil || v != 49 {
				t.Fatalf("square: %v %v", v, err)
			}
			s, err := count.Open(ctx, p, 5)
			if err != nil {
				return err
			}
			for i := 0; ; i++ {
				var x int
				if err := s.Receive(ctx, &x); err != nil {
					t.Logf("recv end: %v after %d", err, i)
					break
				}
				if x != i {
					t.Fatalf("got %d want %d", x, i)
				}
			}
			s.Close()
			c, err := echo.Open(ctx, p, "hi")
			if err != nil {
				return err
			}
			var first string
			c.First(&first)
			st, _ := c.OpenStream()
			for i := range 1000 {
				st.Send(ctx, i)
				var got int
				if err := st.Receive(ctx, &got); err != nil || got != i {
					t.Fatalf("echo %d: %v %v", i, got, err)
				}
			}
			st.Close()
			nres, err := echo.Result(ctx, c)
			t.Logf("first %q result %d %v", first, nres, err)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
