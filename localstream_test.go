package tractor_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
)

// genProbe is what the local stream tests' generator reports to, and
// waits on, when it runs in the test's process.
type genProbe struct {
	*inlineProbe
	free func() // closes release, once
}

var theGenProbe atomic.Pointer[genProbe]

// newGenProbe makes the probe of the test t, which releases the generator
// as it ends, so that a failing test does not hang its tree.
func newGenProbe(t *testing.T) *genProbe {
	pr := &genProbe{inlineProbe: newInlineProbe()}
	pr.free = sync.OnceFunc(func() { close(pr.release) })
	theGenProbe.Store(pr)
	t.Cleanup(func() { theGenProbe.Store(nil) })
	return pr
}

// await waits for c to be closed, failing the test after hangBound.
func await(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(hangBound):
		t.Fatalf("%s: not within %v", what, hangBound)
	}
}

// holdArg asks holdGen for Yield items, then to hold until cancelled.
type holdArg struct{ Yield int }

var (
	holdGen = tractor.Stream("test.local.hold", holdGenerate)
	// whoStreams yields the caller its ctx names.
	whoStreams = tractor.Stream("test.local.who", func(ctx context.Context, _ struct{}, yield func(tractor.ActorID) error) error {
		id, ok := tractor.Caller(ctx)
		if !ok {
			return errors.New("no caller in the generator's ctx")
		}
		return yield(id)
	})
)

// holdGenerate yields 0..a.Yield-1, then waits for its ctx to end,
// reports why, and waits for the test's release. It is a named function
// so that its goroutine can be found in a profile.
func holdGenerate(ctx context.Context, a holdArg, yield func(int) error) error {
	for i := range a.Yield {
		if err := yield(i); err != nil {
			return err
		}
	}
	pr := theGenProbe.Load()
	if pr == nil || !tractor.IsLocalStream(ctx) {
		// In a process actor, or through a dialog (WireCheck): the
		// probe is for generators streaming through memory.
		<-ctx.Done()
		return ctx.Err()
	}
	close(pr.entered)
	<-ctx.Done()
	pr.cause = context.Cause(ctx)
	close(pr.cancelled)
	<-pr.release
	pr.ended.Store(true)
	return ctx.Err()
}

// receiveInts receives 0..n-1 from s.
func receiveInts(ctx context.Context, t *testing.T, s *tractor.MsgStream[tractor.NoSend, int], n int) {
	t.Helper()
	for i := range n {
		v, err := s.Receive(ctx)
		if err != nil || v != i {
			t.Fatalf("item %d: %d, %v", i, v, err)
		}
	}
}

// TestLocalStreamCancelledWithItsActor: cancelling the callee actor while
// its generator streams to a caller of the same process cancels the
// generator (naming the canceller) and the actor's end waits for it,
// meanwhile refusing new streams; the generator's goroutine carries the
// callee's pprof labels. The caller receives the items, then the
// cancellation, as over a process's dialog.
func TestLocalStreamCancelledWithItsActor(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			local := h.byRef() // streams through memory, not a dialog
			pr := newGenProbe(t)
			err := run(t, h, func(ctx context.Context) error {
				root := tractor.CurrentActor(ctx).ID()
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "worker", tractor.Expose(holdGen))
					if err != nil {
						return err
					}
					defer pr.free()
					s, err := holdGen.Open(ctx, p, holdArg{Yield: 3})
					if err != nil {
						return err
					}
					defer s.Close()
					receiveInts(ctx, t, s, 3)
					if local {
						await(t, pr.entered, "the generator holds, streaming through memory")
						labels := labelsOf(t, "tractor_test.holdGenerate")
						if !strings.Contains(labels, `"`+tractor.LabelActor+`":"`+p.Actor().UID+`"`) {
							t.Errorf("the generator's goroutine has labels %s, want the callee's (%s)", labels, p.Actor().UID)
						}
					}
					cancelled := make(chan error, 1)
					go func() { cancelled <- p.CancelActor(ctx) }()
					if local {
						await(t, pr.cancelled, "the generator is cancelled")
						// The actor's end waits for the generator.
						waitBlocked(t, "tractor.(*taskGate).closeAndWait")
						late, err := holdGen.Open(ctx, p, holdArg{})
						if err != nil {
							t.Errorf("Open on an ending actor: %v", err)
						} else if err := errOf(late.Receive(ctx)); !errors.Is(err, tractor.ErrActorGone) {
							t.Errorf("stream of an ending actor: %v, want ErrActorGone", err)
						}
						if !strings.Contains(errString(pr.cause), root.String()) {
							t.Errorf("generator's cause %v, want a cancellation by %s", pr.cause, root)
						}
						pr.free()
					}
					if err := <-cancelled; err != nil {
						t.Errorf("CancelActor: %v", err)
					}
					if local && !pr.ended.Load() {
						t.Error("the actor ended before its generator returned")
					}
					wantCancelledBy(t, "receive", errOf(s.Receive(ctx)), p.Actor(), root)
					return nil
				})
			})
			if err != nil {
				t.Fatalf("tree: %v", err)
			}
		})
	}
}

