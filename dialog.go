package tractor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/tractor-go/tractor/transport"
)

// dialog is one side of one dialog: the queue of messages the peer sent on
// it, the credit this side may still spend on yields, and how it ended.
//
// Flow control: each side announces the window it receives with, items and
// bytes, when the dialog opens (the caller in its cmd, the callee of a
// context dialog in its started message). The peer may send yields while
// it has credit for at least one item and one byte, and spends an item's
// size once it is sent; the receiver grants credit back as its user
// consumes, in batches. A yield larger than the whole byte window thus
// still goes, alone, and the queue of a well-behaved peer's yields stays
// under the window plus one item; a receiver fails the dialog of a peer
// that sends beyond it. A stalled receiver stalls only its own sender, and
// nothing is ever dropped. Sizes are the transport's (transport.Msg.Size),
// measured alike on both sides.
type dialog struct {
	ch     *channel
	cid    uint64
	mode   mode
	caller bool

	// ctx is the dialog's lifetime. On the callee it is the task's ctx; on
	// the caller of a stream or context dialog it derives from the opener's
	// ctx, and its end sends the peer a cancel (see watch).
	ctx    context.Context
	cancel context.CancelCauseFunc
	// opener is the ctx the caller opened the dialog with: once it has
	// ended, a cancellation by this actor is this side's own.
	opener context.Context
	// endpoint is the endpoint the dialog calls, named in its errors.
	endpoint string

	stopWatch func() bool
	watchDone chan struct{}

	wake       chan struct{} // the inbox grew, or the dialog ended
	creditWake chan struct{} // credit arrived, or the dialog ended

	// sendMu orders a yield's transmission before this side's stop, so a
	// Send that returned nil is never overtaken by a concurrent Close.
	sendMu sync.Mutex

	mu           sync.Mutex
	inbox        []transport.Msg
	inboxBuf     [2]transport.Msg // the inbox of most dialogs, in place
	head         int
	recv         flowWindow    // the window this side receives with
	credit       int           // yields this side may still send
	creditBytes  int64         // … and bytes; may go below 0 by one item
	sending      bool          // a yield is between its credit and its size
	consumed     int           // yields taken since the last grant
	consumedSize int           // … and their bytes
	inFlight     int           // yields received and not yet credited back
	inFlightSize int           // … and their bytes
	finalSeen    bool          // the peer's return or error has arrived
	finalErr     error         // … the error it carried, as the caller sees it
	final        transport.Msg // … and was taken from the inbox (Kind != 0)
	streaming    bool          // this side's stream is open (callee: stop due at return)
	gone         error         // the connection was lost
	cancelCalled bool          // this side asked for the cancellation
	localStop    bool          // this side sent stop
	peerStop     bool          // Receive reached the peer's stop
	finished     bool
}

func newDialog(ch *channel, cid uint64, md mode, caller bool, recv flowWindow) *dialog {
	d := &dialog{
		ch: ch, cid: cid, mode: md, caller: caller, recv: recv,
		wake: make(chan struct{}, 1),
	}
	d.inbox = d.inboxBuf[:0]
	if md != modeFunc { // only streams spend credit
		d.creditWake = make(chan struct{}, 1)
	}
	return d
}

// setFinal records the peer's final message once taken from the inbox,
// and wakes the other takers: a Receive and a Close (or Result) may wait
// on one dialog at once, and whichever takes the final message must let
// the other see it (see take).
func (d *dialog) setFinal(m transport.Msg) {
	d.mu.Lock()
	d.final = m
	d.mu.Unlock()
	signal(d.wake)
}

// getFinal returns the peer's final message, if taken from the inbox.
func (d *dialog) getFinal() (transport.Msg, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.final, d.final.Kind != 0
}

