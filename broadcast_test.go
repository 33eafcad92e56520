package tractor_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// tick yields 0..n-1, one every 10 ms.
var tick = tractor.Stream("test.tick", func(ctx context.Context, n int, yield func(int) error) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for i := range n {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := yield(i); err != nil {
			return err
		}
	}
	return nil
})

// collect receives ints from r until it fails, and returns them with the
// error that ended the loop.
func collect(ctx context.Context, r interface {
	Receive(context.Context) (int, error)
}) ([]int, error) {
	var out []int
	for {
		v, err := r.Receive(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
}

func upTo(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestSubscribe(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(count, streamThenFail, tick), func(ctx context.Context, p *tractor.Portal) {
				t.Run("every subscriber sees every item in order", func(t *testing.T) {
					const n = 2000
					s, err := count.Open(ctx, p, n)
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					subs := make([]*tractor.Subscription[int], 4)
					for i := range subs {
						if subs[i], err = s.Subscribe(n); err != nil {
							t.Fatal(err)
						}
					}
					got := make([][]int, len(subs))
					errs := make([]error, len(subs))
					var wg sync.WaitGroup
					for i, sub := range subs {
						wg.Go(func() { got[i], errs[i] = collect(ctx, sub) })
					}
					wg.Wait()
					for i := range subs {
						if errs[i] != io.EOF || !slices.Equal(got[i], upTo(n)) {
							t.Fatalf("subscriber %d: %d items, ended by %v", i, len(got[i]), errs[i])
						}
					}
					// The stream's own Receive is a subscriber too.
					own, err := collect(ctx, s)
					if err != io.EOF || !slices.Equal(own, upTo(n)) {
						t.Fatalf("stream's own Receive: %d items, %v", len(own), err)
					}
					if _, err := s.Subscribe(0); !errors.Is(err, tractor.ErrStreamClosed) {
						t.Fatalf("Subscribe after the end = %v; want ErrStreamClosed", err)
					}
				})
				t.Run("a lagging subscriber loses the oldest and is told how many", func(t *testing.T) {
					const n, window = 100, 10
					s, err := count.Open(ctx, p, n)
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					fast, _ := s.Subscribe(n)
					slow, _ := s.Subscribe(window)
					got, err := collect(ctx, fast)
					if err != io.EOF || !slices.Equal(got, upTo(n)) {
						t.Fatalf("fast subscriber: %d items, %v", len(got), err)
					}
					_, err = slow.Receive(ctx)
					var lag *tractor.LaggedError
					if !errors.As(err, &lag) || !errors.Is(err, tractor.ErrLagged) || lag.Missed != n-window {
						t.Fatalf("slow subscriber's first Receive = %v; want a LaggedError of %d", err, n-window)
					}
					got, err = collect(ctx, slow)
					if err != io.EOF || !slices.Equal(got, upTo(n)[n-window:]) {
						t.Fatalf("slow subscriber after its lag: %v, %v", got, err)
					}
				})
				t.Run("a failure reaches every subscriber after the items", func(t *testing.T) {
					s, err := streamThenFail.Open(ctx, p, 5)
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					a, _ := s.Subscribe(0)
					b, _ := s.Subscribe(0)
					for _, sub := range []*tractor.Subscription[int]{a, b} {
						got, err := collect(ctx, sub)
						re := asRemote(t, err)
						if !slices.Equal(got, upTo(5)) || re.Actor != p.Actor() || re.Message != "custom: stream broke" {
							t.Fatalf("subscriber got %v, then %+v", got, re)
						}
					}
				})
				t.Run("a subscriber that gives up leaves the others going", func(t *testing.T) {
					const n = 20
					s, err := tick.Open(ctx, p, n)
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					quitter, _ := s.Subscribe(0)
					stayer, _ := s.Subscribe(0)
					qctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
					defer cancel()
					// It may take a few items before its deadline ends a
					// Receive, on a slow machine.
					_, err = quitter.Receive(qctx)
					for err == nil {
						_, err = quitter.Receive(qctx)
					}
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("quitter = %v; want its deadline", err)
					}
					quitter.Close()
					if _, err := quitter.Receive(ctx); !errors.Is(err, tractor.ErrStreamClosed) {
						t.Fatalf("Receive after Close = %v; want ErrStreamClosed", err)
					}
					got, err := collect(ctx, stayer)
					if err != io.EOF || !slices.Equal(got, upTo(n)) {
						t.Fatalf("stayer: %v, %v", got, err)
					}
				})
				t.Run("no Subscribe after Close", func(t *testing.T) {
					s, err := count.Open(ctx, p, 10)
					if err != nil {
						t.Fatal(err)
					}
					s.Close()
					if _, err := s.Subscribe(0); !errors.Is(err, tractor.ErrStreamClosed) {
						t.Fatalf("Subscribe after Close = %v; want ErrStreamClosed", err)
					}
				})
			})
		})
	}
}
