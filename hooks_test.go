package tractor_test

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// rootID returns the id of the root of the caller's program, reached
// through tractor.Root.
var rootID = tractor.Func("test.rootID", func(ctx context.Context, _ struct{}) (tractor.ActorID, error) {
	p, err := tractor.Root(ctx)
	if err != nil {
		return tractor.ActorID{}, err
	}
	return p.Actor(), nil
})

// grandRootID asks a child of its own for the root's id.
var grandRootID = tractor.Func("test.grandRootID", func(ctx context.Context, _ struct{}) (tractor.ActorID, error) {
	var id tractor.ActorID
	err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
		p, err := n.StartActor(ctx, "grandchild", tractor.Expose(rootID))
		if err != nil {
			return err
		}
		defer p.CancelActor(ctx)
		id, err = rootID.Call(ctx, p, struct{}{})
		return err
	})
	return id, err
})

// TestRoot: every actor, at any depth and on any hosting, reaches its
// program's root.
func TestRoot(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(rootID, grandRootID), func(ctx context.Context, p *tractor.Portal) {
				root := tractor.CurrentActor(ctx).ID()
				if id, err := rootID.Call(ctx, p, struct{}{}); err != nil || id != root {
					t.Fatalf("child reached %v, %v; want %v", id, err, root)
				}
				if id, err := grandRootID.Call(ctx, p, struct{}{}); err != nil || id != root {
					t.Fatalf("grandchild reached %v, %v; want %v", id, err, root)
				}
				self, err := tractor.Root(ctx)
				if err != nil || self.Actor() != root {
					t.Fatalf("root reached %v, %v", self, err)
				}
			})
		})
	}
}

// TestBeforeCancel: a nursery cancelling its children first calls the
// hook for each, and waits for it: the child still serves while its hook
// runs, and the nursery returns only after every hook has.
func TestBeforeCancel(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	hook := func(ctx context.Context, child tractor.ActorID) bool {
		p, err := tractor.FindActor(ctx, child.Name)
		if err == nil {
			_, err = square.Call(ctx, p, 2)
		}
		if err != nil {
			t.Errorf("child %s while its hook runs: %v", child.Name, err)
		}
		mu.Lock()
		seen = append(seen, child.Name)
		mu.Unlock()
		return false
	}
	err := run(t, goroutines, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			for _, name := range []string{"a", "b"} {
				if _, err := n.StartActor(ctx, name, tractor.Expose(square)); err != nil {
					return err
				}
			}
			n.Cancel()
			return nil
		})
	}, tractor.BeforeCancel(hook))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, ",") != "a,b" && strings.Join(seen, ",") != "b,a" {
		t.Fatalf("hook saw %v when the nursery returned; want a and b", seen)
	}
}

// TestOnTaskError: the hook sees a task's failure and a panic with its
// stack, before the caller gets the error, and not a cancellation.
func TestOnTaskError(t *testing.T) {
	type failure struct {
		endpoint, err string
		stack         string
	}
	var mu sync.Mutex
	var got []failure
	hook := func(ctx context.Context, endpoint string, err error, stack []byte) {
		mu.Lock()
		got = append(got, failure{endpoint, err.Error(), string(stack)})
		mu.Unlock()
	}
	err := run(t, goroutines, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "w", tractor.Expose(fail, boom, sleepForever))
			if err != nil {
				return err
			}
			defer p.CancelActor(ctx)
			if _, err := fail.Call(ctx, p, "no"); err == nil {
				t.Fatal("fail succeeded")
			}
			mu.Lock()
			if len(got) != 1 || got[0].endpoint != "test.fail" || !strings.Contains(got[0].err, "no") {
				t.Fatalf("after a failure the hook saw %+v", got)
			}
			mu.Unlock()
			if _, err := boom.Call(ctx, p, "bang"); !errors.Is(err, tractor.ErrPanic) {
				t.Fatalf("panic call = %v", err)
			}
			cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			sleepForever.Call(cctx, p, struct{}{}) // a cancellation, not a failure
			return nil
		})
	}, tractor.OnTaskError(hook))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].endpoint != "test.panic" || !strings.Contains(got[1].stack, "endpoints_test.go") {
		t.Fatalf("hook saw %d failures (a cancellation must not count): %+v", len(got), got)
	}
}

// sigIgn returns the SigIgn mask of a program the actor runs.
var sigIgn = tractor.Func("test.sigIgn", func(ctx context.Context, _ struct{}) (string, error) {
	out, err := exec.CommandContext(ctx, "grep", "SigIgn", "/proc/self/status").Output()
	return strings.TrimSpace(string(out)), err
})

// TestInterruptInChildrenOfActors: a process actor disregards SIGINT (the
// root decides), but the programs it runs do not inherit that.
func TestInterruptInChildrenOfActors(t *testing.T) {
	withWorker(t, processPipe, eps(sigIgn), func(ctx context.Context, p *tractor.Portal) {
		line, err := sigIgn.Call(ctx, p, struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "SigIgn:")), 16, 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if mask&(1<<(syscall.SIGINT-1)) != 0 {
			t.Fatalf("a program run by a process actor ignores SIGINT (%s)", line)
		}
	})
}
