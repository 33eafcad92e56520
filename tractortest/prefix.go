package tractortest

import (
	"context"
	"fmt"
	"io"
	"reflect"

	"pgregory.net/rapid"

	"github.com/tractor-go/tractor"
)

// StreamOf is a [Case] for a generator whose items are known from its
// argument: want(arg) is what it sends. It opens a stream from gen with
// an argument drawn from arg and receives from it until its end or,
// drawn at random anywhere along it, closes it early; the step may also
// be cancelled mid-stream. Whichever way the stream ends, the items
// received must be a prefix of want(arg), in order, without duplicates
// or gaps, and all of it if the stream was received to io.EOF.
func StreamOf[A, T any](gen *tractor.StreamEndpoint[A, T], arg *rapid.Generator[A], want func(arg A) []T) Case {
	return prefixCase[A, T]{gen, arg, want}
}

type prefixCase[A, T any] struct {
	gen  *tractor.StreamEndpoint[A, T]
	arg  *rapid.Generator[A]
	want func(A) []T
}

func (c prefixCase[A, T]) endpoints() []tractor.Endpoint { return []tractor.Endpoint{c.gen} }

// GoString names the case in the steps rapid prints.
func (c prefixCase[A, T]) GoString() string { return "stream of " + c.gen.Name() }

func (c prefixCase[A, T]) run(t *rapid.T, ctx context.Context, w *Worker) error {
	a := c.arg.Draw(t, c.gen.Name()+" argument")
	want := c.want(a)
	// Anywhere along the stream, its end included (closed after its last
	// item, before the Receive that would return io.EOF).
	stopAfter := rapid.IntRange(-1, len(want)).Draw(t, "close after (-1: never)")
	s, err := c.gen.Open(ctx, w.Portal, a)
	if err != nil {
		return outcomeError(ctx, w, err)
	}
	defer s.Close()
	for i := 0; ; i++ {
		if i == stopAfter {
			return s.Close() // closing early cancels the generator
		}
		v, err := s.Receive(ctx)
		switch {
		case err == io.EOF && i == len(want):
			if w.Ended {
				return fmt.Errorf("stream from ended actor %s ended cleanly", w.Portal.Actor())
			}
			return nil
		case err == io.EOF:
			return fmt.Errorf("%s(%#v) from %s: io.EOF after %d items of %d", c.gen.Name(), a, w.Portal.Actor(), i, len(want))
		case err != nil:
			// Cancelled mid-stream, or the worker's failure: what came
			// before was checked item by item.
			return outcomeError(ctx, w, err)
		case i >= len(want):
			return fmt.Errorf("%s(%#v) from %s: item %d is %#v, past the %d it sends", c.gen.Name(), a, w.Portal.Actor(), i, v, len(want))
		case !reflect.DeepEqual(v, want[i]):
			return fmt.Errorf("%s(%#v) from %s: item %d is %#v, want %#v (lost, duplicated or reordered)", c.gen.Name(), a, w.Portal.Actor(), i, v, want[i])
		}
	}
}
