package tractor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// warnLog is a log output that signals once a line containing want is
// written, and keeps every line.
type warnLog struct {
	want string
	seen chan struct{} // closed once a line has contained want

	mu    sync.Mutex
	lines []string
	at    time.Time // when that line was written
}

func newWarnLog(want string) *warnLog { return &warnLog{want: want, seen: make(chan struct{})} }

func (w *warnLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, string(p))
	if strings.Contains(string(p), w.want) && w.at.IsZero() {
		w.at = time.Now()
		close(w.seen)
	}
	return len(p), nil
}

// line returns the line that contained want.
func (w *warnLog) line() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.lines {
		if strings.Contains(l, w.want) {
			return l
		}
	}
	return ""
}

// A nursery whose body returned while a daemon still serves warns,
// naming the daemon and hinting at its cancel, waitWarning after the body
// returned: exactly, in virtual time (the tree of goroutine actors runs in
// a synctest bubble).
func TestNurseryWarnsOfForgottenDaemon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newWarnLog("daemon actors still serve")
		var returned time.Time
		err := Run(t.Context(), func(ctx context.Context) error {
			return OpenNursery(ctx, func(ctx context.Context, n *Nursery) error {
				p, err := n.StartActor(ctx, "forgotten")
				if err != nil {
					return err
				}
				// The forgotten daemon is cancelled only once the
				// nursery has said it waits for it.
				n.Go(func(ctx context.Context) error {
					<-log.seen
					return p.CancelActor(ctx)
				})
				returned = time.Now()
				return nil
			})
		}, LogOutput(log))
		if err != nil {
			t.Fatal(err)
		}
		line := log.line()
		for _, want := range []string{`"forgotten[`, "Portal.CancelActor", "Nursery.Cancel", `"tasks":1`} {
			if !strings.Contains(line, want) {
				t.Errorf("warning %q does not contain %q", line, want)
			}
		}
		if waited := log.at.Sub(returned); waited != waitWarning {
			t.Errorf("warned %v after the body returned, want %v", waited, waitWarning)
		}
	})
}

// holdCtx ignores its ctx until holdRelease is closed (each test run
// makes them anew).
var (
	holdEntered = make(chan struct{}, 1)
	holdRelease = make(chan struct{})
	holdCtx     = Func("test.warn.hold", func(ctx context.Context, _ int) (int, error) {
		holdEntered <- struct{}{}
		<-holdRelease
		return 0, nil
	})
)

// A CancelActor whose actor does not end (a task of it ignores its ctx)
// warns waitWarning after it asked, exactly (in virtual time), naming the
// actor, and waits on until its ctx ends.
func TestCancelActorWarnsWhenNotAcknowledged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Made in the bubble: a task blocked on a channel made outside
		// it is not durably blocked.
		holdEntered, holdRelease = make(chan struct{}, 1), make(chan struct{})
		log := newWarnLog("has not ended after CancelActor")
		const patience = 7 * time.Second // past the warning
		var asked time.Time
		err := Run(t.Context(), func(ctx context.Context) error {
			return OpenNursery(ctx, func(ctx context.Context, n *Nursery) error {
				p, err := n.StartActor(ctx, "stubborn", Expose(holdCtx))
				if err != nil {
					return err
				}
				n.Go(func(ctx context.Context) error {
					_, _ = holdCtx.Call(ctx, p, 0) // cancelled with its actor
					return nil
				})
				<-holdEntered
				asked = time.Now()
				cctx, cancel := context.WithTimeout(ctx, patience)
				defer cancel()
				err = p.CancelActor(cctx)
				if waited := time.Since(asked); waited != patience || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("CancelActor returned %v after %v, want context.DeadlineExceeded after %v", err, waited, patience)
				}
				close(holdRelease)
				return nil
			})
		}, LogOutput(log))
		if err != nil {
			t.Fatal(err)
		}
		if line := log.line(); !strings.Contains(line, `"stubborn[`) {
			t.Errorf("warning %q does not name the actor", line)
		}
		if waited := log.at.Sub(asked); waited != waitWarning {
			t.Errorf("warned %v after CancelActor, want %v", waited, waitWarning)
		}
	})
}

// A nursery kept open by a daemon alone warns of the daemon, with no
// count of tasks; one kept open by a task alone warns of its tasks: each
// of the two waits is named on its own, waitWarning after the body
// returned (in virtual time).
func TestNurseryWarnsOfDaemonAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newWarnLog("daemon actors still serve")
		var canceller sync.WaitGroup
		defer canceller.Wait()
		err := Run(t.Context(), func(ctx context.Context) error {
			return OpenNursery(ctx, func(nctx context.Context, n *Nursery) error {
				p, err := n.StartActor(nctx, "forgotten")
				if err != nil {
					return err
				}
				// Not a task of the nursery: the daemon is its only wait.
				canceller.Go(func() {
					<-log.seen
					if err := p.CancelActor(ctx); err != nil {
						t.Errorf("CancelActor: %v", err)
					}
				})
				return nil
			})
		}, LogOutput(log))
		if err != nil {
			t.Fatal(err)
		}
		line := log.line()
		if !strings.Contains(line, `"forgotten[`) {
			t.Errorf("warning %q does not name the daemon", line)
		}
		if strings.Contains(line, `"tasks"`) {
			t.Errorf("warning %q counts tasks, and none runs", line)
		}
	})
}

func TestNurseryWarnsOfTaskAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		log := newWarnLog("its tasks still run")
		var returned time.Time
		err := Run(t.Context(), func(ctx context.Context) error {
			return OpenNursery(ctx, func(ctx context.Context, n *Nursery) error {
				n.Go(func(context.Context) error {
					<-log.seen // ignores its ctx until the nursery warns
					return nil
				})
				returned = time.Now()
				return nil
			})
		}, LogOutput(log))
		if err != nil {
			t.Fatal(err)
		}
		if line := log.line(); !strings.Contains(line, `"tasks":1`) || !strings.Contains(line, "Nursery.Cancel") {
			t.Errorf("warning %q does not count the task and hint at Nursery.Cancel", line)
		}
		if waited := log.at.Sub(returned); waited != waitWarning {
			t.Errorf("warned %v after the body returned, want %v", waited, waitWarning)
		}
	})
}
