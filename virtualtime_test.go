package tractor_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tractor-go/tractor"
)

// The runtime's timeouts, tested in virtual time: each test runs a tree of
// goroutine actors inside a testing/synctest bubble (the tree opens no
// socket, see Run), where time advances only once every goroutine of the
// bubble is blocked, so a timeout fires exactly when it is due, in
// microseconds of real time, whatever the load.
//
// The timeouts of process actors cannot run in a bubble: a child process
// and the sockets to it are outside it, and a goroutine blocked reading
// them is not durably blocked, so the fake clock would never advance. They
// are tested in real time, each bounded only against a hang:
//   - the ladder after an unacknowledged cancellation (CancelTimeout, then
//     SIGTERM, hardKillAfter, SIGKILL): TestLateCancelStillGraceful,
//     TestNurseryCancelSentPastItsTimeout;
//   - ExitGrace, the wait for a process whose connection has ended:
//     TestCancelActorSlowExit;
//   - deathWait, a broken connection's wait for its process's death:
//     TestDeathAfterBrokenLink, TestCrashBeforeCancel.
// The goroutine hosting has none of these: a goroutine cannot be killed,
// and its end is its connection's.

// clockLog is a log handler that keeps each record's message, its
// attributes as text, and the (virtual) time it was logged.
type clockLog struct {
	mu   sync.Mutex
	recs []clockRecord
}

type clockRecord struct {
	at    time.Time
	msg   string
	attrs string
}

func (l *clockLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *clockLog) Handle(_ context.Context, r slog.Record) error {
	var attrs strings.Builder
	r.Attrs(func(a slog.Attr) bool {
		attrs.WriteString(a.String() + " ")
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, clockRecord{at: time.Now(), msg: r.Message, attrs: attrs.String()})
	return nil
}

func (l *clockLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *clockLog) WithGroup(string) slog.Handler      { return l }

// since returns how long after start each record whose message or
// attributes contain text was logged.
func (l *clockLog) since(start time.Time, text string) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for _, r := range l.recs {
		if strings.Contains(r.msg+" "+r.attrs, text) {
			out = append(out, r.at.Sub(start))
		}
	}
	return out
}

// bubbleHostings are the hostings a tree runs with inside a bubble: the
// in-process ones.
var bubbleHostings = []hosting{goroutines, goroutinesByRef}

// bubble runs body as the body of a root, hosting its actors as h does,
// inside a synctest bubble, with log as its log handler.
func bubble(t *testing.T, h hosting, log *clockLog, body func(ctx context.Context) error, opts ...tractor.Option) {
	t.Helper()
	if !h.inProcess() {
		t.Fatalf("hosting %s cannot run in a bubble", h.name)
	}
	synctest.Test(t, func(t *testing.T) {
		opts = append(append([]tractor.Option{tractor.LogHandler(log)}, h.opts...), opts...)
		if err := tractor.Run(t.Context(), body, opts...); err != nil {
			t.Errorf("tree: %v", err)
		}
	})
}

// Stubborn tasks of each kind: they ignore their ctx until the test
// releases them (see stubbornGate).
var (
	stubbornStream = tractor.Stream("test.vt.stubbornStream", func(ctx context.Context, _ int, yield func(int) error) error {
		g := stubbornGate.Load()
		defer g.ended.Store(true)
		if err := yield(1); err != nil {
			return err
		}
		close(g.entered)
		<-g.release
		return ctx.Err()
	})
	stubbornCtx = tractor.Ctx("test.vt.stubbornCtx", func(c *tractor.Context, started bool) (int, error) {
		g := stubbornGate.Load()
		defer g.ended.Store(true)
		if started {
			if err := c.Started(0); err != nil {
				return 0, err
			}
		}
		close(g.entered)
		<-g.release
		return 0, c.Err()
	})
)

