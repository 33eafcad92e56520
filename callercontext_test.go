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
// caller asks for the result. The in-process rows run in a synctest
// bubble, where the wait's bound passes only once nothing else can
// happen: a Context left uncancelled fails at once, not after the bound.
// (Its name puts it among the tests that scripts/mutation runs for the
// root package.)
func TestContextCalleeErrorCancelsCaller(t *testing.T) {
	// check may run on the tree's goroutine: it reports with t.Error.
	check := func(t *testing.T, ctx context.Context, p *tractor.Portal) {
		c, err := startedThenFail.Open(ctx, p, "boom")
		if err != nil {
			t.Error(err)
			return
		}
		select {
		case <-c.Done():
		case <-time.After(20 * time.Second): // bounds a hang only
			t.Error("the callee failed, but the caller's Context was not cancelled")
			return
		}
		var re *tractor.RemoteError
		if cause := context.Cause(c); !errors.As(cause, &re) || re.Message != "boom" || re.Actor != p.Actor() {
			t.Errorf("the caller's Context ended with %v; want the callee's error", cause)
		}
		if _, err := startedThenFail.Result(ctx, c); !errors.As(err, &re) {
			t.Errorf("Result = %v; want the callee's error", err)
		}
	}
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			if !h.inProcess() {
				withWorker(t, h, eps(startedThenFail), func(ctx context.Context, p *tractor.Portal) { check(t, ctx, p) })
				return
			}
			bubble(t, h, new(clockLog), func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "worker", tractor.Expose(startedThenFail))
					if err != nil {
						return err
					}
					defer n.Cancel()
					check(t, ctx, p)
					return nil
				})
			})
		})
	}
}
