package tractor_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// inlineProbe is what the inline tests' endpoints report to, and wait on.
type inlineProbe struct {
	entered   chan struct{} // the task started
	cancelled chan struct{} // the task saw its ctx end
	release   chan struct{} // the task may return
	ended     atomic.Bool   // the task returned
	cause     error         // context.Cause of the task's ctx, once ended
	kept      context.Context
}

func newInlineProbe() *inlineProbe {
	return &inlineProbe{entered: make(chan struct{}), cancelled: make(chan struct{}), release: make(chan struct{})}
}

var theInlineProbe atomic.Pointer[inlineProbe]

var (
	// inlineGoroutine returns the id of the goroutine it runs on.
	inlineGoroutine = tractor.Func("test.inline.goroutine", func(ctx context.Context, _ struct{}) (string, error) {
		return goroutineID(), nil
	})
	// inlineHold waits for its ctx to end, reports why, then waits for
	// the test's release.
	inlineHold = tractor.Func("test.inline.hold", func(ctx context.Context, _ struct{}) (int, error) {
		pr := theInlineProbe.Load()
		if pr == nil { // in a process actor
			<-ctx.Done()
			return 0, ctx.Err()
		}
		close(pr.entered)
		<-ctx.Done()
		pr.cause = context.Cause(ctx)
		close(pr.cancelled)
		<-pr.release
		pr.ended.Store(true)
		return 0, ctx.Err()
	})
	// inlineKeep keeps its ctx past its return; with wait set it asks
	// for Done first, which makes the full context.
	inlineKeep = tractor.Func("test.inline.keep", func(ctx context.Context, wait bool) (bool, error) {
		if wait {
			select {
			case <-ctx.Done():
				return false, errors.New("done while running")
			default:
			}
		}
		theInlineProbe.Load().kept = ctx
		return ctx.Err() == nil, nil
	})
)

// goroutineID is the number in the first line of this goroutine's stack.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return strings.Fields(string(buf))[1]
}

// TestInlineCall: a call to a goroutine actor runs on the caller's
// goroutine, with one allocation (its ctx) and no hand-off; a call to a
// process actor does not.
func TestInlineCall(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(inlineGoroutine, square), func(ctx context.Context, p *tractor.Portal) {
				g, err := inlineGoroutine.Call(ctx, p, struct{}{})
				if err != nil {
					t.Fatal(err)
				}
				if inline := g == goroutineID(); inline != h.inProcess() {
					t.Errorf("%s: ran on the caller's goroutine: %v", h.name, inline)
				}
				if !h.byRef() {
					return // under WireCheck, the values' encodings allocate
				}
				if n := testing.AllocsPerRun(100, func() { _, _ = square.Call(ctx, p, 3) }); n > 1 {
					t.Errorf("a local call allocates %v times, want at most 1 (its task's ctx)", n)
				}
			})
		})
	}
}

// TestInlineTaskCancelledWithItsActor: cancelling the callee actor while
// its task runs on the caller's goroutine cancels the task, names the
// canceller, and the actor's end waits for the task; meanwhile new calls
// are refused as by an ending actor. Over processes the same calls give
// the same outcomes, through dialogs.
func TestInlineTaskCancelledWithItsActor(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			pr := newInlineProbe()
			theInlineProbe.Store(pr)
			err := run(t, h, func(ctx context.Context) error {
				root := tractor.CurrentActor(ctx).ID()
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "worker", tractor.Expose(inlineHold, square))
					if err != nil {
						return err
					}
					callErr := make(chan error, 1)
					go func() {
						_, err := inlineHold.Call(ctx, p, struct{}{})
						callErr <- err
					}()
					if h.inProcess() {
						<-pr.entered
					} else {
						waitBlocked(t, "tractor.(*dialog).take")
					}
					cancelled := make(chan error, 1)
					go func() { cancelled <- p.CancelActor(ctx) }()
					if h.inProcess() {
						<-pr.cancelled
						// The actor's end waits for the task.
						waitBlocked(t, "tractor.(*taskGate).closeAndWait")
						if _, err := square.Call(ctx, p, 2); !errors.Is(err, tractor.ErrActorGone) {
							t.Errorf("call to an ending actor: %v, want ErrActorGone", err)
						}
						var cc interface{ Error() string }
						if !errors.As(pr.cause, &cc) || !strings.Contains(pr.cause.Error(), root.String()) {
							t.Errorf("task's cause %v, want a cancellation by %s", pr.cause, root)
						}
						close(pr.release)
					}
					if err := <-cancelled; err != nil {
						t.Errorf("CancelActor: %v", err)
					}
					if h.inProcess() && !pr.ended.Load() {
						t.Error("the actor ended before its inline task returned")
					}
					wantCancelledBy(t, "call", <-callErr, p.Actor(), root)
					return nil
				})
			})
			if err != nil {
				t.Fatalf("tree: %v", err)
			}
		})
	}
}

