package tractor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	ch     *session
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
	recv       flowWindow    // the window this side receives with
	// bound is what a well-behaved peer may have in flight: the largest
	// window this side announced on the dialog (see resize), d.mu.
	bound flowWindow

	// sendMu orders a yield's transmission before this side's stop, so a
	// Send that returned nil is never overtaken by a concurrent Close.
	sendMu sync.Mutex
	spent  int64 // sendMu: the last yield's size, not yet taken from creditBytes

	// takeMu serialises the takers of the inbox (see take); it guards
	// the batch they take messages from, the inbox moved there whole under
	// one d.mu acquisition, so that the delivery path filing messages and
	// the user taking them seldom meet on d.mu. Lock order: takeMu, d.mu.
	takeMu       sync.Mutex
	batch        []transport.Msg // the front of the inbox, in order, from bhead
	bhead        int
	recvEnded    bool // peerStopped or outcomeTaken: Receive ends
	consumed     int  // yields taken since the last grant
	consumedSize int  // … and their bytes

	// inboxBuf is the inbox of most dialogs, in place; a stream's soon
	// outgrows it. It lies between the takers' fields and d.mu's, which
	// the delivery path writes for every message, so that the two sides
	// do not share a cache line.
	inboxBuf [2]transport.Msg

	mu           sync.Mutex
	inbox        []transport.Msg // what the peer sent after the batch
	credit       int             // yields this side may still send
	creditBytes  int64           // … and bytes; below 0 by a yield in flight, or after a revoke
	inFlight     int             // yields received and not yet credited back
	inFlightSize int             // … and their bytes
	state        dialogState     // which of its events have happened
	finalErr     error           // outcomeIn: the error it carried, as the caller sees it
	final        transport.Msg   // outcomeTaken: the peer's return or error
	gone         error           // broken: why
}

// dialogState is where a dialog stands, as this side knows it: the set of
// its events that have happened. Each happens at most once and is never
// undone, so the state only moves forward, and every decision about a
// dialog asks which of them have happened. d.mu guards it.
//
//	event         happens when (where)                      from then on
//	outcomeIn     the peer's return or error arrives (push)  no credit is granted; Send fails
//	outcomeTaken  a reader takes it from the inbox           Result and Receive see it at once
//	              (setFinal)
//	peerStopped   Receive reaches the peer's stop            Receive returns io.EOF
//	              (receivePayload)
//	stopSent      this side ends its sending (closeSend,     Send returns ErrStreamClosed
//	              stopIfStreaming)
//	streamOpened  the callee opens its stream (OpenStream)   its return sends a stop
//	cancelAsked   this side asks the peer to cancel          Send returns ErrContextCancelled;
//	              (requestCancel)                            a cancellation by this actor is
//	                                                         the outcome, not a failure
//	broken        the connection is lost, or the peer        every wait returns gone
//	              breaks the protocol (peerGone)
//	released      the dialog is done with (finish)           nothing routes to it
type dialogState uint8

const (
	outcomeIn dialogState = 1 << iota
	outcomeTaken
	peerStopped
	stopSent
	streamOpened
	cancelAsked
	broken
	released
)

// event records that e happened.
func (d *dialog) event(e dialogState) {
	d.mu.Lock()
	d.state |= e
	d.mu.Unlock()
}

// has says whether any of events has happened.
func (s dialogState) has(events dialogState) bool { return s&events != 0 }

