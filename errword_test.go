package tractor_test

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/tractor-go/tractor"
)

// holdProcessGrandchild starts a grandchild actor in a process of its own,
// whatever the hosting, sends its pid as its first value, and holds it
// until cancelled or until the grandchild fails.
var holdProcessGrandchild = tractor.Ctx("test.holdProcessGrandchild", func(c *tractor.Context, _ struct{}) (int, error) {
	err := tractor.OpenNursery(c, func(ctx context.Context, n *tractor.Nursery) error {
		g, err := n.StartActor(ctx, "grandchild", tractor.Expose(pid), tractor.Spawn(tractor.Process))
		if err != nil {
			return err
		}
		gp, err := pid.Call(ctx, g, struct{}{})
		if err != nil {
			return err
		}
		if err := c.Started(gp); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	})
	return 0, err
})

// wantKilled checks that err reports, readable with errors.As, the death
// of the actor named name, process pid, by SIGKILL, and matches
// ErrActorDied and ErrActorGone.
func wantKilled(t *testing.T, what string, err error, name string, pid int) {
	t.Helper()
	var died *tractor.ActorDied
	if !errors.As(err, &died) {
		t.Fatalf("%s: %v (%T) carries no *tractor.ActorDied", what, err, err)
	}
	if died.Actor.Name != name || died.Pid != pid || died.Signal != syscall.SIGKILL || died.ExitCode != -1 {
		t.Errorf("%s: died = %+v, want %s, pid %d, SIGKILL", what, *died, name, pid)
	}
	if !errors.Is(err, tractor.ErrActorDied) || !errors.Is(err, tractor.ErrActorGone) {
		t.Errorf("%s: %v matches not both ErrActorDied and ErrActorGone", what, err)
	}
}

// TestKilledChildActorDied: a direct child killed with SIGKILL is reported,
// by the dialog its death broke and by its nursery, as one ActorDied naming
// it, its pid and the signal.
func TestKilledChildActorDied(t *testing.T) {
	for _, h := range processHostings {
		t.Run(h.name, func(t *testing.T) {
			var child int
			var callErr error
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "victim", tractor.Expose(pid, sleepForever, seen))
					if err != nil {
						return err
					}
					if child, err = pid.Call(ctx, p, struct{}{}); err != nil {
						return err
					}
					pending := make(chan error, 1)
					go func() {
						_, err := sleepForever.Call(ctx, p, struct{}{})
						pending <- err
					}()
					eventually(t, hangBound, "call under way", func() bool { return seenIn(ctx, t, p, "sleep.start") == 1 })
					syscall.Kill(child, syscall.SIGKILL)
					callErr = <-pending
					return callErr // the same death: reported once
				})
			})
			wantKilled(t, "call", callErr, "victim", child)
			wantKilled(t, "nursery", err, "victim", child)
			if u, ok := err.(interface{ Unwrap() []error }); ok && len(u.Unwrap()) != 1 {
				t.Errorf("the death reported %d times: %v", len(u.Unwrap()), err)
			}
			if pids := descendants(); len(pids) > 0 {
				t.Errorf("processes left: %v", pids)
			}
		})
	}
}

// TestKilledGrandchildActorDied: a grandchild killed with SIGKILL reaches
// the root, through its parent's nursery and the dialog with its parent,
// as the same ActorDied a direct child's death gives, on every hosting of
// its parent.
func TestKilledGrandchildActorDied(t *testing.T) {
	for _, h := range hostings {
		t.Run(h.name, func(t *testing.T) {
			var grandchild int
			var resultErr error
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "child", tractor.Expose(holdProcessGrandchild))
					if err != nil {
						return err
					}
					defer p.CancelActor(ctx)
					c, err := holdProcessGrandchild.Open(ctx, p, struct{}{})
					if err != nil {
						return err
					}
					if err := c.First(&grandchild); err != nil {
						return err
					}
					syscall.Kill(grandchild, syscall.SIGKILL)
					_, resultErr = holdProcessGrandchild.Result(ctx, c)
					return resultErr
				})
			})
			wantKilled(t, "result", resultErr, "grandchild", grandchild)
			wantKilled(t, "nursery", err, "grandchild", grandchild)
			if pids := descendants(); len(pids) > 0 {
				t.Errorf("processes left: %v", pids)
			}
		})
	}
}
