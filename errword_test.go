package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
)

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

// sleepingCall calls sleepForever in the actor behind p from a goroutine,
// waits until the call is under way there, and returns the channel its
// error will come on.
func sleepingCall(ctx context.Context, t *testing.T, p *tractor.Portal) <-chan error {
	t.Helper()
	pending := make(chan error, 1)
	go func() {
		_, err := sleepForever.Call(ctx, p, struct{}{})
		pending <- err
	}()
	eventually(t, hangBound, "call under way", func() bool { return seenIn(ctx, t, p, "sleep.start") == 1 })
	return pending
}

// TestKilledChildActorDied: a direct child killed with SIGKILL is reported,
// by the dialog its death broke and by its nursery, as one ActorDied naming
// it, its pid and the signal.
func TestKilledChildActorDied(t *testing.T) {
	for _, h := range rows(processHostings) {
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
					pending := sleepingCall(ctx, t, p)
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

// TestHungChildBreaksDialogsAtOnce: a process child that drops its
// connection but goes on running (it hangs at exit) breaks the dialogs with
// it at once, with ErrActorGone, not once its ExitGrace (30s here) has run
// out; its nursery then terminates and reaps it, and reports how it ended.
func TestHungChildBreaksDialogsAtOnce(t *testing.T) {
	for _, h := range rows(processHostings) {
		t.Run(h.name, func(t *testing.T) {
			var child int
			var callErr error
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "hung", tractor.Expose(slowExit, breakLink, sleepForever, seen), tractor.ExitGrace(30*time.Second))
					if err != nil {
						return err
					}
					if child, err = slowExit.Call(ctx, p, exitPlan{Hold: true}); err != nil {
						return err
					}
					pending := sleepingCall(ctx, t, p)
					if _, err := breakLink.Call(ctx, p, struct{}{}); !errors.Is(err, tractor.ErrActorGone) {
						t.Errorf("call that broke the link: %v, want ErrActorGone", err)
					}
					select {
					case callErr = <-pending:
					case <-time.After(hangBound):
						t.Errorf("the blocked call had no error %v after its callee's connection dropped", hangBound)
						callErr = <-pending
					}
					return nil
				})
			})
			if !errors.Is(callErr, tractor.ErrActorGone) {
				t.Errorf("blocked call: %v, want ErrActorGone", callErr)
			}
			var died *tractor.ActorDied
			if !errors.As(err, &died) || died.Actor.Name != "hung" || died.Pid != child || died.Signal == 0 {
				t.Errorf("nursery: %v, want the hung child's death (pid %d) by the ladder's signal", err, child)
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
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			var grandchild int
			var resultErr error
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "child", tractor.Expose(holdGrandchild))
					if err != nil {
						return err
					}
					defer p.CancelActor(ctx)
					c, err := holdGrandchild.Open(ctx, p, grandchildIn{Process: true})
					if err != nil {
						return err
					}
					if grandchild, err = tractor.First[int](c); err != nil {
						return err
					}
					syscall.Kill(grandchild, syscall.SIGKILL)
					_, resultErr = holdGrandchild.Result(ctx, c)
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

// failStream sends n items on its stream, then fails; with closeFirst it
// closes its side of the stream before failing, as a deferred Close does.
var failStream = tractor.Ctx("test.failStream", func(c *tractor.Context, arg failStreamArg) (int, error) {
	if err := c.Started(arg.N); err != nil {
		return 0, err
	}
	s, err := tractor.OpenStream[int, int](c)
	if err != nil {
		return 0, err
	}
	for i := range arg.N {
		if err := s.Send(c, i); err != nil {
			return 0, err
		}
	}
	if arg.CloseFirst {
		s.Close()
	}
	return 0, &customError{`cannot parse "12x"`}
})

type failStreamArg struct {
	N          int
	CloseFirst bool
}

// returnAfter sends n items on its stream and returns.
var returnAfter = tractor.Ctx("test.returnAfter", func(c *tractor.Context, n int) (int, error) {
	if err := c.Started(n); err != nil {
		return 0, err
	}
	s, err := tractor.OpenStream[int, int](c)
	if err != nil {
		return 0, err
	}
	for i := range n {
		if err := s.Send(c, i); err != nil {
			return 0, err
		}
	}
	return n, nil
})

// wantCalleeFailure checks that err is the *RemoteError of failStream's
// failure in actor, not io.EOF.
func wantCalleeFailure(t *testing.T, what string, err error, actor tractor.ActorID) {
	t.Helper()
	var re *tractor.RemoteError
	if !errors.As(err, &re) || re.Actor != actor || !strings.HasSuffix(re.Message, `cannot parse "12x"`) {
		t.Fatalf("%s: %v (%T), want the callee's failure from %v", what, err, err, actor)
	}
}

// TestReceiveAfterCalleeFailure: on a context dialog's stream whose callee
// failed, the caller's Receive delivers the items sent before the failure,
// then returns the failure, the *RemoteError, on every later Receive, never
// io.EOF: over every hosting, whether the callee failed with its stream open
// or closed it first (once its error has arrived).
func TestReceiveAfterCalleeFailure(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(failStream), func(ctx context.Context, p *tractor.Portal) {
				t.Run("stream open", func(t *testing.T) {
					c, s := openFailStream(ctx, t, p, failStreamArg{N: 3})
					for i := range 3 {
						wantCalleeFailure(t, fmt.Sprintf("receive %d after the items", i), errOf(s.Receive(ctx)), p.Actor())
					}
					_, err := failStream.Result(ctx, c)
					wantCalleeFailure(t, "result", err, p.Actor())
				})
				t.Run("stream closed first", func(t *testing.T) {
					_, s := openFailStream(ctx, t, p, failStreamArg{N: 3, CloseFirst: true})
					// The stop and the error come one after the other: a
					// Receive between them sees the end of the callee's
					// sending, every one after the error its failure.
					var last error
					eventually(t, hangBound, "the callee's failure", func() bool {
						_, last = s.Receive(ctx)
						return last != io.EOF
					})
					wantCalleeFailure(t, "receive after the error", last, p.Actor())
					wantCalleeFailure(t, "next receive", errOf(s.Receive(ctx)), p.Actor())
				})
			})
		})
	}
}