func newDialog(ch *session, cid uint64, md mode, caller bool, recv flowWindow) *dialog {
	d := &dialog{
		ch: ch, cid: cid, mode: md, caller: caller, recv: recv, bound: recv,
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
	d.takeMu.Lock()
	d.recvEnded = true
	d.mu.Lock()
	d.final = m
	d.state |= outcomeTaken
	d.mu.Unlock()
	d.takeMu.Unlock()
	signal(d.wake)
}

// getFinal returns the peer's final message, if taken from the inbox.
func (d *dialog) getFinal() (transport.Msg, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.final, d.state.has(outcomeTaken)
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

// finish releases the dialog once its outcome is known or abandoned. It
// waits for a running watcher, so no goroutine outlives the dialog.
func (d *dialog) finish() {
	d.mu.Lock()
	if d.state.has(released) {
		d.mu.Unlock()
		return
	}
	d.state |= released
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
	if d.state.has(broken) {
		// Failed for a protocol error: what follows, the peer's outcome
		// included, must not read as the dialog's end.
		d.mu.Unlock()
		return
	}
	if m.Kind == transport.KindYield {
		// The peer may send while it has credit for one item and one
		// byte: the bytes already in flight must be under the window.
		over := d.inFlightSize >= d.bound.bytes
		d.inFlight++
		d.inFlightSize += m.Size
		if over || d.inFlight > d.bound.items {
			d.mu.Unlock()
			// The peer ignored flow control: fail this dialog, not the
			// connection, and never queue without bound.
			d.ch.local.logger().Warn("protocol error: peer sent past its credit window", slog.String("peer", d.ch.peer.String()), slog.Uint64("cid", d.cid))
			d.peerGone(&RemoteError{
				Actor: d.ch.peer, Type: "tractor.ProtocolError", RelayPath: []ActorID{d.ch.peer},
				Message: fmt.Sprintf("peer sent more than the window of %d items and %d bytes without credit",
					d.bound.items, d.bound.bytes),
			})
			return
		}
	}
	d.inbox = append(d.inbox, m)
	final := m.Kind == transport.KindReturn || m.Kind == transport.KindError
	if final {
		d.state |= outcomeIn
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

// outcomeArrived says whether the peer's return or error has arrived.
func (d *dialog) outcomeArrived() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state.has(outcomeIn)
}

// peerGone ends the dialog because the connection was lost.
func (d *dialog) peerGone(err error) {
	d.mu.Lock()
	d.gone = err
	d.state |= broken
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
//
// Takers take from the batch under takeMu, and move the inbox there whole
// once it is empty: d.mu, which the delivery path takes for every message,
// once a batch rather than once a message.
func (d *dialog) take(ctx context.Context, forReceive bool) (transport.Msg, error) {
	for {
		d.takeMu.Lock()
		if forReceive && d.recvEnded {
			d.takeMu.Unlock()
			signal(d.wake)
			return transport.Msg{}, errEnded
		}
		m, ok := d.popBatch()
		more := d.bhead < len(d.batch)
		if !more {
			// Whether more is queued is the inbox's to say: a batch
			// taken, and a message that came since.
			d.mu.Lock()
			if !ok {
				m, ok = d.popInboxLocked()
				more = d.bhead < len(d.batch)
			}
			more = more || len(d.inbox) > 0
			if !ok {
				gone, taken, final := d.gone, d.state.has(outcomeTaken), d.final
				d.mu.Unlock()
				d.takeMu.Unlock()
				if !forReceive && taken {
					signal(d.wake)
					return final, nil
				}
				if gone != nil {
					signal(d.wake)
					return transport.Msg{}, gone
				}
				select {
				case <-d.wake:
				case <-ctx.Done():
					return transport.Msg{}, ctxErr(ctx)
				}
				continue
			}
			d.mu.Unlock()
		}
		var grant transport.Msg
		if m.Kind == transport.KindYield {
			grant = d.consume(m.Size)
		}
		d.takeMu.Unlock()
		if more {
			signal(d.wake) // pass the wake-up on to another receiver
		}
		if grant.Kind != 0 {
			d.ch.sendCtl(grant)
		}
		return m, nil
	}
}

// popBatch takes the batch's next message, if any; takeMu is held.
func (d *dialog) popBatch() (transport.Msg, bool) {
	if d.bhead == len(d.batch) {
		return transport.Msg{}, false
	}
	m := d.batch[d.bhead]
	d.batch[d.bhead] = transport.Msg{}
	d.bhead++
	if d.bhead == len(d.batch) && cap(d.batch) > 4*d.recv.items {
		d.batch, d.bhead = nil, 0 // let a burst's backing go
	}
	return m, true
}

// popInboxLocked takes the inbox's first message, if any, the batch being
// drained: a lone one from the inbox, which keeps its storage; else it
// moves the whole inbox to the batch, and gives the inbox the batch's
// storage, so that the two take turns. takeMu and d.mu are held.
func (d *dialog) popInboxLocked() (transport.Msg, bool) {
	switch len(d.inbox) {
	case 0:
		return transport.Msg{}, false
	case 1:
		m := d.inbox[0]
		d.inbox[0] = transport.Msg{}
		d.inbox = d.inbox[:0]
		return m, true
	}
	spare := d.batch[:0]
	d.batch, d.bhead = d.inbox, 0
	d.inbox = spare
	return d.popBatch()
}

// consume counts a yield of size taken, and returns the grant that gives
// the peer its credit back once half the window is consumed (none once the
// outcome is in); takeMu is held.
func (d *dialog) consume(size int) transport.Msg {
	d.consumed++
	d.consumedSize += size
	if d.consumed < d.recv.items/2 && d.consumedSize < d.recv.bytes/2 {
		return transport.Msg{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state.has(outcomeIn) {
		return transport.Msg{}
	}
	grant := transport.Msg{Kind: transport.KindCredit, CID: d.cid,
		Credit: uint32(d.consumed), CreditBytes: uint64(d.consumedSize)}
	d.inFlight -= d.consumed
	d.inFlightSize -= d.consumedSize
	d.consumed, d.consumedSize = 0, 0
	return grant
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

// closeSend sends this side's stop, once.
func (d *dialog) closeSend() {
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	d.mu.Lock()
	// Once the caller asked the peer to cancel, or is about to (its
	// dialog's ctx ended: see watch), the cancel is the end of its
	// sending: a stop behind it could reach a task that reads until
	// io.EOF before its cancellation does, and let it return a result
	// the caller never asked for.
	already := d.state.has(stopSent|outcomeIn|broken|cancelAsked) || (d.caller && d.ctx.Err() != nil)
	d.state |= stopSent
	d.mu.Unlock()
	signalIf(d.creditWake) // a Send waiting for credit: the stream is closed
	if !already {
		d.ch.sendCtl(transport.Msg{Kind: transport.KindStop, CID: d.cid})
	}
}

// stopIfStreaming sends stop for a callee whose stream is still open as its
// task returns: a generator that returns has ended its stream.
func (d *dialog) stopIfStreaming() {
	d.mu.Lock()
	due := (d.mode == modeStream || d.state.has(streamOpened)) && !d.state.has(stopSent)
	d.state |= stopSent
	d.mu.Unlock()
	if due {
		d.ch.sendCtl(transport.Msg{Kind: transport.KindStop, CID: d.cid})
	}
}

// receivePayload takes the next stream item, undecoded. It returns io.EOF
// once the peer has stopped or returned, and the outcome error if it failed.
func (d *dialog) receivePayload(ctx context.Context) (any, error) {
	for {
		m, err := d.take(ctx, true)
		if err == errEnded {
			return nil, d.receiveEnd()
		}
		if err != nil {
			return nil, err
		}
		switch m.Kind {
		case transport.KindYield:
			return m.Payload, nil
		case transport.KindStop:
			if d.failed() {
				// The peer closed its side, then failed: its error,
				// already here, is the stream's end, not io.EOF.
				continue
			}
			d.takeMu.Lock()
			d.recvEnded = true
			d.event(peerStopped)
			d.takeMu.Unlock()
			signal(d.wake)
		case transport.KindReturn, transport.KindError:
			d.setFinal(m)
			signal(d.wake)
		}
	}
}

// receiveEnd is what Receive returns once the stream has ended: the
// peer's error if it failed, whether or not it closed its side first, so
// that a Receive after the failure has arrived never reports io.EOF;
// io.EOF otherwise.
func (d *dialog) receiveEnd() error {
	d.mu.Lock()
	final, ferr := d.final, d.finalErr
	d.mu.Unlock()
	if ferr != nil {
		return ferr
	}
	if final.Kind == transport.KindError {
		return d.errorOf(final)
	}
	return io.EOF
}

// failed says whether the peer's error has arrived.
func (d *dialog) failed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.finalErr != nil
}