// signalIf signals c if the dialog has one (func dialogs have no credit).
func signalIf(c chan struct{}) {
	if c != nil {
		signal(c)
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// watch makes the end of a caller's dialog ctx reach the peer as a cancel.
func (d *dialog) watch() {
	d.watchDone = make(chan struct{})
	d.stopWatch = context.AfterFunc(d.ctx, func() {
		defer close(d.watchDone)
		d.requestCancel()
	})
}

// finish releases the dialog once its outcome is known or abandoned. It
// waits for a running watcher, so no goroutine outlives the dialog.
func (d *dialog) finish() {
	d.mu.Lock()
	if d.finished {
		d.mu.Unlock()
		return
	}
	d.finished = true
	d.mu.Unlock()
	d.ch.remove(d)
	if d.stopWatch != nil && !d.stopWatch() {
		<-d.watchDone
	}
	if d.cancel != nil {
		d.cancel(context.Canceled)
	}
}

// push files a message from the peer (the delivery path: never blocks).
func (d *dialog) push(m transport.Msg) {
	d.mu.Lock()
	if d.gone != nil {
		// Failed for a protocol error: what follows, the peer's outcome
		// included, must not read as the dialog's end.
		d.mu.Unlock()
		return
	}
	if m.Kind == transport.KindYield {
		// The peer may send while it has credit for one item and one
		// byte: the bytes already in flight must be under the window.
		over := d.inFlightSize >= d.recv.bytes
		d.inFlight++
		d.inFlightSize += m.Size
		if over || d.inFlight > d.recv.items {
			d.mu.Unlock()
			// The peer ignored flow control: fail this dialog, not the
			// connection, and never queue without bound.
			d.ch.local.log.Warn().Stringer("peer", &d.ch.peer).Uint64("cid", d.cid).
				Msg("protocol error: peer sent past its credit window")
			d.peerGone(&RemoteError{
				Actor: d.ch.peer, Type: "tractor.ProtocolError", RelayPath: []ActorID{d.ch.peer},
				Message: fmt.Sprintf("peer sent more than the window of %d items and %d bytes without credit",
					d.recv.items, d.recv.bytes),
			})
			return
		}
	}
	d.inbox = append(d.inbox, m)
	final := m.Kind == transport.KindReturn || m.Kind == transport.KindError
	if final {
		d.finalSeen = true
	}
	if m.Kind == transport.KindError {
		d.finalErr = d.errorOfLocked(m)
	}
	ferr := d.finalErr
	d.mu.Unlock()
	signal(d.wake)
	if final {
		// Nothing more will arrive: stop routing to it, even if its user
		// never collects the outcome.
		d.ch.remove(d)
		signalIf(d.creditWake)
		if ferr != nil && d.cancel != nil {
			// Any error from the callee cancels the caller's Context.
			d.cancel(ferr)
		}
	}
}

// maxCreditBytes caps the byte credit a peer can grant, so that no sum
// of grants overflows.
const maxCreditBytes = math.MaxInt64 / 4

// grant adds the credit that m (a credit message, or the peer's cmd or
// started message announcing its window) grants this side.
func (d *dialog) grant(m transport.Msg) {
	d.credit = min(d.credit+int(m.Credit), math.MaxInt32)
	d.creditBytes = min(d.creditBytes+int64(min(m.CreditBytes, maxCreditBytes)), maxCreditBytes)
}

// addCredit takes a credit message from the peer.
func (d *dialog) addCredit(m transport.Msg) {
	d.mu.Lock()
	d.grant(m)
	d.mu.Unlock()
	signalIf(d.creditWake)
}

// announce is the window this side receives with, as a cmd or started
// message announces it.
func (d *dialog) announce() (items uint32, bytes uint64) {
	return uint32(d.recv.items), uint64(d.recv.bytes)
}

// peerGone ends the dialog because the connection was lost.
func (d *dialog) peerGone(err error) {
	d.mu.Lock()
	d.gone = err
	d.mu.Unlock()
	signal(d.wake)
	signalIf(d.creditWake)
	if d.cancel != nil {
		d.cancel(err)
	}
}

// cancelFromPeer cancels a callee task because its caller asked.
func (d *dialog) cancelFromPeer(by ActorID) {
	d.cancel(&cancelCause{by: by, reason: "cancelled by its caller"})
}

// requestCancel asks the peer to cancel its task, once, unless the dialog
// has already ended.
func (d *dialog) requestCancel() {
	d.mu.Lock()
	if d.cancelCalled || d.finalSeen || d.gone != nil {
		// Already asked, or nothing left to cancel: the outcome is in.
		d.mu.Unlock()
		return
	}
	d.cancelCalled = true
	d.mu.Unlock()
	d.ch.sendCtl(transport.Msg{Kind: transport.KindCancel, CID: d.cid, Payload: d.ch.local.id})
}

// next takes the next message from the inbox, waiting for one. It returns
// the connection's loss once the inbox is empty, or ctx's error.
func (d *dialog) next(ctx context.Context) (transport.Msg, error) { return d.take(ctx, false) }

// errEnded tells receive that another receiver took the stream's end.
var errEnded = errors.New("tractor: stream ended")

// take is next; for a stream receiver (forReceive) it also returns errEnded
// once another receiver has taken the stream's end, so concurrent
// receivers all see it. For the others (awaiting the outcome) it returns
// the final message again once a concurrent receiver has taken it, so a
// Close racing a Receive does not wait out its bound for a message that
// already came. End states are sticky: whoever observes one passes the
// wake-up on.
func (d *dialog) take(ctx context.Context, forReceive bool) (transport.Msg, error) {
	for {
		d.mu.Lock()
		if d.head < len(d.inbox) {
			m := d.inbox[d.head]
			d.inbox[d.head] = transport.Msg{}
			d.head++
			more := d.head < len(d.inbox)
			if !more {
				d.inbox, d.head = d.inbox[:0], 0
				if cap(d.inbox) > 4*d.recv.items {
					d.inbox = d.inboxBuf[:0] // let a burst's backing go
				}
			}
			var grant transport.Msg
			if m.Kind == transport.KindYield {
				d.consumed++
				d.consumedSize += m.Size
				if (d.consumed >= d.recv.items/2 || d.consumedSize >= d.recv.bytes/2) && !d.finalSeen {
					grant = transport.Msg{Kind: transport.KindCredit, CID: d.cid,
						Credit: uint32(d.consumed), CreditBytes: uint64(d.consumedSize)}
					d.inFlight -= d.consumed
					d.inFlightSize -= d.consumedSize
					d.consumed, d.consumedSize = 0, 0
				}
			}
			d.mu.Unlock()
			if more {
				signal(d.wake) // pass the wake-up on to another receiver
			}
			if grant.Kind != 0 {
				d.ch.sendCtl(grant)
			}
			return m, nil
		}
		gone := d.gone
		ended := forReceive && (d.peerStop || d.final.Kind != 0)
		final := d.final
		d.mu.Unlock()
		if !forReceive && final.Kind != 0 {
			signal(d.wake)
			return final, nil
		}
		if gone != nil {
			signal(d.wake)
			return transport.Msg{}, gone
		}
		if ended {
			signal(d.wake)
			return transport.Msg{}, errEnded
		}
		select {
		case <-d.wake:
		case <-ctx.Done():
			return transport.Msg{}, ctxErr(ctx)
		}
	}
}

// ctxErr is ctx's error, or its cause when the cause is itself a
// cancellation (such as a *cancelCause naming who cancelled).
func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, err) {
		return cause
	}
	return err
}