// openFailStream opens a failStream dialog with arg and its stream, and
// receives the items it sends before failing.
func openFailStream(ctx context.Context, t *testing.T, p *tractor.Portal, arg failStreamArg) (*tractor.Context, *tractor.MsgStream[int, int]) {
	t.Helper()
	c, err := failStream.Open(ctx, p, arg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tractor.OpenStream[int, int](c)
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	for i := range arg.N {
		if v, err := s.Receive(ctx); err != nil || v != i {
			t.Fatalf("item %d: %d, %v", i, v, err)
		}
	}
	return c, s
}

// TestSendAfterPeerReturned: a Send on a stream whose callee has returned
// matches ErrStreamClosed and names the endpoint and the actor, on every
// hosting; so does one after this side closed it.
func TestSendAfterPeerReturned(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(returnAfter), func(ctx context.Context, p *tractor.Portal) {
				c, err := returnAfter.Open(ctx, p, 2)
				if err != nil {
					t.Fatal(err)
				}
				s, err := tractor.OpenStream[int, int](c)
				if err != nil {
					t.Fatal(err)
				}
				for _, err := range s.All(ctx) {
					if err != nil {
						t.Fatal(err)
					}
				}
				// The callee's return follows its stop: a Send before it
				// arrives still goes (to a dialog that is over).
				var sendErr error
				eventually(t, hangBound, "Send to fail", func() bool {
					sendErr = s.Send(ctx, 1)
					return sendErr != nil
				})
				wantStreamClosed(t, sendErr, p.Actor())
				s.Close()
				wantStreamClosed(t, s.Send(ctx, 1), p.Actor())
				if n, err := returnAfter.Result(ctx, c); err != nil || n != 2 {
					t.Errorf("result = %d, %v", n, err)
				}
			})
		})
	}
}

