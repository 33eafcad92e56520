package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tractor-go/tractor"
)

// spawnTree is a one-shot actor's work: below depth 0 it runs fanout
// one-shot children doing the same with depth-1; at depth 0 it waits for
// cancellation. Its error is its nursery's.
// It refers to itself, so it is declared in init (Go forbids the cycle in a
// package-level initialiser).
var spawnTree *tractor.FuncEndpoint[int, int]

func init() { spawnTree = tractor.Func("test.spawnTree", spawnTreeFn) }

func spawnTreeFn(ctx context.Context, depth int) (int, error) {
	if depth == 0 {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
		for i := range 3 {
			if _, err := n.RunInActor(ctx, fmt.Sprintf("d%d-%d", depth-1, i), spawnTree.Bind(depth-1)); err != nil {
				return err
			}
		}
		return nil
	})
	return 0, err
}

// holdTree builds a tree of daemon actors depth levels below the caller,
// each with three children; its first value is the subtree's size, sent
// once every actor of it is up. Then it holds until cancelled.
var holdTree *tractor.CtxEndpoint[int, int]

func init() { holdTree = tractor.Ctx("test.holdTree", holdTreeFn) }

func holdTreeFn(c *tractor.Context, depth int) (int, error) {
	if depth == 0 {
		if err := c.Started(1); err != nil {
			return 0, err
		}
		<-c.Done()
		return 0, c.Err()
	}
	err := tractor.OpenNursery(c, func(ctx context.Context, n *tractor.Nursery) error {
		size := 1
		for i := range 3 {
			p, err := n.StartActor(c, fmt.Sprintf("d%d-%d", depth-1, i), tractor.Expose(holdTree))
			if err != nil {
				return err
			}
			sub, err := holdTree.Open(n.Context(), p, depth-1)
			if err != nil {
				return err
			}
			k, err := tractor.First[int](sub)
			if err != nil {
				return err
			}
			size += k
		}
		if err := c.Started(size); err != nil {
			return err
		}
		<-n.Context().Done()
		return n.Context().Err()
	})
	return 0, err
}

// failDeep fails in a grandchild: root → failDeep(1) → fail.
var failDeep = tractor.Func("test.failDeep", func(ctx context.Context, msg string) (int, error) {
	var out int
	err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
		p, err := n.RunInActor(ctx, "grandchild", fail.Bind(msg))
		if err != nil {
			return err
		}
		out, err = fail.Result(ctx, p)
		return err
	})
	return out, err
})

func testRunInActor(t *testing.T, h hosting) {
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			var ps []*tractor.Portal
			for i := range 5 {
				p, err := n.RunInActor(ctx, fmt.Sprintf("sq%d", i), square.Bind(i))
				if err != nil {
					return err
				}
				ps = append(ps, p)
			}
			for i, p := range ps {
				if v, err := square.Result(ctx, p); err != nil || v != i*i {
					t.Errorf("one-shot %d: %d, %v", i, v, err)
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testOneCancelsAll(t *testing.T, h hosting) {
	var sibling *tractor.Portal
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			var err error
			// A sibling that would run forever, and a daemon.
			if sibling, err = n.RunInActor(ctx, "forever", sleepForever.Bind(struct{}{})); err != nil {
				return err
			}
			if _, err := n.StartActor(ctx, "daemon", tractor.Expose(square)); err != nil {
				return err
			}
			_, err = n.RunInActor(ctx, "failer", failAfter.Bind(20*time.Millisecond))
			return err
		})
	})
	// run bounds a nursery that fails to cancel its children; one that had
	// to kill them would report their deaths beside the failure (below).
	re := asRemote(t, err)
	if re.Actor.Name != "failer" || re.Message != "custom: failed on purpose" {
		t.Errorf("error from %v: %q", re.Actor, re.Message)
	}
	// Only the failure: the sibling's cancellation is not reported.
	if u, ok := err.(interface{ Unwrap() []error }); ok && len(u.Unwrap()) != 1 {
		t.Errorf("nursery returned %d errors, want 1: %v", len(u.Unwrap()), err)
	}
	// The cancelled sibling's own outcome says it was cancelled.
	if _, err := sleepForever.Result(context.Background(), sibling); !errors.Is(err, context.Canceled) && !errors.Is(err, tractor.ErrContextCancelled) {
		t.Errorf("sibling outcome = %v, want a cancellation", err)
	}
}

