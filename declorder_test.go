package tractor_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// Types that only TestNumberRuleThroughCtx decodes: no declaration names
// them, so nothing checked them before a value of them first arrives.
type (
	declWide   struct{ L int }
	declLevelA uint8
	declFirst  struct{ L declLevelA }
	declLevelB uint8
	declItem   struct{ L declLevelB }
)

// declNumbers passes the caller 300 as its first value and as a stream
// item, in types the caller reads into uint8s of their own.
var declNumbers = tractor.Ctx("test.declNumbers", func(c *tractor.Context, _ int) (int, error) {
	if err := c.Started(declWide{L: 300}); err != nil {
		return 0, err
	}
	s, err := tractor.OpenStream[declWide, int](c)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if err := s.Send(c, declWide{L: 300}); err != nil {
		return 0, err
	}
	if _, err := s.Receive(c); err != io.EOF {
		return 0, err
	}
	return 1, nil
})

// TestNumberRuleThroughCtx: a context dialog's first value and stream
// items decode by the number rule into named numeric types that no
// declaration named, on every hosting: 300 into a uint8 of the caller's
// own fails with ErrBadArgument (by reference, because the types differ;
// through the codec, saying that 300 does not fit), where it used to
// arrive as 44.
func TestNumberRuleThroughCtx(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(declNumbers), func(ctx context.Context, p *tractor.Portal) {
				c, err := declNumbers.Open(ctx, p, 0)
				if err != nil {
					t.Fatal(err)
				}
				check := func(what string, got any, err error) {
					t.Helper()
					if !errors.Is(err, tractor.ErrBadArgument) {
						t.Errorf("%s: got %+v, %v; want ErrBadArgument", what, got, err)
					} else if !h.byRef() && !strings.Contains(err.Error(), "300 does not fit in tractor_test.declLevel") {
						t.Errorf("%s: %v; want it to say 300 does not fit", what, err)
					}
				}
				first, err := tractor.First[declFirst](c)
				check("first value", first, err)
				s, err := tractor.OpenStream[int, declItem](c)
				if err != nil {
					t.Fatal(err)
				}
				item, err := s.Receive(ctx)
				check("stream item", item, err)
				s.Close()
				if n, err := declNumbers.Result(ctx, c); err != nil || n != 1 {
					t.Fatalf("result = %d, %v", n, err)
				}
			})
		})
	}
}

// TestOpenStreamChecksItemTypes: OpenStream and First check their types
// as a declaration checks an endpoint's, on every hosting: a type that
// cannot cross a process gives an error matching ErrMisuse and
// transport.ErrEncode that names the type and the field, and a refused
// OpenStream leaves the stream unopened.
func TestOpenStreamChecksItemTypes(t *testing.T) {
	type withChan struct{ C chan int }
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(echo), func(ctx context.Context, p *tractor.Portal) {
				c, err := echo.Open(ctx, p, "hello")
				if err != nil {
					t.Fatal(err)
				}
				refused := func(what string, err error, want string) {
					t.Helper()
					if !errors.Is(err, tractor.ErrMisuse) || !errors.Is(err, transport.ErrEncode) || !strings.Contains(err.Error(), want) {
						t.Errorf("%s: %v; want ErrMisuse and ErrEncode saying %q", what, err, want)
					}
				}
				_, err = tractor.First[withChan](c)
				refused("First", err, "type tractor_test.withChan field .C: chan int cannot cross a process")
				_, err = tractor.OpenStream[withChan, int](c)
				refused("OpenStream sent", err, "sent item type tractor_test.withChan field .C: chan int")
				_, err = tractor.OpenStream[int, []func()](c)
				refused("OpenStream received", err, "received item type []func() field []: func()")

				s, err := tractor.OpenStream[int, int](c)
				if err != nil {
					t.Fatalf("OpenStream after refusals: %v", err)
				}
				if err := s.Send(ctx, 41); err != nil {
					t.Fatal(err)
				}
				if v, err := s.Receive(ctx); err != nil || v != 41 {
					t.Fatalf("echo = %d, %v", v, err)
				}
				s.Close()
				if n, err := echo.Result(ctx, c); err != nil || n != 1 {
					t.Fatalf("result = %d, %v", n, err)
				}
			})
		})
	}
}

type (
	declRecSlice []declRecSlice
	declRecMap   map[string]declRecMap
	declRecPtr   *declRecPtr
	declRecA     struct{ Bs []declRecB }
	declRecB     struct{ A map[int]*declRecA }
)

// TestDeclarationAcceptsRecursiveComposites: endpoints whose types refer
// to themselves through a slice, a map, a pointer or another struct are
// declared without a panic (the check once overflowed the stack at
// package init).
func TestDeclarationAcceptsRecursiveComposites(t *testing.T) {
	if got := declPanic(func() {
		tractor.Func("test.declorder.recursive", func(context.Context, declRecSlice) (declRecMap, error) { return nil, nil })
		tractor.Stream("test.declorder.recursive.stream", func(context.Context, declRecPtr, func(declRecA) error) error { return nil })
	}); got != "" {
		t.Fatalf("declaring panicked: %s", got)
	}
}