// TestLocalStreamCloseBeforeEnd: closing a stream before its generator
// returned cancels the generator, as its caller, and waits for it; the
// items still queued are dropped, and the stream's outcome is the
// caller's own cancellation, as over a dialog. The wait is bounded by the
// cancel timeout: a generator that ignores its cancellation holds its
// actor's end, not its caller's Close.
func TestLocalStreamCloseBeforeEnd(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			local := h.byRef() // streams through memory, not a dialog
			pr := newGenProbe(t)
			withWorker(t, h, eps(holdGen), func(ctx context.Context, p *tractor.Portal) {
				defer pr.free()
				s, err := holdGen.Open(ctx, p, holdArg{Yield: 2})
				if err != nil {
					t.Fatal(err)
				}
				receiveInts(ctx, t, s, 1)
				if local {
					await(t, pr.entered, "the generator holds")
					go func() {
						select {
						case <-pr.cancelled:
						case <-pr.release: // the test ended first
						}
						pr.free()
					}()
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if local {
					if !pr.ended.Load() {
						t.Error("Close returned before the generator did")
					}
					me := tractor.CurrentActor(ctx).ID().String()
					if !strings.Contains(errString(pr.cause), me) {
						t.Errorf("generator's cause %v, want a cancellation by %s", pr.cause, me)
					}
				}
				if err := errOf(s.Receive(ctx)); err != tractor.ErrContextCancelled {
					t.Errorf("receive after Close: %v, want ErrContextCancelled", err)
				}
			})
		})
	}
	t.Run("bounded", func(t *testing.T) {
		pr := newGenProbe(t)
		err := run(t, goroutinesByRef, func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				p, err := n.StartActor(ctx, "worker", tractor.Expose(holdGen))
				if err != nil {
					return err
				}
				defer p.CancelActor(ctx)
				defer pr.free()
				s, err := holdGen.Open(ctx, p, holdArg{})
				if err != nil {
					return err
				}
				await(t, pr.entered, "the generator holds")
				if err := s.Close(); err != nil {
					return err
				}
				await(t, pr.cancelled, "the generator is cancelled")
				if pr.ended.Load() {
					t.Error("the generator ended before its release")
				}
				return nil
			})
		}, tractor.CancelTimeout(time.Nanosecond))
		if err != nil {
			t.Fatalf("tree: %v", err)
		}
	})
}

// TestLocalStreamCallerCancels: the end of the ctx a stream was opened
// with cancels its generator, whose cause names the caller; the stream's
// outcome is the caller's own cancellation.
func TestLocalStreamCallerCancels(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			local := h.byRef() // streams through memory, not a dialog
			pr := newGenProbe(t)
			pr.free()
			withWorker(t, h, eps(holdGen), func(ctx context.Context, p *tractor.Portal) {
				octx, cancel := context.WithCancel(ctx)
				defer cancel()
				s, err := holdGen.Open(octx, p, holdArg{Yield: 1})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				receiveInts(ctx, t, s, 1)
				if local {
					await(t, pr.entered, "the generator holds")
				}
				cancel()
				if err := errOf(s.Receive(ctx)); err != tractor.ErrContextCancelled {
					t.Errorf("receive: %v, want ErrContextCancelled", err)
				}
				me := tractor.CurrentActor(ctx).ID().String()
				if local && !strings.Contains(errString(pr.cause), me) {
					t.Errorf("generator's cause %v, want a cancellation by %s", pr.cause, me)
				}
			})
		})
	}
}

// TestLocalStreamCaller: a generator's ctx names its caller, whatever
// the hosting.
func TestLocalStreamCaller(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(whoStreams), func(ctx context.Context, p *tractor.Portal) {
				s, err := whoStreams.Open(ctx, p, struct{}{})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				id, err := s.Receive(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if me := tractor.CurrentActor(ctx).ID(); id != me {
					t.Errorf("the generator's caller is %v, want %v", id, me)
				}
			})
		})
	}
}

// TestLocalStreamWindow: a generator of this process whose receiver
// reads nothing parks once its window is full, never queues more, and
// stalls nothing but itself; it goes on as the receiver reads.
func TestLocalStreamWindow(t *testing.T) {
	withWorker(t, goroutinesByRef, eps(count, square), func(ctx context.Context, p *tractor.Portal) {
		const n, window = 100, 4
		s, err := count.Open(ctx, p, n, tractor.Window(window, 1<<20))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for i := range n {
			if i%10 == 0 {
				// The generator parks in its yield with the window full.
				waitBlocked(t, "tractor.(*localStream[...]).yield")
				if items, _ := tractor.Queued(s); i == 0 && items != window {
					t.Fatalf("stalled from the start: %d items queued, want the window's %d", items, window)
				}
				if v, err := square.Call(ctx, p, 3); err != nil || v != 9 {
					t.Fatalf("a call beside a stalled stream: %d, %v", v, err)
				}
			}
			if items, _ := tractor.Queued(s); items > window {
				t.Fatalf("before item %d: %d items queued, over the window of %d", i, items, window)
			}
			v, err := s.Receive(ctx)
			if err != nil || v != i {
				t.Fatalf("item %d: %d, %v", i, v, err)
			}
		}
	})
}

