package tractor_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
)

// testTimeout bounds every test tree, so a hang fails instead of stalling.
const testTimeout = 20 * time.Second

// hangBound bounds a wait inside a test tree for something that happens at
// once when the runtime works: it only catches a hang, so it is generous
// (a loaded machine running the race detector is slow), and shorter than
// testTimeout so the test says what it was waiting for.
const hangBound = 10 * time.Second

// hosting is one way to run the core suite's actors.
type hosting struct {
	name string
	opts []tractor.Option
}

// hostings are the ways every core test runs: the same test bodies over
// goroutine actors, whose values pass through the codec (WireCheck, on by
// default under go test) or travel by reference as in production, and
// over process actors on each wire, and on NATS.
var hostings = []hosting{
	goroutines,
	goroutinesByRef,
	processPipe,
	processTCP,
	processNATS,
}

// The process hostings, one per wire.
var (
	processPipe = hosting{"process-pipe", []tractor.Option{tractor.Spawn(tractor.Process), tractor.Transport(tractor.Pipe)}}
	processTCP  = hosting{"process-tcp", []tractor.Option{tractor.Spawn(tractor.Process), tractor.Transport(tractor.TCP)}}
)

var (
	// goroutines is the tests' default: goroutine actors under WireCheck.
	goroutines = hosting{"goroutine", nil}
	// goroutinesByRef hosts on goroutines with production's setting:
	// values travel by reference.
	goroutinesByRef = hosting{"goroutine-byref", []tractor.Option{tractor.WireCheck(false)}}
)

// rows returns the rows of hs a test runs: all of them, but under -short
// not process-tcp, which hosts actors in processes as process-pipe does,
// over the other wire, nor process-nats, whose processes reach each other
// through a NATS server; the transport's tests, the conformance test and
// TestTwoPrograms cross TCP under -short too, and natsnet's own tests
// (TestPrograms, TestProcessActorsOverNATS) NATS. The short suite runs
// fewer rows, never fewer semantics, and still crosses a process.
//
// If process-nats is among the rows, rows starts its NATS server (see
// testNATS) if it has not yet, so that the server runs before the row's
// trees do: a tree's leak check takes the goroutines that ran before it
// for the process's own.
func rows(hs []hosting) []hosting {
	if testing.Short() {
		hs = slices.DeleteFunc(slices.Clone(hs), func(h hosting) bool {
			return h.name == processTCP.name || h.name == processNATS.name
		})
	}
	if slices.ContainsFunc(hs, func(h hosting) bool { return h.name == processNATS.name }) {
		// A failure is the trees' to report: each listens on the network.
		_, _ = testNATS.network()
	}
	return hs
}

// inProcess says whether h hosts actors in the test's process.
func (h hosting) inProcess() bool { return h.name == goroutines.name || h.name == goroutinesByRef.name }

// byRef says whether values between h's actors travel by reference: not
// encoded, and a generator streams through memory, not a dialog.
func (h hosting) byRef() bool { return h.name == goroutinesByRef.name }

// run runs body in a fresh root actor whose children are hosted per h, and
// fails the test on a timeout.
func run(t *testing.T, h hosting, body func(ctx context.Context) error, opts ...tractor.Option) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	// The tree's logs go to the test's log, shown with -v or on failure,
	// not to stderr; a test that reads them passes its own LogOutput.
	all := append([]tractor.Option{tractor.LogOutput(testLog{t})}, h.opts...)
	err := tractor.Run(ctx, body, append(all, opts...)...)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("test tree did not finish within %v", testTimeout)
	}
	return err
}

// withWorker runs body with a daemon actor "worker" that exposes eps, and
// cancels the worker when body returns; opts go to the root.
func withWorker(t *testing.T, h hosting, eps []tractor.Endpoint, body func(ctx context.Context, p *tractor.Portal), opts ...tractor.Option) {
	t.Helper()
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "worker", tractor.Expose(eps...))
			if err != nil {
				return err
			}
			defer p.CancelActor(ctx)
			body(ctx, p)
			return nil
		})
	}, opts...)
	if err != nil {
		t.Fatalf("tree: %v", err)
	}
}

func eps(e ...tractor.Endpoint) []tractor.Endpoint { return e }

// asRemote returns err as a *RemoteError or fails the test.
func asRemote(t *testing.T, err error) *tractor.RemoteError {
	t.Helper()
	var re *tractor.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *tractor.RemoteError", err, err)
	}
	return re
}

// testLog writes a tree's log lines to the test's log. The tree has ended
// when run returns, so no line comes after the test.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// waitBlocked waits until a goroutine of this process is parked in fn (see
// [tractortest.BlockedIn]): the way to act once another goroutine waits
// there, without sleeping for it.
func waitBlocked(t *testing.T, fn string) {
	t.Helper()
	eventually(t, hangBound, "a goroutine waiting in "+fn, func() bool { return tractortest.BlockedIn(fn) })
}

// eventually waits until cond holds (see [tractortest.Eventually]); the
// bound only catches a hang, so make it generous ([hangBound]).
func eventually(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	tractortest.Eventually(t, bound, func() error {
		if cond() {
			return nil
		}
		return errors.New(what + ": not yet")
	})
}

// seenIn reads a mark counter of the actor behind p.
func seenIn(ctx context.Context, t *testing.T, p *tractor.Portal, key string) int64 {
	t.Helper()
	n, err := seen.Call(ctx, p, key)
	if err != nil {
		t.Fatalf("seen %q: %v", key, err)
	}
	return n
}

// descendants lists the processes below this one (children, their
// children…) that still exist, zombies included: after a tree ends there
// must be none.
func descendants() []int { return descendantsOf(os.Getpid()) }

// descendantsOf lists the live processes below pid, zombies included.
func descendantsOf(self int) []int { return tractortest.Descendants(self) }

// alive reports whether pid exists, zombie or not.
func alive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// wantCancelledBy checks that err, what a dialog with actor gave, is the
// *RemoteError of its task's cancellation by the actor by.
func wantCancelledBy(t *testing.T, what string, err error, actor, by tractor.ActorID) {
	t.Helper()
	re := asRemote(t, err)
	if !errors.Is(err, tractor.ErrContextCancelled) || re.Canceller != by || re.Actor != actor {
		t.Errorf("%s: %v (canceller %v, actor %v), want a cancellation of %v by %v",
			what, err, re.Canceller, re.Actor, actor, by)
	}
}

// errOf is the error of a call that also returns a value, such as a
// stream's Receive: errOf(s.Receive(ctx)).
func errOf[T any](_ T, err error) error { return err }
