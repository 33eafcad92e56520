package tractor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// startedThenFail sends its first value, then fails.
var startedThenFail = tractor.Ctx("test.startedThenFail", func(c *tractor.Context, msg string) (int, error) {
	if err := c.Started(msg); err != nil {
		return 0, err
	}
	return 0, errors.New(msg)
})

// TestContextCalleeErrorCancelsCaller: a callee's error cancels the
// caller's Context at once, with the error as its cause, before the
// caller asks for the result. (Its name puts it among the tests that
// scripts/mutation runs for the root package.)
func TestContextCalleeErrorCancelsCaller(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(startedThenFail), func(ctx context.Context, p *tractor.Portal) {
				c, err := startedThenFail.Open(ctx, p, "boom")
				if err != nil {
					t.Fatal(err)
				}
				select {
				case <-c.Done():
				case <-time.After(20 * time.Second): // bounds a hang only
					t.Fatal("the callee failed, but the caller's Context was not cancelled")
				}
				var re *tractor.RemoteError
				if cause := context.Cause(c); !errors.As(cause, &re) || re.Message != "boom" || re.Actor != p.Actor() {
					t.Fatalf("the caller's Context ended with %v; want the callee's error", cause)
				}
				if _, err := startedThenFail.Result(ctx, c); !errors.As(err, &re) {
					t.Fatalf("Result = %v; want the callee's error", err)
				}
			})
		})
	}
}