// send sends one stream item, waiting for credit. Yields go one at a
// time, each once the previous one's size is spent, so that no two are
// sent on the same byte credit.
func (d *dialog) send(ctx context.Context, v any) error {
	d.mu.Lock()
	for {
		if err := d.sendErrLocked(); err != nil {
			d.mu.Unlock()
			signalIf(d.creditWake) // sticky: wake the next sender too
			return err
		}
		if d.credit > 0 && d.creditBytes > 0 && !d.sending {
			d.credit--
			d.sending = true
			d.mu.Unlock()
			break
		}
		d.mu.Unlock()
		select {
		case <-d.creditWake:
		case <-ctx.Done():
			return ctxErr(ctx)
		case <-d.ctx.Done():
			// The dialog ended: a remote error, a cancel from either
			// side, or the opener's ctx. Report the most specific reason.
			d.mu.Lock()
			err := d.sendErrLocked()
			d.mu.Unlock()
			if err == nil {
				err = ctxErr(d.ctx)
			}
			return err
		}
		d.mu.Lock()
	}
	d.sendMu.Lock()
	d.mu.Lock()
	stopped := d.localStop
	d.mu.Unlock()
	if stopped { // Close ran while this Send waited: the credit is moot
		d.sendMu.Unlock()
		d.sent(0, false)
		return ErrStreamClosed
	}
	size, err := d.ch.sendSized(ctx, transport.Msg{Kind: transport.KindYield, CID: d.cid, Payload: v})
	d.sendMu.Unlock()
	d.sent(size, err == nil)
	if uerr := d.ch.unsendable(err, d.endpoint, "stream item"); uerr != nil {
		// Only this item failed, and it never left: sent gave its credit
		// back, and the stream goes on.
		return uerr
	}
	if err != nil {
		return d.ch.sendFailure(err)
	}
	return nil
}