func wantStreamClosed(t *testing.T, err error, actor tractor.ActorID) {
	t.Helper()
	msg := fmt.Sprint(err)
	if !errors.Is(err, tractor.ErrStreamClosed) || !strings.Contains(msg, `"test.returnAfter"`) || !strings.Contains(msg, actor.String()) {
		t.Errorf("Send after the end: %v, want ErrStreamClosed naming test.returnAfter and %v", err, actor)
	}
}

// TestSpawnRacingCancel: a process actor's start under way when its
// nursery is cancelled fails with ErrNurseryClosed, not with the error of
// its cut-short handshake, and leaves no process behind.
func TestSpawnRacingCancel(t *testing.T) {
	for _, h := range rows(processHostings) {
		t.Run(h.name, func(t *testing.T) {
			var startErr error
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					started := make(chan struct{}) // the start has returned
					var canceller sync.WaitGroup
					defer canceller.Wait()
					canceller.Go(func() {
						// Once the start waits for its child, or has
						// failed before (the check below then fails).
						tick := time.NewTicker(time.Millisecond)
						defer tick.Stop()
						for !tractortest.BlockedIn("tractor.(*Nursery).spawnProcess") {
							select {
							case <-started:
							case <-tick.C:
								continue
							}
							break
						}
						n.Cancel()
					})
					_, err := n.StartActor(context.Background(), "late", tractor.Expose(square))
					close(started)
					startErr = err
					return nil
				})
			})
			if err != nil {
				t.Errorf("nursery: %v", err)
			}
			if !errors.Is(startErr, tractor.ErrNurseryClosed) || !strings.Contains(fmt.Sprint(startErr), `"late"`) {
				t.Errorf("start racing the cancel: %v, want ErrNurseryClosed naming the actor", startErr)
			}
			if pids := descendants(); len(pids) > 0 {
				t.Errorf("processes left: %v", pids)
			}
		})
	}
}

// wantPlainText checks that an error's text names no Go type ("[*…]")
// and says "tractor:" at most once.
func wantPlainText(t *testing.T, what string, err error) {
	t.Helper()
	msg := fmt.Sprint(err)
	if err == nil || strings.Contains(msg, "[*") || strings.Count(msg, "tractor:") > 1 {
		t.Errorf("%s: %q, want an error that names no Go type and says \"tractor:\" once at most", what, msg)
	}
}

// TestErrorTexts: the texts of a remote failure and of common errors
// read as sentences: a RemoteError says the actor and the message (its
// Go type stays in its Type field), and a wrapped library error says
// "tractor:" once, on every hosting.
func TestErrorTexts(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(failStream, returnAfter), func(ctx context.Context, p *tractor.Portal) {
				c, err := failStream.Open(ctx, p, failStreamArg{})
				if err != nil {
					t.Fatal(err)
				}
				_, err = tractor.First[struct{ X string }](c)
				wantPlainText(t, "First into the wrong type", err)
				_, err = failStream.Result(ctx, c)
				re := asRemote(t, err)
				if want := fmt.Sprintf(`actor %s: custom: cannot parse "12x"`, p.Actor()); err.Error() != want || re.Type != "*tractor_test.customError" {
					t.Errorf("remote failure: %q (type %q), want %q (type *tractor_test.customError)", err, re.Type, want)
				}
				_, err = square.Call(ctx, p, 2)
				if !errors.Is(err, tractor.ErrNotExposed) {
					t.Errorf("call to an endpoint not exposed: %v, want ErrNotExposed", err)
				}
				wantPlainText(t, "call to an endpoint not exposed", err)
				c2, err := returnAfter.Open(ctx, p, 0)
				if err != nil {
					t.Fatal(err)
				}
				s, err := tractor.OpenStream[int, int](c2)
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				wantPlainText(t, "Send after Close", s.Send(ctx, 1))
				if _, err := returnAfter.Result(ctx, c2); err != nil {
					t.Fatal(err)
				}
			})
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					n.Cancel()
					_, err := n.StartActor(context.Background(), "late")
					if !errors.Is(err, tractor.ErrNurseryClosed) {
						t.Errorf("start after cancel: %v, want ErrNurseryClosed", err)
					}
					wantPlainText(t, "start after cancel", err)
					return nil
				})
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