func testNurseryBodyError(t *testing.T, h hosting) {
	errBody := errors.New("body gave up")
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			if _, err := n.StartActor(ctx, "daemon", tractor.Expose(square)); err != nil {
				return err
			}
			if _, err := n.RunInActor(ctx, "forever", sleepForever.Bind(struct{}{})); err != nil {
				return err
			}
			return errBody
		})
	})
	if !errors.Is(err, errBody) {
		t.Fatalf("err = %v, want the body's error", err)
	}
	var re *tractor.RemoteError
	if errors.As(err, &re) {
		t.Errorf("cancelled children reported an error: %v", re)
	}
}

func testNurseryJoinsErrors(t *testing.T, h hosting) {
	errBody := errors.New("body saw the failure")
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.RunInActor(ctx, "failer", fail.Bind("first"))
			if err != nil {
				return err
			}
			if _, err := fail.Result(ctx, p); err == nil {
				return errors.New("expected the one-shot to fail")
			}
			return errBody
		})
	})
	if !errors.Is(err, errBody) {
		t.Errorf("err = %v, want the body's error joined", err)
	}
	if re := asRemote(t, err); re.Actor.Name != "failer" {
		t.Errorf("child error from %v", re.Actor)
	}
}

func testRelayPath(t *testing.T, h hosting) {
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			_, err := n.RunInActor(ctx, "child", failDeep.Bind("deep"))
			return err
		})
	})
	re := asRemote(t, err)
	if re.Actor.Name != "grandchild" || re.Message != "custom: deep" || re.Type != "*tractor_test.customError" {
		t.Errorf("error %+v, want the grandchild's", re)
	}
	var names []string
	for _, hop := range re.RelayPath {
		names = append(names, hop.Name)
	}
	if fmt.Sprint(names) != "[grandchild child]" {
		t.Errorf("relay path %v, want [grandchild child]", names)
	}
}

func testCancelTree(t *testing.T, h hosting) {
	// The tree leaves no goroutine behind: none but those of the process
	// that ran before it, such as the process-nats row's server and
	// connection (see rows).
	before := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- tractor.Run(ctx, func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				p, err := n.StartActor(ctx, "top", tractor.Expose(holdTree))
				if err != nil {
					return err
				}
				// Open returns once the whole subtree is up.
				c, err := holdTree.Open(ctx, p, 2)
				if err != nil {
					return err
				}
				size, err := tractor.First[int](c)
				if err != nil || size != 13 {
					t.Errorf("tree of %d actors (%v), want 13", size, err)
				}
				cancel()
				_, err = holdTree.Result(context.Background(), c)
				return err
			})
		}, h.opts...)
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("tree did not end after cancellation")
	}
	goleak.VerifyNone(t, before)
	if pids := descendants(); len(pids) > 0 {
		t.Errorf("processes left after the tree ended: %v", pids)
	}
}

func testCancelSoon(t *testing.T, h hosting) {
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "victim", tractor.Expose(cancelSoon, square))
			if err != nil {
				return err
			}
			_, err = cancelSoon.Call(ctx, p, struct{}{})
			re := asRemote(t, err)
			if !errors.Is(err, tractor.ErrContextCancelled) || re.Canceller != p.Actor() {
				t.Errorf("err = %v (canceller %v), want cancelled by the actor itself", err, re.Canceller)
			}
			// The actor tears itself down: further calls find it gone.
			eventually(t, hangBound, "actor gone", func() bool {
				_, err := square.Call(ctx, p, 2)
				return errors.Is(err, tractor.ErrActorGone)
			})
			return nil
		})
	})
	if err != nil {
		t.Fatalf("nursery: %v", err)
	}
}