// TestInlineCallerCancels: the end of the caller's ctx cancels the inline
// task, whose cause names the caller; the call returns the caller's
// cancellation, as a dialog's acknowledged one.
func TestInlineCallerCancels(t *testing.T) {
	pr := newInlineProbe()
	theInlineProbe.Store(pr)
	close(pr.release)
	withWorker(t, goroutines, eps(inlineHold), func(ctx context.Context, p *tractor.Portal) {
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			<-pr.entered
			cancel()
		}()
		_, err := inlineHold.Call(cctx, p, struct{}{})
		if !errors.Is(err, context.Canceled) || !errors.Is(err, tractor.ErrContextCancelled) {
			t.Errorf("call: %v, want context.Canceled and ErrContextCancelled", err)
		}
		me := tractor.CurrentActor(ctx).ID().String()
		if pr.cause == nil || !strings.Contains(pr.cause.Error(), me) {
			t.Errorf("task's cause %v, want a cancellation by %s", pr.cause, me)
		}
	})
}

// TestInlineCtxEndsWithTask: a task's ctx kept past its return is done,
// as a dialog's task's is, whether or not the task asked for Done.
func TestInlineCtxEndsWithTask(t *testing.T) {
	for _, wait := range []bool{false, true} {
		pr := newInlineProbe()
		theInlineProbe.Store(pr)
		withWorker(t, goroutines, eps(inlineKeep), func(ctx context.Context, p *tractor.Portal) {
			live, err := inlineKeep.Call(ctx, p, wait)
			if err != nil || !live {
				t.Fatalf("wait=%v: %v, %v: the task's ctx was not live while it ran", wait, live, err)
			}
			if pr.kept.Err() == nil {
				t.Errorf("wait=%v: the task's ctx is live after its return", wait)
			}
			select {
			case <-pr.kept.Done():
			default:
				t.Errorf("wait=%v: the task's ctx is not done after its return", wait)
			}
			if tractor.CurrentActor(pr.kept).ID() != p.Actor() {
				t.Errorf("wait=%v: the task's ctx names actor %v, want %v", wait, tractor.CurrentActor(pr.kept).ID(), p.Actor())
			}
		})
	}
}

// TestInlineLabels: while an inline task runs, its goroutine carries the
// callee's pprof labels; after the call, the caller's own again.
func TestInlineLabels(t *testing.T) {
	withWorker(t, goroutines, eps(inlineGoroutine), func(ctx context.Context, p *tractor.Portal) {
		pprof.Do(ctx, pprof.Labels("test.caller", "me"), func(ctx context.Context) {
			before := goroutineLabels(t)
			if !strings.Contains(before, `"test.caller":"me"`) {
				t.Fatalf("labels before the call: %s", before)
			}
			if _, err := inlineGoroutine.Call(ctx, p, struct{}{}); err != nil {
				t.Fatal(err)
			}
			if after := goroutineLabels(t); after != before {
				t.Errorf("labels after the call %s, want %s", after, before)
			}
		})
	})
}

// goroutineLabels returns the pprof labels of the calling goroutine, as
// a goroutine profile prints them: the record whose stack passes here.
func goroutineLabels(t *testing.T) string {
	t.Helper()
	return labelsOf(t, "tractor_test.goroutineLabels")
}

// labelsOf returns the pprof labels of the goroutines whose stack passes
// through fn, as a goroutine profile prints them.
func labelsOf(t *testing.T, fn string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	for _, rec := range strings.Split(buf.String(), "\n\n") {
		if !strings.Contains(rec, fn) {
			continue
		}
		for _, line := range strings.Split(rec, "\n") {
			if labels, ok := strings.CutPrefix(line, "# labels: "); ok {
				return labels
			}
		}
		return ""
	}
	t.Fatalf("no goroutine in %s in the profile", fn)
	return ""
}

// cancelSelf cancels its own actor through a portal to it, as a task of
// that actor, and returns what CancelActor said.
var cancelSelf = tractor.Func("test.inline.cancelSelf", func(ctx context.Context, _ struct{}) (string, error) {
	self := tractor.CurrentActor(ctx).ID()
	p, err := tractor.FindActor(ctx, self.Name)
	if err != nil {
		return "", err
	}
	return "", p.CancelActor(ctx)
})

// TestCancelFromWithin: a task that cancels its own actor (a portal to
// itself, found by name) does not wait for its own end: its CancelActor
// returns with its ctx, the actor ends, and the caller gets the task's
// cancellation by its own actor. In this process the call runs on the
// caller's goroutine, so the actor's wind-down cannot run there.
func TestCancelFromWithin(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "selfish", tractor.Expose(cancelSelf))
					if err != nil {
						return err
					}
					_, err = cancelSelf.Call(ctx, p, struct{}{})
					wantCancelledBy(t, "call", err, p.Actor(), p.Actor())
					return nil
				})
			})
			if err != nil {
				t.Fatalf("tree: %v", err)
			}
		})
	}
}

