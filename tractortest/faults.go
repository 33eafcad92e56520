package tractortest

import (
	"context"
	"errors"
	"fmt"
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
	f := transport.Faults{Seed: rapid.Uint64().Draw(t, "link seed")}
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

// startFaultyWorker starts a worker whose connection carries faults drawn
// for it (see [Config.Links]).
func (w *World) startFaultyWorker(t *rapid.T) {
	w.startWith(t, w.drawLink(t))
}

// accepts says whether err, a dialog's failure with wk, is an outcome of
// the fault of wk's link: a protocol error for a window overrun, from the
// worker, or the worker's loss once its link broke, which ends the run's
// steps as a kill does (its death fails the nursery).
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
		return re.Type == "tractor.ProtocolError"
	case l.breaks() && errors.Is(err, tractor.ErrActorGone):
		wk.Ended = true
		if l.world.Killed == nil {
			l.world.Killed = wk
		}
		return true
	}
	return false
}

// excuses says whether err, the tree's, is the loss of a worker whose
// link may break: as its nursery cancels it at the end of a run, the
// cancel itself may be what breaks the link, and the worker's death is
// then reported.
func (w *World) excuses(err error) bool {
	var re *tractor.RemoteError
	if !errors.As(err, &re) || !errors.Is(err, tractor.ErrActorGone) {
		return false
	}
	for _, wk := range w.Workers {
		if wk.link != nil && wk.link.breaks() && wk.Portal.Actor() == re.Actor {
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
