package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tractor-go/tractor"
)

// Endpoints shared by the tests, declared at package level as users do.
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
	sleepForever = tractor.Func("test.sleepForever", func(ctx context.Context, _ struct{}) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	failAfter = tractor.Func("test.failAfter", func(ctx context.Context, d time.Duration) (int, error) {
		select {
		case <-time.After(d):
			return 0, errors.New("failed on purpose")
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	count = tractor.Stream("test.count", func(ctx context.Context, n int, yield func(int) error) error {
		for i := range n {
			if err := yield(i); err != nil {
				return err
			}
		}
		return nil
	})
	echo = tractor.Ctx("test.echo", func(c *tractor.Context, greeting string) (int, error) {
		if err := c.Started(greeting); err != nil {
			return 0, err
		}
		s, err := c.OpenStream()
		if err != nil {
			return 0, err
		}
		defer s.Close()
		n := 0
		for {
			var v any
			if err := s.Receive(c, &v); err != nil {
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
)

type customError struct{ msg string }

func (e *customError) Error() string { return "custom: " + e.msg }

var _ = fmt.Sprint