// errString is err's text, "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// fanIn yields 0..n*4-1 from four goroutines at once, n items each.
var fanIn = tractor.Stream("test.local.fanIn", func(ctx context.Context, n int, yield func(int) error) error {
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for k := range 4 {
		wg.Go(func() {
			for i := range n {
				if err := yield(k*n + i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
})

// TestStreamConcurrentEnds: several goroutines of a generator yield at
// once, and several receivers receive at once, through a small window:
// every item arrives once, and every receiver sees the end.
func TestStreamConcurrentEnds(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(fanIn), func(ctx context.Context, p *tractor.Portal) {
				const n = 2000
				s, err := fanIn.Open(ctx, p, n, tractor.Window(8, 1<<20))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var mu sync.Mutex
				got := make(map[int]int)
				var wg sync.WaitGroup
				for range 3 {
					wg.Go(func() {
						for {
							v, err := s.Receive(ctx)
							if err != nil {
								if err != io.EOF {
									t.Errorf("receive: %v", err)
								}
								return
							}
							mu.Lock()
							got[v]++
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				if len(got) != 4*n {
					t.Errorf("received %d distinct items, want %d", len(got), 4*n)
				}
				for v, k := range got {
					if k != 1 || v < 0 || v >= 4*n {
						t.Fatalf("item %d received %d times", v, k)
					}
				}
			})
		})
	}
}

// TestStreamEndReachesEveryReceiver: receivers waiting on a stream at
// once all see its end, here the cancellation Close makes.
func TestStreamEndReachesEveryReceiver(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			pr := newGenProbe(t)
			withWorker(t, h, eps(holdGen), func(ctx context.Context, p *tractor.Portal) {
				defer pr.free()
				go func() {
					select {
					case <-pr.cancelled:
					case <-pr.release:
					}
					pr.free()
				}()
				s, err := holdGen.Open(ctx, p, holdArg{})
				if err != nil {
					t.Fatal(err)
				}
				const receivers = 3
				errs := make(chan error, receivers)
				for range receivers {
					go func() { errs <- errOf(s.Receive(ctx)) }()
				}
				waiting := "tractor.(*dialog).take"
				if h.byRef() {
					waiting = "tractor.(*localStream[...]).takeSlow"
				}
				eventually(t, hangBound, "every receiver waits", func() bool { return tractortest.ParkedIn(waiting) == receivers })
				s.Close()
				for range receivers {
					if err := <-errs; err != tractor.ErrContextCancelled {
						t.Errorf("receive: %v, want ErrContextCancelled", err)
					}
				}
			})
		})
	}
}

// endlessEnd receives the error an endless generator's yield returned.
var endlessEnd = make(chan error, 1)

var (
	// endless yields until its yield fails, and reports why.
	endless = tractor.Stream("test.local.endless", func(ctx context.Context, _ int, yield func(int) error) error {
		for i := 0; ; i++ {
			if err := yield(i); err != nil {
				endlessEnd <- err
				return err
			}
		}
	})
	// forgetStream opens the root's endless generator with a ctx that
	// outlives its task, takes one item, and returns without Close.
	forgetStream = tractor.Func("test.local.forget", func(ctx context.Context, _ int) (int, error) {
		p, err := tractor.Root(ctx)
		if err != nil {
			return 0, err
		}
		s, err := endless.Open(context.WithoutCancel(ctx), p, 0)
		if err != nil {
			return 0, err
		}
		return s.Receive(ctx)
	})
)

// TestLocalStreamEndsWithItsCaller: the end of the actor that opened a
// stream and forgot it cancels the generator, as the end of its
// connection cancels a dialog's, whatever ctx it was opened with.
func TestLocalStreamEndsWithItsCaller(t *testing.T) {
	for _, dialogs := range []bool{false, true} {
		if dialogs {
			defer tractor.ForceDialogStreams()()
		}
		err := run(t, goroutinesByRef, func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				p, err := n.StartActor(ctx, "forgetful", tractor.Expose(forgetStream))
				if err != nil {
					return err
				}
				if _, err := forgetStream.Call(ctx, p, 0); err != nil {
					return err
				}
				if err := p.CancelActor(ctx); err != nil {
					return err
				}
				select {
				case err := <-endlessEnd:
					if !errors.Is(err, tractor.ErrActorGone) && !errors.Is(err, context.Canceled) {
						t.Errorf("dialogs %v: the generator's yield failed with %v, want its caller's loss", dialogs, err)
					}
				case <-time.After(hangBound):
					t.Errorf("dialogs %v: the generator still runs %v after its caller ended", dialogs, hangBound)
				}
				return nil
			})
		}, tractor.Expose(endless))
		if err != nil {
			t.Fatalf("dialogs %v: tree: %v", dialogs, err)
		}
	}
}