func TestStartActorErrors(t *testing.T) {
	if err := tractor.OpenNursery(context.Background(), func(context.Context, *tractor.Nursery) error { return nil }); !errors.Is(err, tractor.ErrNoActor) {
		t.Errorf("OpenNursery outside Run: %v", err)
	}
	var saved *tractor.Nursery
	err := run(t, goroutines, func(ctx context.Context) error {
		if err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error { saved = n; return nil }); err != nil {
			return err
		}
		if _, err := saved.StartActor(ctx, "late"); !errors.Is(err, tractor.ErrNurseryClosed) {
			t.Errorf("StartActor after close: %v", err)
		}
		if _, err := saved.RunInActor(ctx, "late", tractor.Invocation{}); !errors.Is(err, tractor.ErrMisuse) {
			t.Errorf("RunInActor with empty invocation: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNurseryCancelledWhileProcessStarts: a nursery cancelled while a
// process child starts ends the start at once, under a ctx of the start
// that is still live: the child is killed and reaped, and StartActor
// says the nursery closed. The nursery is cancelled as the child's
// dial-back address is known, before the child starts.
func TestNurseryCancelledWhileProcessStarts(t *testing.T) {
	var nursery *tractor.Nursery
	defer tractor.SetChildListenHook(func(net.Addr) { nursery.Cancel() })()
	err := run(t, processTCP, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(_ context.Context, n *tractor.Nursery) error {
			nursery = n
			if _, err := n.StartActor(ctx, "late"); !errors.Is(err, tractor.ErrNurseryClosed) {
				t.Errorf("StartActor as the nursery is cancelled: %v, want ErrNurseryClosed", err)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testNurseryCancel: Nursery.Cancel ends every child, daemon and one-shot,
// gracefully: none is reported as an error. run bounds a hang; a child
// killed by the ladder instead of ending on its cancellation would be
// reported as a death.
func testNurseryCancel(t *testing.T, h hosting) {
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			for i := range 4 {
				if _, err := n.StartActor(ctx, fmt.Sprintf("d%d", i), tractor.Expose(square)); err != nil {
					return err
				}
			}
			if _, err := n.RunInActor(ctx, "forever", sleepForever.Bind(struct{}{})); err != nil {
				return err
			}
			n.Cancel()
			<-n.Context().Done()
			return nil
		})
	})
	if err != nil {
		t.Errorf("Nursery.Cancel: %v, want nil", err)
	}
}

func testNurseryPanicPropagates(t *testing.T, h hosting) {
	defer func() {
		if v := recover(); v != "body panic" {
			t.Errorf("recovered %v", v)
		}
	}()
	_ = run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			if _, err := n.StartActor(ctx, "daemon", tractor.Expose(square)); err != nil {
				return err
			}
			panic("body panic")
		})
	})
	t.Error("panic did not propagate")
}

// TestNurseryCancelAfterSomeEnded: daemons that ended on their own leave
// the nursery's watch, and its cancellation then reaches every other one,
// once, over every hosting.
func TestNurseryCancelAfterSomeEnded(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			var ps []*tractor.Portal
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					for i := range 5 {
						p, err := n.StartActor(ctx, fmt.Sprintf("d%d", i))
						if err != nil {
							return err
						}
						ps = append(ps, p)
					}
					for _, i := range []int{0, 2, 4} { // the head, the middle, the tail
						if err := ps[i].CancelActor(ctx); err != nil {
							return err
						}
					}
					n.Cancel()
					return nil
				})
			})
			if err != nil {
				t.Fatalf("tree: %v", err)
			}
			for i, p := range ps {
				if !tractor.Acknowledged(p) {
					t.Errorf("d%d ended unasked", i)
				}
			}
		})
	}
}

// TestResultAfterNurseryCancelled: a one-shot's failure cancels its
// nursery, and a body waiting for that result with the nursery's ctx (the
// ctx OpenNursery gives it) still gets the failure, not the cancellation
// it caused.
func TestResultAfterNurseryCancelled(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.RunInActor(ctx, "failing", fail.Bind("bad input"))
					if err != nil {
						return err
					}
					<-ctx.Done() // the failure has cancelled the nursery
					_, err = fail.Result(ctx, p)
					if re := asRemote(t, err); re.Actor.Name != "failing" {
						t.Errorf("Result after the nursery's cancellation: %v, want the child's failure", err)
					}
					return nil
				})
			})
			if re := asRemote(t, err); re.Actor.Name != "failing" {
				t.Errorf("nursery error: %v, want the child's failure", err)
			}
		})
	}
}
