package tractortest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"pgregory.net/rapid"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// link is the fault injected into the connection to a worker started by
// the "start faulty worker" step (see [Config.Links]).
type link struct {
	kind   string // "benign", "ignore credit", "disconnect" or "corrupt"
	faults transport.Faults
	world  *World
}

// linkKinds are the faults a faulty worker's connection is drawn with.
var linkKinds = []string{"benign", "ignore credit", "disconnect", "corrupt"}

// breaks says whether the link's fault may break the connection: the
// worker is then lost, as a killed one is.
func (l *link) breaks() bool { return l.kind == "disconnect" || l.kind == "corrupt" }

// GoString names the fault in the steps rapid prints.
func (l *link) GoString() string { return fmt.Sprintf("%s link %v", l.kind, l.faults) }

// drawLink draws the faults of a worker's connection. Counts of frames or
// messages start past the handshake and the probe of a process worker
// (about four frames each way), so that the fault falls on the dialogs
// the run draws, or on the worker's cancellation at the end.
func (w *World) drawLink(t *rapid.T) *link {
	l := &link{kind: rapid.SampledFrom(linkKinds).Draw(t, "link fault"), world: w}
	f := transport.Faults{Seed: rapid.Uint64().Draw(t, "link seed"), Log: &transport.FaultLog{}}
	switch l.kind {
	case "benign":
		f.Delay = time.Duration(rapid.IntRange(0, 300).Draw(t, "link delay µs")) * time.Microsecond
		f.SplitWrites = rapid.Bool().Draw(t, "split writes")
		f.SplitReads = rapid.Bool().Draw(t, "split reads")
		// A byte at a time is a syscall a byte: not for hostile
		// payloads, which weigh tens of MiB.
		f.EveryByte = !w.cfg.Hostile && rapid.Bool().Draw(t, "every byte")
	case "ignore credit":
		f.IgnoreCredit = true
	case "disconnect":
		f.DisconnectAfter = rapid.IntRange(6, 16).Draw(t, "disconnect after")
	case "corrupt":
		f.Corrupt = rapid.IntRange(6, 16).Draw(t, "corrupt frame")
	}
	l.faults = f
	return l
}

// maxDrive bounds the dialogs [World.startFaultyWorker] runs with a worker
// whose link breaks, waiting for the break: far more than the 16 frames or
// messages a fault is drawn within take.
const maxDrive = 64

// startFaultyWorker starts a worker whose connection carries faults drawn
// for it (see [Config.Links]). If the fault breaks the link, it then runs
// dialogs with the worker until one fails because the fault fired, so
// that the fault falls on a dialog, whose outcome the invariant checks,
// rather than on the end of the run: the run's steps then end, as after a
// kill. It fails the property if the fault never fired though the
// dialogs crossed the link far past the frame it was drawn for.
func (w *World) startFaultyWorker(t *rapid.T) {
	l := w.drawLink(t)
	w.startWith(t, l)
	if !l.breaks() || len(w.Workers) == 0 || w.Workers[len(w.Workers)-1].link != l {
		return // not started, or nothing to wait for
	}
	wk := w.Workers[len(w.Workers)-1]
	drivers := l.drivers(wk, w.cfg.Cases)
	for i := 0; i < maxDrive && len(drivers) > 0 && !wk.Ended && w.Killed == nil; i++ {
		c := rapid.SampledFrom(drivers).Draw(t, "case over the faulty link")
		w.dialogWith(t, wk, c)
	}
	switch fired := l.fired(); {
	case fired != "":
		w.broken++
		t.Logf("%s link of %s fired: %s", l.kind, wk.Portal.Actor(), fired)
	case len(drivers) == 0:
		// No dialog crosses this goroutine worker's link, which cannot
		// break: see drivers.
		t.Logf("%s link of %s not crossed by any case", l.kind, wk.Portal.Actor())
	default:
		fatalf(t, "%s link of %s never fired in %d dialogs over it", l.kind, wk.Portal.Actor(), maxDrive)
	}
}

// dialogWith runs a dialog of case c with wk, as the "call" step does.
func (w *World) dialogWith(t *rapid.T, wk *Worker, c Case) {
	ctx, cancel := w.StepContext()
	defer cancel()
	w.runCase(t, ctx, ctx, wk, c)
}

// drivers are the cases whose dialogs cross the link of wk: every one to
// a process worker; to a goroutine worker, whose calls run inline, the
// streams, and none if its link is to be corrupted (the in-memory
// connection carries no bytes to corrupt) or if it passes values by
// reference (its streams then pass through no connection).
func (l *link) drivers(wk *Worker, cases []Case) []Case {
	if wk.PID != os.Getpid() {
		return cases
	}
	if !wk.encodes {
		return nil
	}
	var out []Case
	for _, c := range cases {
		if _, ok := c.(interface{ opensLink() }); ok && l.kind == "disconnect" {
			out = append(out, c)
		}
	}
	return out
}

// opensLink marks the cases whose dialogs cross a goroutine worker's
// connection (see [link.drivers]).
func (streamCase[A, T]) opensLink() {}

// fired returns the fault log's record of the break, if the link broke:
// the disconnect or the corrupted frame.
func (l *link) fired() string {
	if l == nil || l.faults.Log == nil {
		return ""
	}
	for _, ev := range l.faults.Log.Events() {
		if strings.Contains(ev, "disconnect after") || strings.Contains(ev, "corrupt frame") {
			return ev
		}
	}
	return ""
}

// accepts says whether err, a dialog's failure with wk, is an outcome of
// the fault of wk's link: a protocol error for a window overrun, from the
// worker, or the worker's loss once its link broke (the fault log says it
// fired), which ends the run's steps as a kill does (its death fails the
// nursery).
func (l *link) accepts(wk *Worker, err error) bool {
	if l == nil {
		return false
	}
	var re *tractor.RemoteError
	if !errors.As(err, &re) || re.Actor != wk.Portal.Actor() {
		return false
	}
	switch {
	case l.kind == "ignore credit":
		return re.Type == protocolError
	case l.breaks() && l.fired() != "" && errors.Is(err, tractor.ErrActorGone):
		wk.Ended = true
		if l.world.Killed == nil {
			l.world.Killed = wk
		}
		return true
	}
	return false
}

// excuses says whether err, the tree's, is the loss of a worker whose
// link broke (its fault log says so): as its nursery cancels it at the
// end of a run, the cancel itself may be what breaks the link, and the
// worker's death is then reported.
func (w *World) excuses(err error) bool {
	var re *tractor.RemoteError
	if !errors.As(err, &re) || !errors.Is(err, tractor.ErrActorGone) {
		return false
	}
	for _, wk := range w.Workers {
		if wk.link != nil && wk.link.breaks() && wk.link.fired() != "" && wk.Portal.Actor() == re.Actor {
			return true
		}
	}
	return false
}

// lostLink says whether the nursery was cancelled by the loss of a worker
// whose link may break, which no dialog has seen yet (one cancelled by its
// caller, say): it then takes that worker for killed.
func (w *World) lostLink() bool {
	cause := context.Cause(w.Nursery.Context())
	var re *tractor.RemoteError
	if !w.excuses(cause) || !errors.As(cause, &re) {
		return false
	}
	for _, wk := range w.Workers {
		if wk.Portal.Actor() == re.Actor {
			wk.Ended, w.Killed = true, wk
		}
	}
	return true
}