// stubbornTree runs body inside a bubble, in a root with a daemon
// "stubborn" that exposes the stubborn endpoints, on goroutines, with log
// as the tree's log handler; g, made inside the bubble (a task blocked on
// a channel made outside it is not durably blocked), is released once
// body has returned.
func stubbornTree(t *testing.T, h hosting, log *clockLog, body func(ctx context.Context, g *gate, p *tractor.Portal) error, opts ...tractor.Option) {
	t.Helper()
	bubble(t, h, log, func(ctx context.Context) error {
		g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
		stubbornGate.Store(g)
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "stubborn", tractor.Expose(stubbornStream, stubbornCtx))
			if err != nil {
				return err
			}
			defer n.Cancel()
			defer close(g.release)
			return body(ctx, g, p)
		})
	}, opts...)
}

// cancelTimeouts are the cancel timeouts the tests run with: the
// default, and a short and a long one given with CancelTimeout.
var cancelTimeouts = []cancelTimeout{
	{"default", 500 * time.Millisecond, nil},
	{"20ms", 20 * time.Millisecond, []tractor.Option{tractor.CancelTimeout(20 * time.Millisecond)}},
	{"2s", 2 * time.Second, []tractor.Option{tractor.CancelTimeout(2 * time.Second)}},
}

type cancelTimeout struct {
	name string
	want time.Duration
	opts []tractor.Option
}

// forBubbles runs test over every bubble hosting and cancel timeout.
func forBubbles(t *testing.T, test func(t *testing.T, h hosting, tc cancelTimeout)) {
	for _, h := range bubbleHostings {
		for _, tc := range cancelTimeouts {
			t.Run(h.name+"/"+tc.name, func(t *testing.T) { test(t, h, tc) })
		}
	}
}

// TestVirtualCtxResultCancelTimeout: a caller whose ctx ends while it
// waits for a context dialog's result asks the callee to cancel, and waits
// CancelTimeout for the acknowledgement, exactly, before it returns its
// ctx's error and warns.
func TestVirtualCtxResultCancelTimeout(t *testing.T) {
	forBubbles(t, func(t *testing.T, h hosting, tc cancelTimeout) {
		log := new(clockLog)
		stubbornTree(t, h, log, func(ctx context.Context, g *gate, p *tractor.Portal) error {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			c, err := stubbornCtx.Open(cctx, p, true)
			if err != nil {
				return err
			}
			<-g.entered
			cancel()
			start := time.Now()
			_, err = stubbornCtx.Result(cctx, c)
			if got := time.Since(start); got != tc.want {
				t.Errorf("Result returned %v after its ctx ended, want the cancel timeout, %v", got, tc.want)
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Result: %v, want context.Canceled", err)
			}
			if got := log.since(start, "did not acknowledge its cancellation"); len(got) != 1 || got[0] != tc.want {
				t.Errorf("warnings of the missing acknowledgement at %v, want one at %v", got, tc.want)
			}
			return nil
		}, tc.opts...)
	})
}

// TestVirtualCtxOpenCancelTimeout: a caller whose ctx expires while it
// waits for a context task's first value asks it to cancel and waits
// CancelTimeout, exactly, for the acknowledgement: Open returns at the
// deadline plus the timeout, with the deadline's error.
func TestVirtualCtxOpenCancelTimeout(t *testing.T) {
	const deadline = 3 * time.Second
	forBubbles(t, func(t *testing.T, h hosting, tc cancelTimeout) {
		log := new(clockLog)
		stubbornTree(t, h, log, func(ctx context.Context, g *gate, p *tractor.Portal) error {
			start := time.Now()
			cctx, cancel := context.WithTimeout(ctx, deadline)
			defer cancel()
			_, err := stubbornCtx.Open(cctx, p, false) // it never calls Started
			if got, want := time.Since(start), deadline+tc.want; got != want {
				t.Errorf("Open returned after %v, want its deadline and the cancel timeout, %v", got, want)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Open: %v, want context.DeadlineExceeded", err)
			}
			return nil
		}, tc.opts...)
	})
}

