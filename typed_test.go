package tractor_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/tractor-go/tractor"
)

// TestStreamAll: a stream's All yields every item and ends silently at
// io.EOF; it yields a failure once, with the zero value, and stops; and
// leaving the loop early leaves the stream open, the next item still there
// for Receive. Over every hosting, and for a generator of this process
// both through memory and through a dialog.
func TestStreamAll(t *testing.T) {
	for _, h := range hostings {
		t.Run(h.name, func(t *testing.T) { testStreamAll(t, h) })
	}
	t.Run("goroutine-dialog", func(t *testing.T) {
		defer tractor.ForceDialogStreams()()
		testStreamAll(t, goroutines)
	})
}

func testStreamAll(t *testing.T, h hosting) {
	withWorker(t, h, eps(count, streamThenFail), func(ctx context.Context, p *tractor.Portal) {
		t.Run("items then the end", func(t *testing.T) {
			s, err := count.Open(ctx, p, 50)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got []int
			for v, err := range s.All(ctx) {
				if err != nil {
					t.Fatalf("after %d items: %v", len(got), err)
				}
				got = append(got, v)
			}
			if want := upTo(50); !slices.Equal(got, want) {
				t.Fatalf("All yielded %v, want %v", got, want)
			}
			if _, err := s.Receive(ctx); err != io.EOF {
				t.Fatalf("Receive after All: %v, want io.EOF", err)
			}
		})
		t.Run("a failure once, then the end", func(t *testing.T) {
			s, err := streamThenFail.Open(ctx, p, 3)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got []int
			var errs []error
			for v, err := range s.All(ctx) {
				if err != nil {
					if v != 0 {
						t.Errorf("value %d beside the error, want 0", v)
					}
					errs = append(errs, err)
					continue // All stops by itself
				}
				got = append(got, v)
			}
			if !slices.Equal(got, upTo(3)) || len(errs) != 1 {
				t.Fatalf("All yielded %v and errors %v; want %v and one error", got, errs, upTo(3))
			}
			if re := asRemote(t, errs[0]); re.Message != "custom: stream broke" {
				t.Errorf("error %v, want the generator's failure", errs[0])
			}
		})
		t.Run("leaving early leaves the stream open", func(t *testing.T) {
			s, err := count.Open(ctx, p, 10)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for v, err := range s.All(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				if v == 3 {
					break
				}
			}
			if v, err := s.Receive(ctx); err != nil || v != 4 {
				t.Fatalf("Receive after leaving All at 3: %d, %v; want 4", v, err)
			}
		})
	})
}

// TestFuncResult: a one-shot actor's result comes typed from its
// endpoint's Result; asking another endpoint, or a daemon's portal, is a
// misuse, refused without waiting. Over every hosting.
func TestFuncResult(t *testing.T) {
	for _, h := range hostings {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.RunInActor(ctx, "squarer", square.Bind(7))
					if err != nil {
						return err
					}
					// fail is a Func[string, int]: the result types agree,
					// the endpoint does not.
					if _, err := fail.Result(ctx, p); !errors.Is(err, tractor.ErrMisuse) {
						t.Errorf("another endpoint's Result: %v, want ErrMisuse", err)
					}
					if v, err := square.Result(ctx, p); err != nil || v != 49 {
						t.Errorf("Result = %d, %v; want 49", v, err)
					}
					d, err := n.StartActor(ctx, "daemon", tractor.Expose(square))
					if err != nil {
						return err
					}
					if _, err := square.Result(ctx, d); !errors.Is(err, tractor.ErrMisuse) {
						t.Errorf("Result on a daemon's portal: %v, want ErrMisuse", err)
					}
					return d.CancelActor(ctx)
				})
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
