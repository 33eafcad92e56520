// The caller's side of a dialog: opening it, waiting for its outcome,
// cancelling the remote task, and turning the callee's error into the
// error the caller sees.

package tractor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tractor-go/tractor/transport"
)

// open starts a dialog with the peer: the caller's side of every call. For
// a stream or context dialog, its cmd announces the window this side
// receives with: the actor's, or the one opts give.
func (ch *session) open(ctx context.Context, endpoint string, md mode, arg any, opts ...DialogOption) (*dialog, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d := newDialog(ch, ch.nextCID.Add(2), md, true, ch.dialogWindow(opts))
	d.opener, d.endpoint = ctx, endpoint
	if md == modeFunc {
		// A function call blocks its caller until the outcome, so the
		// caller's own ctx is the dialog's lifetime: no watcher needed.
		d.ctx = ctx
	} else {
		d.ctx, d.cancel = context.WithCancelCause(ctx)
	}
	if ch.link != nil && !ch.link.make() {
		d.finish()
		return nil, ch.linkErr()
	}
	ch.mu.Lock()
	if g := ch.goneLocked(); g != nil {
		ch.mu.Unlock()
		d.finish()
		return nil, g
	}
	ch.addLocked(d)
	ch.mu.Unlock()
	cmd := transport.Msg{Kind: transport.KindCmd, CID: d.cid, Endpoint: endpoint, Mode: uint8(md), Payload: arg}
	if md != modeFunc {
		cmd.Credit, cmd.CreditBytes = d.announce()
	}
	err := ch.conn.Send(ctx, cmd)
	if err != nil {
		if uerr := ch.unsendable(err, endpoint, "argument"); uerr != nil {
			// Nothing was written: this call fails, the connection is
			// fine, and the actor behind it is not gone.
			d.finish()
			return nil, uerr
		}
		if ctx.Err() != nil {
			// A wire Send may have written the cmd before it noticed:
			// make sure no task is left running for nobody.
			d.requestCancel()
			d.finish()
			return nil, ctx.Err()
		}
		d.finish()
		if g := ch.goneErr(); g != nil {
			return nil, g
		}
		return nil, ch.lost(err)
	}
	if d.cancel != nil {
		// Armed only now, so a cancel can never overtake its cmd.
		d.watch()
	}
	return d, nil
}

// watch makes the end of a caller's dialog ctx reach the peer as a cancel.
func (d *dialog) watch() {
	d.watchDone = make(chan struct{})
	d.stopWatch = context.AfterFunc(d.ctx, func() {
		defer close(d.watchDone)
		d.requestCancel()
	})
}

// requestCancel asks the peer to cancel its task, once, unless the dialog
// has already ended.
func (d *dialog) requestCancel() {
	d.mu.Lock()
	if d.state.has(cancelAsked | outcomeIn | broken) {
		// Already asked, or nothing left to cancel: the outcome is in.
		d.mu.Unlock()
		return
	}
	d.state |= cancelAsked
	d.mu.Unlock()
	d.ch.sendCtl(d.ch.cancelMsg(d.cid))
}

// result waits for the peer's final message, discarding stream items still
// in flight, and returns its payload or error. If ctx ends first it cancels
// the peer's task and waits a bounded time for the acknowledgement, so that
// the remote task has ended when it returns. Only a caller calls it.
func (d *dialog) result(ctx context.Context) (any, error) {
	defer d.finish()
	for {
		if final, ok := d.getFinal(); ok {
			return d.outcome(final)
		}
		m, err := d.next(ctx)
		if err != nil {
			if ctx.Err() != nil && d.ch.goneErr() == nil {
				d.requestCancel()
				if final, ok := d.awaitFinal(); ok {
					// The dialog's one outcome: the acknowledgement
					// (ErrContextCancelled), or whatever the task
					// ended with first.
					return d.outcome(final)
				}
			}
			return nil, err
		}
		if m.Kind == transport.KindReturn || m.Kind == transport.KindError {
			d.setFinal(m)
		}
	}
}

// closeReceiving closes the caller's end of a generator's stream: unless
// the outcome is in, it cancels the generator and waits, within the cancel
// timeout, for its end; then it releases the dialog.
func (d *dialog) closeReceiving() {
	d.mu.Lock()
	ended := d.state.has(outcomeIn | broken)
	d.mu.Unlock()
	if !ended {
		d.requestCancel()
		_, _ = d.awaitFinal()
	}
	d.finish()
}

// awaitFinal waits, within the cancel timeout, for the peer's final message
// and returns it, if it came.
func (d *dialog) awaitFinal() (transport.Msg, bool) {
	if final, ok := d.getFinal(); ok {
		return final, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.ch.local.cfg.cancelTimeout)
	defer cancel()
	for {
		m, err := d.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				d.ch.local.logger().Warn("remote task did not acknowledge its cancellation in time", slog.String("peer", d.ch.peer.String()), slog.Uint64("cid", d.cid))
			}
			return transport.Msg{}, false
		}
		if m.Kind == transport.KindReturn || m.Kind == transport.KindError {
			d.setFinal(m)
			return m, true
		}
	}
}

func (d *dialog) outcome(m transport.Msg) (any, error) {
	if m.Kind == transport.KindError {
		return nil, d.errorOf(m)
	}
	return m.Payload, nil
}

// errorOf returns the error the caller sees for the peer's error message,
// as push recorded it.
func (d *dialog) errorOf(m transport.Msg) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.finalErr == nil {
		d.finalErr = d.errorOfLocked(m)
	}
	return d.finalErr
}

// errorOfLocked turns an error message into the error the caller sees. A
// cancellation this side asked for before the error arrived is absorbed
// into ErrContextCancelled: an outcome, not a failure. Anything else is
// the peer's *RemoteError.
func (d *dialog) errorOfLocked(m transport.Msg) error {
	re, ok := decodeRemoteError(m.Payload, d.ch.peer)
	if !ok {
		return &re
	}
	// This side's cancellation: it asked (Cancel, or its watcher saw the
	// opener's ctx end), or its dialog ctx has already ended, so that
	// request is on its way. A race with an actor-wide cancel by this same
	// actor then yields the same outcome.
	selfCancel := d.state.has(cancelAsked) || (d.caller && (d.opener.Err() != nil || d.ctx.Err() != nil))
	return callerError(re, selfCancel, d.ch.local.id)
}

// decodeRemoteError decodes the payload of an error message from actor
// peer; a payload that does not decode is a protocol error of the peer's,
// returned with ok false.
func decodeRemoteError(payload any, peer ActorID) (re RemoteError, ok bool) {
	re, err := decodeRemote(payload)
	if err != nil {
		pe := RemoteError{
			Actor: peer, Type: "tractor.ProtocolError", RelayPath: []ActorID{peer},
			Message: fmt.Sprintf("undecodable error payload: %v", err),
		}
		if errors.Is(err, transport.ErrMalformed) {
			pe.value = err // a tree over the limits, which it names
		}
		return pe, false
	}
	return re, true
}

// callerError is the error a caller, self, gets for its callee's boxed
// error re: ErrContextCancelled for the acknowledgement of a cancellation
// it asked for (selfCancel), an outcome rather than a failure; re
// itself otherwise.
func callerError(re RemoteError, selfCancel bool, self ActorID) error {
	if selfCancel && re.Code == "context_cancelled" && re.Canceller == self {
		return ErrContextCancelled
	}
	return &re
}