// sent ends a yield's turn to send: it spends the yield's size, or gives
// its item credit back if it was not sent, and lets the next sender go.
func (d *dialog) sent(size int, ok bool) {
	d.mu.Lock()
	if ok {
		d.creditBytes -= int64(size)
	} else {
		d.credit++
	}
	d.sending = false
	more := d.credit > 0 && d.creditBytes > 0
	d.mu.Unlock()
	if more {
		signal(d.creditWake)
	}
}

// sendErrLocked says why this side may not send a yield now, if it may not.
func (d *dialog) sendErrLocked() error {
	switch {
	case d.localStop:
		return ErrStreamClosed
	case d.gone != nil:
		return d.gone
	case d.finalErr != nil:
		return d.finalErr
	case d.finalSeen:
		return ErrStreamClosed
	case !d.caller && d.ctx.Err() != nil:
		return ctxErr(d.ctx)
	case d.caller && d.cancelCalled:
		return ErrContextCancelled
	}
	return nil
}

// closeSend sends this side's stop, once.
func (d *dialog) closeSend() {
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	d.mu.Lock()
	already := d.localStop || d.finalSeen || d.gone != nil
	d.localStop = true
	d.mu.Unlock()
	if !already {
		d.ch.sendCtl(transport.Msg{Kind: transport.KindStop, CID: d.cid})
	}
}

// stopIfStreaming sends stop for a callee whose stream is still open as its
// task returns: a generator that returns has ended its stream.
func (d *dialog) stopIfStreaming() {
	d.mu.Lock()
	due := (d.mode == modeStream || d.streaming) && !d.localStop
	d.localStop = true
	d.mu.Unlock()
	if due {
		d.ch.sendCtl(transport.Msg{Kind: transport.KindStop, CID: d.cid})
	}
}

// receive takes the next stream item into dst. It returns io.EOF once the
// peer has stopped or returned, and the outcome error if it failed.
func (d *dialog) receive(ctx context.Context, dst any) error {
	payload, err := d.receivePayload(ctx)
	if err != nil {
		return err
	}
	return d.decodeItem(payload, dst)
}

// decodeItem decodes a stream item's payload into dst.
func (d *dialog) decodeItem(payload, dst any) error {
	return decodeStreamItem(d.ch.peer, payload, dst)
}

// receivePayload takes the next stream item, undecoded; see receive.
func (d *dialog) receivePayload(ctx context.Context) (any, error) {
	for {
		d.mu.Lock()
		peerStop, final := d.peerStop, d.final
		d.mu.Unlock()
		if peerStop {
			return nil, io.EOF
		}
		if final.Kind != 0 {
			if final.Kind == transport.KindError {
				return nil, d.errorOf(final)
			}
			return nil, io.EOF
		}
		m, err := d.take(ctx, true)
		if err == errEnded {
			continue
		}
		if err != nil {
			return nil, err
		}
		switch m.Kind {
		case transport.KindYield:
			return m.Payload, nil
		case transport.KindStop:
			d.mu.Lock()
			d.peerStop = true
			d.mu.Unlock()
			signal(d.wake)
		case transport.KindReturn, transport.KindError:
			d.setFinal(m)
			signal(d.wake)
		}
	}
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
				d.ch.local.log.Warn().Stringer("peer", &d.ch.peer).Uint64("cid", d.cid).
					Msg("remote task did not acknowledge its cancellation in time")
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
	re, err := decode[RemoteError](m.Payload)
	if err != nil {
		return &RemoteError{
			Actor: d.ch.peer, Type: "tractor.ProtocolError", RelayPath: []ActorID{d.ch.peer},
			Message: fmt.Sprintf("undecodable error payload: %v", err),
		}
	}
	// This side's cancellation: it asked (Cancel, or its watcher saw the
	// opener's ctx end), or its dialog ctx has already ended, so that
	// request is on its way. A race with an actor-wide cancel by this same
	// actor then yields the same outcome.
	selfCancel := d.cancelCalled || (d.caller && (d.opener.Err() != nil || d.ctx.Err() != nil))
	return callerError(re, selfCancel, d.ch.local.id)
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