// TestVirtualStreamCloseCancelTimeout: closing the receiving end of a
// generator's stream before the generator returned cancels it and waits
// CancelTimeout, exactly, for its end; a generator that ignores its ctx is
// warned of, and Close returns nil.
func TestVirtualStreamCloseCancelTimeout(t *testing.T) {
	forBubbles(t, func(t *testing.T, h hosting, tc cancelTimeout) {
		log := new(clockLog)
		stubbornTree(t, h, log, func(ctx context.Context, g *gate, p *tractor.Portal) error {
			s, err := stubbornStream.Open(ctx, p, 0)
			if err != nil {
				return err
			}
			if v, err := s.Receive(ctx); err != nil || v != 1 {
				t.Errorf("Receive: %v, %v, want 1", v, err)
			}
			<-g.entered
			start := time.Now()
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if got := time.Since(start); got != tc.want {
				t.Errorf("Close returned after %v, want the cancel timeout, %v", got, tc.want)
			}
			// A generator by reference streams through memory, and
			// warns of itself; otherwise through a dialog.
			warning := "remote task did not acknowledge its cancellation"
			if h.byRef() {
				warning = "generator did not end on its cancellation"
			}
			if got := log.since(start, warning); len(got) != 1 || got[0] != tc.want {
				t.Errorf("warnings of the stubborn generator at %v, want one at %v", got, tc.want)
			}
			if g.ended.Load() {
				t.Error("the generator ended, though it ignores its ctx")
			}
			return nil
		}, tc.opts...)
	})
}

// TestVirtualStuckActorWarnings: a cancelled goroutine actor that does not
// end (a task of it ignores its ctx) cannot be killed: its nursery warns,
// naming it, every six cancel timeouts (tractor's 3 s by default), never
// more often than minStuckWarning (100ms), and waits on until it ends.
func TestVirtualStuckActorWarnings(t *testing.T) {
	cases := []struct {
		name  string
		bound time.Duration
		opts  []tractor.Option
	}{
		{"default", 3 * time.Second, nil},
		{"CancelTimeout(1s)", 6 * time.Second, []tractor.Option{tractor.CancelTimeout(time.Second)}},
		{"CancelTimeout(10ms)", 100 * time.Millisecond, []tractor.Option{tractor.CancelTimeout(10 * time.Millisecond)}},
	}
	for _, h := range bubbleHostings {
		for _, tc := range cases {
			t.Run(h.name+"/"+tc.name, func(t *testing.T) { stuckActorWarnings(t, h, tc.bound, tc.opts) })
		}
	}
}

// stuckActorWarnings is TestVirtualStuckActorWarnings over h, whose
// warnings are bound apart with opts.
func stuckActorWarnings(t *testing.T, h hosting, bound time.Duration, opts []tractor.Option) {
	// Three warnings' worth, then the task gives in.
	stuck := 3*bound + bound/2
	log := new(clockLog)
	var start time.Time
	bubble(t, h, log, func(ctx context.Context) error {
		g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
		stubbornGate.Store(g)
		err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			if _, err := n.RunInActor(ctx, "stubborn", stubborn.Bind(struct{}{})); err != nil {
				return err
			}
			<-g.entered
			start = time.Now()
			n.Cancel()
			// The stubborn task lets go once stuck has passed on the
			// bubble's clock.
			time.AfterFunc(stuck, func() { close(g.release) })
			return nil
		}, opts...)
		if got := time.Since(start); got != stuck {
			t.Errorf("the nursery returned %v after its cancellation, want when its actor ended, %v", got, stuck)
		}
		if err != nil {
			t.Errorf("nursery: %v, want nil: its cancellation is no failure", err)
		}
		return nil
	})
	got := log.since(start, "has not ended after cancellation")
	if want := []time.Duration{bound, 2 * bound, 3 * bound}; !slices.Equal(got, want) {
		t.Errorf("stuck warnings at %v, want at %v", got, want)
	}
	if named := log.since(start, "child=stubborn["); len(named) != 3 {
		t.Errorf("%d records name the stubborn actor, want its 3 warnings", len(named))
	}
}
