package tractor_test

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tractor-go/tractor"
)

// The tests' endpoints, declared at package level as users do. They keep no
// state shared between actors: what a test observes in an actor it reads
// back through that actor's own endpoints (see seen), so the same tests can
// run with actors in other processes.
var (
	square = tractor.Func("test.square", func(ctx context.Context, x int) (int, error) {
		return x * x, nil
	})
	fail = tractor.Func("test.fail", func(ctx context.Context, msg string) (int, error) {
		return 0, &customError{msg}
	})
	boom = tractor.Func("test.panic", func(ctx context.Context, msg string) (int, error) {
		panic(msg)
	})
	// sleepForever blocks until cancelled and records that it was.
	sleepForever = tractor.Func("test.sleepForever", func(ctx context.Context, _ struct{}) (int, error) {
		mark(ctx, "sleep.start")
		<-ctx.Done()
		mark(ctx, "sleep.cancelled")
		return 0, ctx.Err()
	})
	failAfter = tractor.Func("test.failAfter", func(ctx context.Context, d time.Duration) (int, error) {
		select {
		case <-time.After(d):
			return 0, &customError{"failed on purpose"}
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	cancelSoon = tractor.Func("test.cancelSoon", func(ctx context.Context, _ struct{}) (int, error) {
		tractor.CurrentActor(ctx).CancelSoon() // synchronous: returns at once
		<-ctx.Done()
		return 0, ctx.Err()
	})
	// seen returns how often mark(key) ran in this actor.
	seen = tractor.Func("test.seen", func(ctx context.Context, key string) (int64, error) {
		return counter(ctx, key).Load(), nil
	})
	count = tractor.Stream("test.count", func(ctx context.Context, n int, yield func(int) error) error {
		for i := range n {
			if err := yield(i); err != nil {
				return err
			}
		}
		return nil
	})
	// flood yields n items and records how many it has sent so far.
	flood = tractor.Stream("test.flood", func(ctx context.Context, n int, yield func(int) error) error {
		for i := range n {
			if err := yield(i); err != nil {
				mark(ctx, "flood.stopped")
				return err
			}
			mark(ctx, "flood.sent")
		}
		return nil
	})
	streamThenFail = tractor.Stream("test.streamThenFail", func(ctx context.Context, n int, yield func(int) error) error {
		for i := range n {
			if err := yield(i); err != nil {
				return err
			}
		}
		return &customError{"stream broke"}
	})
	echo = tractor.Ctx("test.echo", func(c *tractor.Context, greeting string) (int, error) {
		if err := c.Started(greeting); err != nil {
			return 0, err
		}
		s, err := tractor.OpenStream[int, int](c)
		if err != nil {
			return 0, err
		}
		defer s.Close()
		n := 0
		for {
			v, err := s.Receive(c)
			if err != nil {
				if errors.Is(err, io.EOF) {
					return n, nil
				}
				return n, err
			}
			if err := s.Send(c, v); err != nil {
				return n, err
			}
			n++
		}
	})
	// sleeper sends Started, then waits to be cancelled.
	sleeper = tractor.Ctx("test.sleeper", func(c *tractor.Context, _ struct{}) (string, error) {
		if err := c.Started("ready"); err != nil {
			return "", err
		}
		<-c.Done()
		mark(c, "sleeper.cancelled")
		return "", c.Err()
	})
	// selfCancel sends Started, then cancels its own dialog.
	selfCancel = tractor.Ctx("test.selfCancel", func(c *tractor.Context, _ struct{}) (string, error) {
		if err := c.Started("ready"); err != nil {
			return "", err
		}
		c.Cancel()
		<-c.Done()
		return "", c.Err()
	})
	misuse = tractor.Ctx("test.misuse", func(c *tractor.Context, _ struct{}) ([]string, error) {
		var errs []string
		if _, err := tractor.OpenStream[int, int](c); errors.Is(err, tractor.ErrMisuse) {
			errs = append(errs, "stream-before-started")
		}
		if err := c.Started(1); err != nil {
			return nil, err
		}
		if err := c.Started(2); errors.Is(err, tractor.ErrMisuse) {
			errs = append(errs, "started-twice")
		}
		if _, err := tractor.OpenStream[int, int](c); err != nil {
			return nil, err
		}
		if _, err := tractor.OpenStream[int, int](c); errors.Is(err, tractor.ErrMisuse) {
			errs = append(errs, "stream-twice")
		}
		if _, err := tractor.First[int](c); errors.Is(err, tractor.ErrMisuse) {
			errs = append(errs, "callee-first")
		}
		return errs, nil
	})
	// returnEarly returns without Started.
	returnEarly = tractor.Ctx("test.returnEarly", func(c *tractor.Context, x int) (int, error) {
		return x + 1, nil
	})
)

type customError struct{ msg string }

func (e *customError) Error() string { return "custom: " + e.msg }

// counters holds mark's counts, per actor uid and key.
var counters sync.Map

func counter(ctx context.Context, key string) *atomic.Int64 {
	k := tractor.CurrentActor(ctx).ID().UID + "/" + key
	c, _ := counters.LoadOrStore(k, new(atomic.Int64))
	return c.(*atomic.Int64)
}

func mark(ctx context.Context, key string) { counter(ctx, key).Add(1) }

// pid returns the process id of the actor that runs it.
var pid = tractor.Func("test.pid", func(ctx context.Context, _ struct{}) (int, error) {
	return os.Getpid(), nil
})

// countRecv counts the items it receives until EOF.
var countRecv = tractor.Ctx("test.countRecv", func(c *tractor.Context, _ struct{}) (int, error) {
	return receiveCount[int](c)
})

// receiveCount is the body of a context endpoint that sends Started, opens
// its stream and counts the items, each decoded as a T, until EOF.
func receiveCount[T any](c *tractor.Context) (int, error) {
	if err := c.Started(nil); err != nil {
		return 0, err
	}
	s, err := tractor.OpenStream[T, T](c)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		_, err := s.Receive(c)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}

// quitEarly opens its stream and returns without reading it.
var quitEarly = tractor.Ctx("test.quitEarly", func(c *tractor.Context, _ struct{}) (int, error) {
	if err := c.Started(nil); err != nil {
		return 0, err
	}
	_, err := tractor.OpenStream[int, int](c)
	return 7, err
})

// cleaner fails for real while cleaning up after a cancellation.
var cleaner = tractor.Func("test.cleaner", func(ctx context.Context, _ struct{}) (int, error) {
	<-ctx.Done()
	return 0, &customError{"cleanup failed"}
})

// echoAny returns its argument, whatever its type.
var echoAny = tractor.Func("test.echoAny", func(ctx context.Context, v any) (any, error) {
	return v, nil
})

// exit ends the actor's process at once with the given status, as a
// crashing child would.
var exit = tractor.Func("test.exit", func(ctx context.Context, status int) (int, error) {
	os.Exit(status)
	return 0, nil
})
