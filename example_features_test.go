package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/tractor-go/tractor"
)

// Several local receivers of one stream: each Subscription sees every item
// that arrives after it subscribed, and the stream crosses from the
// worker once.
func ExampleMsgStream_Subscribe() {
	err := exWorker(func(ctx context.Context, p *tractor.Portal) error {
		s, err := exLetters.Open(ctx, p, "fan")
		if err != nil {
			return err
		}
		defer s.Close()
		got, ends := make([][]string, 2), make([]error, 2)
		// Every subscriber before the first Receive, a subscriber's
		// included: it misses nothing.
		subs := make([]*tractor.Subscription[string], len(got))
		for i := range subs {
			if subs[i], err = s.Subscribe(0); err != nil {
				return err
			}
		}
		var wg sync.WaitGroup
		for i, sub := range subs {
			wg.Go(func() {
				defer sub.Close()
				for {
					letter, err := sub.Receive(ctx) // io.EOF once the generator returned
					if err != nil {
						ends[i] = err
						return
					}
					got[i] = append(got[i], letter)
				}
			})
		}
		wg.Wait()
		for i, letters := range got {
			fmt.Println("subscriber", i, "got", strings.Join(letters, " "), "then", ends[i])
		}
		return nil
	}, exLetters)
	fmt.Println("err:", err)
	// Output:
	// subscriber 0 got f a n then EOF
	// subscriber 1 got f a n then EOF
	// err: <nil>
}

// exThird panics when its slice has no third element.
var exThird = tractor.Func("example.third", func(ctx context.Context, xs []int) (int, error) {
	return xs[2], nil
})

// A panic in an actor task is that task's error: a *RemoteError of type
// "panic", matching ErrPanic, naming the actor, with the stack where it
// panicked. The actor survives it and keeps serving.
func Example_panic() {
	err := exWorker(func(ctx context.Context, p *tractor.Portal) error {
		_, err := exThird.Call(ctx, p, []int{1, 2})
		var re *tractor.RemoteError
		if errors.As(err, &re) && errors.Is(err, tractor.ErrPanic) {
			fmt.Println(re.Type, "in actor", re.Actor.Name)
			fmt.Println(re.Message)
			fmt.Println("stack shows where:", strings.Contains(re.Stack, "example_features_test.go:"))
		}
		v, err := exThird.Call(ctx, p, []int{1, 2, 3})
		fmt.Println("next call:", v, err)
		return nil
	}, exThird)
	fmt.Println("err:", err)
	// Output:
	// panic in actor worker
	// panic: runtime error: index out of range [2] with length 2
	// stack shows where: true
	// next call: 3 <nil>
	// err: <nil>
}

// One option moves an actor into a process of its own: this binary
// re-executed, which serves it (tractor.Run, or ServeIfChild first in a
// test binary's TestMain). The code that calls it does not change.
func ExampleSpawn() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "worker", tractor.Expose(exCube),
				tractor.Spawn(tractor.Process)) // without it, a goroutine
			if err != nil {
				return err
			}
			defer p.CancelActor(ctx)
			v, err := exCube.Call(ctx, p, 4)
			if err != nil {
				return err
			}
			info := p.Info()
			fmt.Println("cube(4) =", v, "from a", info.Hosting, "actor")
			fmt.Println("another process:", info.PID != os.Getpid())
			return nil
		})
	})
	fmt.Println("err:", err)
	// Output:
	// cube(4) = 64 from a process actor
	// another process: true
	// err: <nil>
}

// Two programs find each other: the second joins the first one's
// registrar by address, sharing its secret, and finds the first one's
// actor by name. (Here both trees run in one binary; TRACTOR_REGISTRAR
// and TRACTOR_SECRET do the same for a program run beside another.)
func ExampleRegistrar() {
	const secret = "s3cret"
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			if _, err := n.StartActor(ctx, "cuber", tractor.Expose(exCube)); err != nil {
				return err
			}
			addr := tractor.CurrentActor(ctx).Addr() // the first program's registrar

			// The second program, as it would run in another process.
			return tractor.Run(ctx, func(ctx context.Context) error {
				p, err := tractor.FindActor(ctx, "cuber")
				if err != nil {
					return err
				}
				v, err := exCube.Call(ctx, p, 5)
				fmt.Println("second found", p.Actor().Name, "of", p.Info().Parent.Name, "and got", v, err)
				return nil
			}, tractor.Name("second"), tractor.Registrar(addr), tractor.Secret(secret))
		})
	}, tractor.Name("first"), tractor.Secret(secret))
	fmt.Println("err:", err)
	// Output:
	// second found cuber of first and got 125 <nil>
	// err: <nil>
}
