package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/tractor-go/tractor"
)

// The endpoints of the examples, declared at package level as every program
// declares its endpoints.
var (
	exCube = tractor.Func("example.cube", func(ctx context.Context, x int) (int, error) {
		return x * x * x, nil
	})
	exAtoi = tractor.Func("example.atoi", func(ctx context.Context, s string) (int, error) {
		return strconv.Atoi(s)
	})
	exLetters = tractor.Stream("example.letters", func(ctx context.Context, word string, yield func(string) error) error {
		for _, r := range word {
			if err := yield(string(r)); err != nil {
				return err
			}
		}
		return nil
	})
	exUpper = tractor.Ctx("example.upper", func(c *tractor.Context, greeting string) (int, error) {
		if err := c.Started(strings.ToUpper(greeting)); err != nil {
			return 0, err
		}
		// It receives strings and sends strings back.
		s, err := tractor.OpenStream[string, string](c)
		if err != nil {
			return 0, err
		}
		defer s.Close()
		n := 0
		for v, err := range s.All(c) { // until the caller closes its side
			if err != nil {
				return n, err
			}
			if err := s.Send(c, strings.ToUpper(v)); err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	})
	exIdle = tractor.Ctx("example.idle", func(c *tractor.Context, _ struct{}) (string, error) {
		if err := c.Started("idling"); err != nil {
			return "", err
		}
		<-c.Done() // runs until the dialog is cancelled
		return "", c.Err()
	})
)

// exWorker runs body in a root actor with a daemon actor "worker" that
// exposes eps, and cancels the worker when body returns.
func exWorker(body func(ctx context.Context, p *tractor.Portal) error, eps ...tractor.Endpoint) error {
	return tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "worker", tractor.Expose(eps...))
			if err != nil {
				return err
			}
			defer p.CancelActor(ctx)
			return body(ctx, p)
		})
	})
}

func ExampleRun() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		fmt.Println("running in actor", tractor.CurrentActor(ctx).Name())
		actors, _ := tractor.Actors(ctx)
		fmt.Println("live actors:", len(actors))
		return nil
	}, tractor.Name("main"))
	fmt.Println("err:", err)
	// Output:
	// running in actor main
	// live actors: 1
	// err: <nil>
}

func ExampleOpenNursery() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "worker", tractor.Expose(exCube))
			if err != nil {
				return err
			}
			v, err := exCube.Call(ctx, p, 3)
			if err != nil {
				return err
			}
			fmt.Println("cube(3) =", v)
			// A daemon actor serves until cancelled: OpenNursery waits
			// for it, so cancel it before the body returns.
			return p.CancelActor(ctx)
		})
	})
	fmt.Println("err:", err)
	// Output:
	// cube(3) = 27
	// err: <nil>
}

func ExampleFuncEndpoint_Call() {
	err := exWorker(func(ctx context.Context, p *tractor.Portal) error {
		v, err := exAtoi.Call(ctx, p, "42")
		fmt.Println(v, err)

		// A failure in the remote task is a *RemoteError naming its actor.
		_, err = exAtoi.Call(ctx, p, "forty-two")
		var re *tractor.RemoteError
		if errors.As(err, &re) {
			fmt.Println("failed in actor", re.Actor.Name, "with", re.Type)
		}
		return nil
	}, exAtoi)
	fmt.Println("err:", err)
	// Output:
	// 42 <nil>
	// failed in actor worker with *strconv.NumError
	// err: <nil>
}

func ExampleStreamEndpoint_Open() {
	err := exWorker(func(ctx context.Context, p *tractor.Portal) error {
		s, err := exLetters.Open(ctx, p, "go")
		if err != nil {
			return err
		}
		defer s.Close()
		for {
			letter, err := s.Receive(ctx)
			if err == io.EOF { // the generator returned
				break
			}
			if err != nil {
				return err
			}
			fmt.Println(letter)
		}
		return nil
	}, exLetters)
	fmt.Println("err:", err)
	// Output:
	// g
	// o
	// err: <nil>
}

func ExampleMsgStream_All() {
	err := exWorker(func(ctx context.Context, p *tractor.Portal) error {
		// exLetters yields strings: s is a *MsgStream[NoSend, string].
		s, err := exLetters.Open(ctx, p, "range")
		if err != nil {
			return err
		}
		defer s.Close()
		var letters []string
		for letter, err := range s.All(ctx) { // ends at io.EOF
			if err != nil {
				return err // the generator's failure, or ctx's end
			}
			letters = append(letters, letter)
		}
		fmt.Println(strings.Join(letters, " "))
		return nil
	}, exLetters)
	fmt.Println("err:", err)
	// Output:
	// r a n g e
	// err: <nil>
}

func ExampleCtxEndpoint_Open() {
	err := exWorker(func(ctx context.Context, p *tractor.Portal) error {
		c, err := exUpper.Open(ctx, p, "hi")
		if err != nil {
			return err
		}
		first, err := tractor.First[string](c)
		if err != nil {
			return err
		}
		fmt.Println("started:", first)

		s, err := tractor.OpenStream[string, string](c)
		if err != nil {
			return err
		}
		for _, w := range []string{"one", "two"} {
			if err := s.Send(ctx, w); err != nil {
				return err
			}
			echo, err := s.Receive(ctx)
			if err != nil {
				return err
			}
			fmt.Println("echo:", echo)
		}
		s.Close() // the callee's Receive returns io.EOF and it returns

		n, err := exUpper.Result(ctx, c)
		fmt.Println("result:", n, err)
		return nil
	}, exUpper)
	fmt.Println("err:", err)
	// Output:
	// started: HI
	// echo: ONE
	// echo: TWO
	// result: 2 <nil>
	// err: <nil>
}

