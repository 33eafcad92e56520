package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

func testContextDialog(t *testing.T, h hosting) {
	withWorker(t, h, eps(echo, sleeper, selfCancel, misuse, returnEarly, seen), func(ctx context.Context, p *tractor.Portal) {
		t.Run("started arrives before any stream message", func(t *testing.T) {
			c, err := echo.Open(ctx, p, "hello")
			if err != nil {
				t.Fatal(err)
			}
			first, err := tractor.First[string](c)
			if err != nil || first != "hello" {
				t.Fatalf("first = %q, %v", first, err)
			}
			s, err := tractor.OpenStream[int, int](c)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(ctx, 41); err != nil {
				t.Fatal(err)
			}
			v, err := s.Receive(ctx)
			if err != nil || v != 41 {
				t.Fatalf("echo = %d, %v", v, err)
			}
			s.Close()
			if n, err := echo.Result(ctx, c); err != nil || n != 1 {
				t.Fatalf("result = %d, %v", n, err)
			}
		})
		t.Run("two-way stream echoes 10000 messages in order", func(t *testing.T) {
			const total = 10000
			c, err := echo.Open(ctx, p, "bulk")
			if err != nil {
				t.Fatal(err)
			}
			s, err := tractor.OpenStream[int, int](c)
			if err != nil {
				t.Fatal(err)
			}
			sendErr := make(chan error, 1)
			go func() {
				defer s.Close()
				for i := range total {
					if err := s.Send(ctx, i); err != nil {
						sendErr <- err
						return
					}
				}
				sendErr <- nil
			}()
			for i := range total {
				v, err := s.Receive(ctx)
				if err != nil {
					t.Fatalf("receive %d: %v", i, err)
				}
				if v != i {
					t.Fatalf("message %d is %d: out of order", i, v)
				}
			}
			if err := <-sendErr; err != nil {
				t.Fatal(err)
			}
			if _, err := s.Receive(ctx); err != io.EOF {
				t.Fatalf("after the last echo: %v, want io.EOF", err)
			}
			if n, err := echo.Result(ctx, c); err != nil || n != total {
				t.Fatalf("result = %d, %v", n, err)
			}
		})
		t.Run("close gives EOF after every prior message", func(t *testing.T) {
			c, err := echo.Open(ctx, p, "close")
			if err != nil {
				t.Fatal(err)
			}
			s, _ := tractor.OpenStream[int, int](c)
			for i := range 100 { // within one window: no receive needed
				if err := s.Send(ctx, i); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			if err := s.Send(ctx, 1); !errors.Is(err, tractor.ErrStreamClosed) {
				t.Errorf("Send after Close: %v, want ErrStreamClosed", err)
			}
			for i := range 100 {
				v, err := s.Receive(ctx)
				if err != nil || v != i {
					t.Fatalf("receive %d: %d, %v", i, v, err)
				}
			}
			for range 2 { // EOF is sticky
				if _, err := s.Receive(ctx); err != io.EOF {
					t.Fatalf("got %v, want io.EOF", err)
				}
			}
			if n, err := echo.Result(ctx, c); err != nil || n != 100 {
				t.Fatalf("result = %d, %v", n, err)
			}
		})
		t.Run("an item that is not an R fails alone", func(t *testing.T) {
			c, err := echo.Open(ctx, p, "wrong")
			if err != nil {
				t.Fatal(err)
			}
			// echo sends ints back: this side receives them as strings.
			s, err := tractor.OpenStream[int, string](c)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if err := s.Send(ctx, i); err != nil {
					t.Fatal(err)
				}
				if v, err := s.Receive(ctx); !errors.Is(err, tractor.ErrBadArgument) {
					t.Fatalf("item %d: %q, %v; want ErrBadArgument", i, v, err)
				}
			}
			s.Close()
			if _, err := s.Receive(ctx); err != io.EOF {
				t.Fatalf("after the items: %v, want io.EOF", err)
			}
			if n, err := echo.Result(ctx, c); err != nil || n != 2 {
				t.Fatalf("result = %d, %v", n, err)
			}
		})
		t.Run("caller cancel is an outcome", func(t *testing.T) {
			c, err := sleeper.Open(ctx, p, struct{}{})
			if err != nil {
				t.Fatal(err)
			}
			c.Cancel()
			select {
			case <-c.Done():
			case <-time.After(hangBound):
				t.Fatal("caller's Context not done after Cancel")
			}
			_, err = sleeper.Result(ctx, c)
			if !errors.Is(err, tractor.ErrContextCancelled) {
				t.Fatalf("result = %v, want ErrContextCancelled", err)
			}
			var re *tractor.RemoteError
			if errors.As(err, &re) {
				t.Errorf("self-cancel surfaced as a failure: %v", re)
			}
			if n := seenIn(ctx, t, p, "sleeper.cancelled"); n < 1 {
				t.Errorf("remote task was not cancelled")
			}
		})
		t.Run("cancelling the opener's ctx cancels the remote task", func(t *testing.T) {
			before := seenIn(ctx, t, p, "sleeper.cancelled")
			octx, cancel := context.WithCancel(ctx)
			c, err := sleeper.Open(octx, p, struct{}{})
			if err != nil {
				t.Fatal(err)
			}
			cancel()
			if _, err := sleeper.Result(ctx, c); !errors.Is(err, tractor.ErrContextCancelled) {
				t.Fatalf("result = %v, want ErrContextCancelled", err)
			}
			if n := seenIn(ctx, t, p, "sleeper.cancelled"); n != before+1 {
				t.Errorf("remote cancellations %d, want %d", n, before+1)
			}
		})
		t.Run("callee self-cancel is an error at the caller", func(t *testing.T) {
			c, err := selfCancel.Open(ctx, p, struct{}{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = selfCancel.Result(ctx, c)
			re := asRemote(t, err)
			if !errors.Is(err, tractor.ErrContextCancelled) || re.Canceller != p.Actor() {
				t.Errorf("result = %v (canceller %v), want cancelled by %v", err, re.Canceller, p.Actor())
			}
			select {
			case <-c.Done():
			default:
				t.Error("caller's Context not done after the callee cancelled")
			}
		})
		t.Run("misuse is refused", func(t *testing.T) {
			c, err := misuse.Open(ctx, p, struct{}{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := misuse.Result(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != "[stream-before-started started-twice stream-twice callee-first]" {
				t.Errorf("callee misuse checks: %v", got)
			}
			if err := c.Started(1); !errors.Is(err, tractor.ErrMisuse) {
				t.Errorf("caller Started: %v", err)
			}
		})
		t.Run("return without started", func(t *testing.T) {
			c, err := returnEarly.Open(ctx, p, 41)
			if err != nil {
				t.Fatal(err)
			}
			first, err := tractor.First[any](c)
			if err != nil || first != nil {
				t.Errorf("first = %v, %v; want nil", first, err)
			}
			if n, err := returnEarly.Result(ctx, c); err != nil || n != 42 {
				t.Errorf("result = %d, %v", n, err)
			}
		})
	})
}

func testActorCancelledUnderDialog(t *testing.T, h hosting) {
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "target", tractor.Expose(sleeper))
			if err != nil {
				return err
			}
			c, err := sleeper.Open(ctx, p, struct{}{})
			if err != nil {
				return err
			}
			// The dialog is not cancelled by its caller: the whole actor is.
			if err := p.CancelActor(ctx); err != nil {
				return err
			}
			_, err = sleeper.Result(ctx, c)
			re := asRemote(t, err)
			root := tractor.CurrentActor(ctx).ID()
			if !errors.Is(err, tractor.ErrContextCancelled) || re.Canceller != root {
				t.Errorf("result = %v (canceller %v), want an error cancelled by %v", err, re.Canceller, root)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testOneWayStream(t *testing.T, h hosting) {
	withWorker(t, h, eps(count, flood, streamThenFail, seen), func(ctx context.Context, p *tractor.Portal) {
		t.Run("delivers every item then EOF", func(t *testing.T) {
			s, err := count.Open(ctx, p, 1000)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i := range 1000 {
				v, err := s.Receive(ctx)
				if err != nil || v != i {
					t.Fatalf("item %d: %d, %v", i, v, err)
				}
			}
			if _, err := s.Receive(ctx); err != io.EOF {
				t.Fatalf("got %v, want io.EOF", err)
			}
			// Only a NoSend, written out on purpose, compiles.
			if err := s.Send(ctx, tractor.NoSend{}); !errors.Is(err, tractor.ErrMisuse) {
				t.Errorf("Send on a one-way stream: %v", err)
			}
		})
		t.Run("generator error reaches the receiver after the items", func(t *testing.T) {
			s, err := streamThenFail.Open(ctx, p, 3)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i := range 3 {
				v, err := s.Receive(ctx)
				if err != nil || v != i {
					t.Fatalf("item %d: %d, %v", i, v, err)
				}
			}
			_, err = s.Receive(ctx)
			if re := asRemote(t, err); re.Message != "custom: stream broke" {
				t.Errorf("got %v", err)
			}
		})

		t.Run("early close cancels the generator", func(t *testing.T) {
			s, err := flood.Open(ctx, p, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Receive(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if n := seenIn(ctx, t, p, "flood.stopped"); n != 1 {
				t.Errorf("generator stopped %d times, want 1", n)
			}
		})
	})
}

// testCancelThenResult: a caller that cancels its context dialog (or the
// ctx it opened it with) and then awaits the result must not, on its way, tell the callee that its stream
// is closed: a callee that reads its stream until io.EOF, and is cancelled
// while it waits for the next item, would otherwise read io.EOF instead of
// its cancellation and return a result, which the caller would take for
// the dialog's outcome though the task returned only because of it. The
// outcome is the cancellation, every time (found by rapid_test's
// TestContextEndpoints; the race is narrow, hence the rounds).
func testCancelThenResult(t *testing.T, h hosting) {
	rounds := 1000
	if !h.inProcess() {
		rounds = 100
	}
	withWorker(t, h, eps(echo), func(ctx context.Context, p *tractor.Portal) {
		for i := range rounds {
			// Odd rounds cancel the ctx the dialog was opened with, which
			// cancels it too.
			octx, cancel := context.WithCancel(ctx)
			defer cancel()
			c, err := echo.Open(octx, p, "hello")
			if err != nil {
				t.Fatal(err)
			}
			s, err := tractor.OpenStream[int, int](c)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(ctx, i); err != nil {
				t.Fatal(err)
			}
			if v, err := s.Receive(ctx); err != nil || v != i {
				t.Fatalf("echo of %d: %d, %v", i, v, err)
			}
			if i%2 == 0 {
				c.Cancel()
			} else {
				cancel()
			}
			if n, err := echo.Result(ctx, c); err != tractor.ErrContextCancelled {
				t.Fatalf("round %d: Result after Cancel = %d, %v; want bare ErrContextCancelled (the callee was waiting for an item)", i, n, err)
			}
		}
	})
}
