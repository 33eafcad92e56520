// Command quickstart is a tour of tractor: it starts a root actor, spawns a
// daemon actor that exposes three endpoints, calls each kind of endpoint
// (a function, a one-way stream, a context dialog with a two-way stream),
// then shows cancellation: of one dialog, then of the whole actor; last, it
// runs the same endpoints in a child process by changing one option.
//
// Run it with:
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tractor-go/tractor"
)

// Endpoints are declared once, at package level, so every actor built from
// this binary knows them. An actor serves only those it was started with.
var (
	// square is a remote function: one argument, one result.
	square = tractor.Func("quickstart.square", func(ctx context.Context, x int) (int, error) {
		return x * x, nil
	})

	// count is a remote generator: it yields 0..n-1 to the caller.
	count = tractor.Stream("quickstart.count", func(ctx context.Context, n int, yield func(int) error) error {
		for i := range n {
			if err := yield(i); err != nil {
				return err
			}
		}
		return nil
	})

	// shout is a context dialog: it sends a first value with Started, then
	// echoes every string it receives in upper case until the caller closes
	// its side, and returns how many it echoed.
	shout = tractor.Ctx("quickstart.shout", func(c *tractor.Context, greeting string) (int, error) {
		if err := c.Started(strings.ToUpper(greeting)); err != nil {
			return 0, err
		}
		s, err := tractor.OpenStream[string, string](c)
		if err != nil {
			return 0, err
		}
		defer s.Close()
		n := 0
		// The loop ends when the caller closes its side (io.EOF).
		for v, err := range s.All(c) {
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

	// ticks is a generator that never ends on its own: it yields until its
	// caller cancels it.
	ticks = tractor.Stream("quickstart.ticks", func(ctx context.Context, _ struct{}, yield func(int) error) error {
		for i := 0; ; i++ {
			if err := yield(i); err != nil {
				return err // the dialog was cancelled
			}
			select {
			case <-time.After(time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})

	// wait is a long-running context dialog: it says it is ready, then
	// waits until the dialog is cancelled.
	wait = tractor.Ctx("quickstart.wait", func(c *tractor.Context, _ struct{}) (string, error) {
		if err := c.Started("ready"); err != nil {
			return "", err
		}
		<-c.Done()
		return "", c.Err()
	})

	// notExposed is registered in the binary but not exposed by the worker.
	notExposed = tractor.Func("quickstart.notExposed", func(ctx context.Context, _ struct{}) (int, error) {
		return 0, nil
	})
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tractor.Run(ctx, demo); err != nil {
		fmt.Println("FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("done")
}

func demo(ctx context.Context) error {
	fmt.Println("root actor started:", tractor.CurrentActor(ctx).Name())
	return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
		p, err := n.StartActor(ctx, "worker", tractor.Expose(square, count, shout, ticks, wait))
		if err != nil {
			return err
		}
		fmt.Println("started daemon actor", p.Actor().Name, "exposing square, count, shout, ticks, wait")
		fmt.Println("live actors:", names(tractor.Actors(ctx)))

		// A function call: one argument, one result.
		sq, err := square.Call(ctx, p, 7)
		if err != nil {
			return err
		}
		fmt.Println("square(7) =", sq)

		// An endpoint the worker was not started with is refused; the
		// worker keeps serving.
		if _, err := notExposed.Call(ctx, p, struct{}{}); !errors.Is(err, tractor.ErrNotExposed) {
			return fmt.Errorf("notExposed: want ErrNotExposed, got %v", err)
		}
		fmt.Println("calling an endpoint the worker does not expose: refused with ErrNotExposed")

		// A one-way stream from a remote generator; io.EOF ends it.
		if err := streamCount(ctx, p); err != nil {
			return err
		}

		// A context dialog: first value, two-way stream, result.
		if err := dialog(ctx, p); err != nil {
			return err
		}

		// Cancelling a dialog we opened: its outcome is ErrContextCancelled,
		// an expected outcome rather than a failure. First a stream, by
		// cancelling the ctx given to Open, then a context, with Cancel.
		if err := cancelStream(ctx, p); err != nil {
			return err
		}
		if err := cancelDialog(ctx, p); err != nil {
			return err
		}

		// Cancelling the whole actor: CancelActor returns once it has ended.
		if err := p.CancelActor(ctx); err != nil {
			return err
		}
		fmt.Println("cancelled actor worker; live actors:", names(tractor.Actors(ctx)))

		// The same endpoints, with the actor in a child process: one
		// option. The child is this binary re-executed; tractor.Run
		// serves the parent there.
		pp, err := n.StartActor(ctx, "proc-worker", tractor.Expose(square, count), tractor.Spawn(tractor.Process))
		if err != nil {
			return err
		}
		sq, err = square.Call(ctx, pp, 8)
		if err != nil {
			return err
		}
		fmt.Println("square(8) in a child process =", sq)
		if err := streamCount(ctx, pp); err != nil {
			return err
		}
		if err := pp.CancelActor(ctx); err != nil {
			return err
		}
		fmt.Println("cancelled the process actor; its process has exited")
		return nil
	})
}

func streamCount(ctx context.Context, p *tractor.Portal) error {
	s, err := count.Open(ctx, p, 5)
	if err != nil {
		return err
	}
	defer s.Close()
	var got []int
	for v, err := range s.All(ctx) { // until io.EOF
		if err != nil {
			return err
		}
		got = append(got, v)
	}
	fmt.Println("stream count(5) yielded", got, "then io.EOF")
	return nil
}

func dialog(ctx context.Context, p *tractor.Portal) error {
	c, err := shout.Open(ctx, p, "hello")
	if err != nil {
		return err
	}
	first, err := tractor.First[string](c)
	if err != nil {
		return err
	}
	fmt.Printf("context shout(%q) started with %q\n", "hello", first)
	s, err := tractor.OpenStream[string, string](c)
	if err != nil {
		return err
	}
	for _, word := range []string{"actors", "nurseries", "portals"} {
		if err := s.Send(ctx, word); err != nil {
			return err
		}
		echo, err := s.Receive(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("  sent %q, echoed %q\n", word, echo)
	}
	s.Close() // the callee's Receive returns io.EOF, and it returns
	n, err := shout.Result(ctx, c)
	if err != nil {
		return err
	}
	fmt.Println("context shout returned", n)
	return nil
}

func cancelStream(ctx context.Context, p *tractor.Portal) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := ticks.Open(sctx, p, struct{}{})
	if err != nil {
		return err
	}
	defer s.Close()
	var got []int
	for range 3 {
		v, err := s.Receive(ctx)
		if err != nil {
			return err
		}
		got = append(got, v)
	}
	fmt.Println("stream ticks yielded", got, "and would go on forever; cancelling its ctx")
	cancel()
	// Items already in flight are still delivered, then the outcome.
	for {
		if _, err = s.Receive(ctx); err != nil {
			break
		}
	}
	if err != tractor.ErrContextCancelled {
		return fmt.Errorf("cancelled stream: want ErrContextCancelled, got %v", err)
	}
	fmt.Println("stream ticks outcome:", err)
	return nil
}

func cancelDialog(ctx context.Context, p *tractor.Portal) error {
	c, err := wait.Open(ctx, p, struct{}{})
	if err != nil {
		return err
	}
	first, err := tractor.First[string](c)
	if err != nil {
		return err
	}
	fmt.Printf("context wait started with %q; cancelling it\n", first)
	c.Cancel()
	_, err = wait.Result(ctx, c)
	if err != tractor.ErrContextCancelled {
		return fmt.Errorf("cancelled dialog: want ErrContextCancelled, got %v", err)
	}
	fmt.Println("context wait outcome:", err)
	return nil
}

func names(infos []tractor.ActorInfo, err error) []string {
	if err != nil {
		return []string{err.Error()}
	}
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.ID.Name
	}
	return out
}