func ExampleNursery_RunInActor() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			var portals []*tractor.Portal
			for i := 1; i <= 3; i++ {
				p, err := n.RunInActor(ctx, fmt.Sprint("cuber-", i), exCube.Bind(i))
				if err != nil {
					return err
				}
				portals = append(portals, p)
			}
			for _, p := range portals {
				v, err := exCube.Result(ctx, p)
				if err != nil {
					return err
				}
				fmt.Println(p.Actor().Name, "returned", v)
			}
			return nil // one-shot actors end with their result
		})
	})
	fmt.Println("err:", err)
	// Output:
	// cuber-1 returned 1
	// cuber-2 returned 8
	// cuber-3 returned 27
	// err: <nil>
}

func ExamplePortal_CancelActor() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "worker", tractor.Expose(exIdle))
			if err != nil {
				return err
			}
			// A task that runs until cancelled; Open returns once it has
			// started.
			c, err := exIdle.Open(ctx, p, struct{}{})
			if err != nil {
				return err
			}
			actors, _ := tractor.Actors(ctx)
			fmt.Println("live actors:", len(actors))

			// CancelActor cancels every task of the actor and returns
			// once the actor has ended.
			if err := p.CancelActor(ctx); err != nil {
				return err
			}
			actors, _ = tractor.Actors(ctx)
			fmt.Println("live actors:", len(actors))

			// The task was cancelled by a third party (the actor's
			// cancellation), not by its dialog: its outcome is a
			// *RemoteError that matches ErrContextCancelled and names the
			// canceller.
			_, err = exIdle.Result(ctx, c)
			var re *tractor.RemoteError
			if errors.As(err, &re) && errors.Is(err, tractor.ErrContextCancelled) {
				fmt.Println("task in", re.Actor.Name, "cancelled by", re.Canceller.Name)
			}
			return nil
		})
	})
	fmt.Println("err:", err)
	// Output:
	// live actors: 2
	// live actors: 1
	// task in worker cancelled by root
	// err: <nil>
}

func ExampleContext_Cancel() {
	err := exWorker(func(ctx context.Context, p *tractor.Portal) error {
		c, err := exIdle.Open(ctx, p, struct{}{})
		if err != nil {
			return err
		}
		first, err := tractor.First[string](c)
		if err != nil {
			return err
		}
		fmt.Println("started:", first)

		// The caller cancels its own dialog: the outcome is
		// ErrContextCancelled itself, an expected outcome, not a failure.
		c.Cancel()
		_, err = exIdle.Result(ctx, c)
		fmt.Println(err, err == tractor.ErrContextCancelled)
		return nil
	}, exIdle)
	fmt.Println("err:", err)
	// Output:
	// started: idling
	// tractor: context cancelled true
	// err: <nil>
}

// exAskCuber is a task that finds its sibling "cuber" by name and calls it
// directly.
var exAskCuber = tractor.Func("example.askCuber", func(ctx context.Context, x int) (int, error) {
	p, err := tractor.FindActor(ctx, "cuber")
	if err != nil {
		return 0, err
	}
	return exCube.Call(ctx, p, x)
})

// Two siblings: one finds the other through the registrar and calls it
// over a connection of their own.
func ExampleFindActor() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			if _, err := n.StartActor(ctx, "cuber", tractor.Expose(exCube)); err != nil {
				return err
			}
			asker, err := n.StartActor(ctx, "asker", tractor.Expose(exAskCuber))
			if err != nil {
				return err
			}
			v, err := exAskCuber.Call(ctx, asker, 3)
			fmt.Println("asker got", v, err)

			actors, err := tractor.Actors(ctx)
			if err != nil {
				return err
			}
			for _, a := range actors {
				fmt.Println("registered:", a.ID.Name, a.Hosting)
			}
			_, err = tractor.FindActor(ctx, "nobody")
			fmt.Println(errors.Is(err, tractor.ErrActorNotFound))
			return nil
		})
	})
	fmt.Println("err:", err)
	// Output:
	// asker got 27 <nil>
	// registered: asker goroutine
	// registered: cuber goroutine
	// registered: root process
	// true
	// err: <nil>
}

// A cluster of workers maps a function over inputs in parallel, and is
// cancelled as a whole when the body returns.
func ExampleOpenCluster() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenCluster(ctx, "cuber", 3, func(ctx context.Context, workers []*tractor.Portal) error {
			out := make([]int, 6)
			errs := make([]error, len(out))
			var wg sync.WaitGroup // every call has returned before the body does
			for i := range out {
				wg.Go(func() {
					out[i], errs[i] = exCube.Call(ctx, workers[i%len(workers)], i)
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				return err
			}
			fmt.Println(out)
			return nil
		}, tractor.Expose(exCube))
	})
	fmt.Println("err:", err)
	// Output:
	// [0 1 8 27 64 125]
	// err: <nil>
}