// TestLinkMadeOnFirstDialog: a goroutine actor that only serves calls and
// streams has no connection with its parent (its generators stream
// through memory); the first context dialog makes one, over which it then
// runs; and an actor cancelled before it had one ends all the same.
func TestLinkMadeOnFirstDialog(t *testing.T) {
	// By reference: under WireCheck, a generator streams through a
	// dialog, which makes the connection.
	err := run(t, goroutinesByRef, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "worker", tractor.Expose(square, count, returnEarly))
			if err != nil {
				return err
			}
			if v, err := square.Call(ctx, p, 4); err != nil || v != 16 {
				t.Fatalf("call: %v, %v", v, err)
			}
			s, err := count.Open(ctx, p, 3)
			if err != nil {
				return err
			}
			n3 := 0
			for {
				_, err := s.Receive(ctx)
				if err != nil {
					if !errors.Is(err, io.EOF) {
						t.Errorf("receive: %v", err)
					}
					break
				}
				n3++
			}
			s.Close()
			if n3 != 3 || tractor.Linked(p) {
				t.Errorf("streamed %d items, linked %v; want 3 items and no connection", n3, tractor.Linked(p))
			}
			c, err := returnEarly.Open(ctx, p, 1)
			if err != nil {
				return err
			}
			if v, err := returnEarly.Result(ctx, c); err != nil || v != 2 || !tractor.Linked(p) {
				t.Errorf("context dialog: %v, %v, linked %v; want 2 over a connection", v, err, tractor.Linked(p))
			}
			q, err := n.StartActor(ctx, "unlinked")
			if err != nil {
				return err
			}
			if err := q.CancelActor(ctx); err != nil || tractor.Linked(q) {
				t.Errorf("cancel of an actor never linked: %v (linked %v)", err, tractor.Linked(q))
			}
			return p.CancelActor(ctx)
		})
	})
	if err != nil {
		t.Fatalf("tree: %v", err)
	}
}

var (
	// goexit exits its goroutine, as t.FailNow does.
	goexit = tractor.Func("test.inline.goexit", func(ctx context.Context, _ int) (int, error) {
		runtime.Goexit()
		return 0, nil
	})
	// ctxErr says what its ctx's Err is.
	ctxErr = tractor.Func("test.inline.ctxErr", func(ctx context.Context, _ int) (string, error) {
		if err := ctx.Err(); err != nil {
			return err.Error(), nil
		}
		return "", nil
	})
)

// TestInlineGoexit: a function that exits its goroutine, run inline on
// its caller's, still leaves its actor: the actor ends, and its nursery
// with it, where the task would otherwise stay counted forever.
func TestInlineGoexit(t *testing.T) {
	err := run(t, goroutines, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "w", tractor.Expose(goexit))
			if err != nil {
				return err
			}
			exited := make(chan struct{})
			go func() {
				defer close(exited)
				_, _ = goexit.Call(ctx, p, 0)
				t.Error("the call returned: the function did not exit its goroutine")
			}()
			<-exited
			return p.CancelActor(ctx)
		})
	})
	if err != nil {
		t.Fatalf("tree: %v", err)
	}
}

// TestInlineRootDeadline: the root's ctx may end by its deadline; a task
// of the root then sees DeadlineExceeded, inline as through a dialog.
func TestInlineRootDeadline(t *testing.T) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_ = tractor.Run(ctx, func(ctx context.Context) error {
		p, err := tractor.Root(ctx)
		if err != nil {
			t.Fatal(err)
		}
		inline, err := ctxErr.Call(context.Background(), p, 0)
		if err != nil {
			t.Fatal(err)
		}
		dialog, err := tractor.CallRaw(context.Background(), p, "test.inline.ctxErr", 0)
		if err != nil {
			t.Fatal(err)
		}
		var viaDialog string
		if err := transport.Decode(dialog, &viaDialog); err != nil {
			t.Fatal(err)
		}
		if inline != context.DeadlineExceeded.Error() || inline != viaDialog {
			t.Errorf("the task's ctx.Err(): inline %q, through a dialog %q; want %q", inline, viaDialog, context.DeadlineExceeded)
		}
		return nil
	}, tractor.Expose(ctxErr), tractor.LogOutput(testLog{t}))
}

// TestInlineLabelsAfterRun: the goroutine that called Run has its own
// labels back once Run returns, inline calls made in its body or not.
func TestInlineLabelsAfterRun(t *testing.T) {
	before := goroutineLabels(t)
	withWorker(t, goroutines, eps(square), func(ctx context.Context, p *tractor.Portal) {
		if _, err := square.Call(ctx, p, 2); err != nil {
			t.Error(err)
		}
	})
	if after := goroutineLabels(t); after != before {
		t.Errorf("labels after Run %s, before %s", after, before)
	}
}

// TestOneShotGoexit: a one-shot goroutine actor whose function exits its
// goroutine fails, and its nursery says so and returns, rather than
// waiting for a result that cannot come.
func TestOneShotGoexit(t *testing.T) {
	var resultErr error
	err := run(t, goroutines, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.RunInActor(ctx, "quitter", goexit.Bind(0))
			if err != nil {
				return err
			}
			_, resultErr = goexit.Result(ctx, p)
			return nil
		})
	})
	if err == nil || !strings.Contains(err.Error(), "runtime.Goexit") || !strings.Contains(err.Error(), "quitter") {
		t.Errorf("nursery: %v, want the one-shot's failure naming runtime.Goexit and the actor", err)
	}
	asRemote(t, resultErr)
}
