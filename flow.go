// Flow control: the windows a dialog's receiver grants, the credit its
// sender spends, and sending a stream item within it.

package tractor

import (
	"context"
	"math"

	"github.com/tractor-go/tractor/transport"
)

// defaultWindow is how many yields a dialog's receiver accepts before the
// sender must wait for credit. The receiver grants credit back in batches of
// half a window, so a steady stream costs one credit message per 512 items.
// Across processes a grant takes a round trip of 50-400 µs on this kind of
// machine; with 256 a streaming sender stalled on credit (1.5 µs an item),
// with 1024 it no longer does (0.9 µs, bound by encoding and decoding).
const defaultWindow = 1024

// defaultWindowBytes bounds the bytes of the yields in flight on a dialog,
// alongside defaultWindow: a receiver that stops reading holds less than
// this plus one item (at most the 16 MiB frame limit between processes),
// where the item window alone let it hold 1024 items of any size, up to
// 16 GiB. Half of it, the grant batch, is 2 MiB: a grant's round trip
// (under half a millisecond) is shorter than the time a sender takes to
// send the batch, so large items stream as fast as with the item window
// alone (BenchmarkProcessStreamLarge: 64 KiB and 1 MiB items, the same
// rate within the noise of a loaded machine).
const defaultWindowBytes = 4 << 20

// flowWindow is a flow-control window: the yields, and the bytes of them,
// that a receiver lets its sender have in flight.
type flowWindow struct{ items, bytes int }

// dialogWindow is the window this side receives a dialog's stream with:
// the actor's, or the one opts give.
func (ch *session) dialogWindow(opts []DialogOption) flowWindow {
	if len(opts) == 0 {
		// Options escape the config: a call with none should not pay
		// an allocation for it.
		return ch.window
	}
	dc := dialogConfig{window: ch.window}
	for _, o := range opts {
		o.applyDialog(&dc)
	}
	return dc.window
}

// The caps of a flow-control window and of a sender's credit. Grants never
// take credit above them, nor revokes below their negatives, so that no
// sum of credit, grants, revokes and spent sizes overflows, on 32-bit
// platforms too. Every window is clamped to them where it is made
// (newFlowWindow), so that what a receiver announces, grants back, revokes
// and holds its peer to is always within what the peer's credit can hold:
// a window over the caps would be granted capped and revoked in full,
// leaving the sender less credit than its receiver reckons it has, and the
// stream stalled for good.
const (
	maxCreditItems = math.MaxInt32
	maxCreditBytes = math.MaxInt64 / 4
)

// newFlowWindow is the window of items and bytes, each clamped to the cap
// of credit: a larger value means no limit beyond the cap.
func newFlowWindow(items, bytes int) flowWindow {
	return flowWindow{items: min(items, maxCreditItems), bytes: int(min(int64(bytes), maxCreditBytes))}
}

// grant adds the credit that m (a credit message, or the peer's cmd or
// started message announcing its window) grants this side.
func (d *dialog) grant(m transport.Msg) {
	d.moveCredit(int64(min(m.Credit, maxCreditItems)), int64(min(m.CreditBytes, maxCreditBytes)))
}

// addCredit takes a credit message from the peer.
func (d *dialog) addCredit(m transport.Msg) {
	d.mu.Lock()
	d.grant(m)
	d.mu.Unlock()
	signalIf(d.creditWake)
}

// revoke takes back the credit a revoke message from the peer names: the
// peer shrank its window. A well-behaved peer never takes more than its
// window, within the caps, so credit never goes below minus the caps but
// by a yield in flight; one that revokes more leaves this side at that
// floor, never wrapped round to a credit it does not have, and what it
// grants later counts in full from there.
func (d *dialog) revoke(m transport.Msg) {
	d.mu.Lock()
	d.moveCredit(-int64(min(m.Credit, maxCreditItems)), -int64(min(m.CreditBytes, maxCreditBytes)))
	d.mu.Unlock()
}

// moveCredit adds items and bytes, each within its cap either way, to
// this side's credit, and holds the credit within its caps either way;
// d.mu is held, or the dialog not yet shared.
func (d *dialog) moveCredit(items, bytes int64) {
	d.credit = int(max(-maxCreditItems, min(int64(d.credit)+items, maxCreditItems)))
	d.creditBytes = max(-maxCreditBytes, min(d.creditBytes+bytes, maxCreditBytes))
}

// resize makes w the window this side receives the dialog's stream with,
// from now on: it grants the peer what w adds to the window announced
// before, and revokes what it takes away. Until the peer has the revoke,
// it may still send within the window it had, so the bound this side
// holds it to stays the largest window announced. Both windows are
// within the caps (newFlowWindow), so the grant and the revoke move the
// peer's credit by exactly what they name.
func (d *dialog) resize(w flowWindow) {
	d.takeMu.Lock() // consume reads recv under takeMu alone
	d.mu.Lock()
	old := d.recv
	d.recv = w
	d.bound = flowWindow{items: max(d.bound.items, w.items), bytes: max(d.bound.bytes, w.bytes)}
	d.mu.Unlock()
	d.takeMu.Unlock()
	grant := transport.Msg{Kind: transport.KindCredit, CID: d.cid}
	cut := transport.Msg{Kind: transport.KindRevoke, CID: d.cid}
	if w.items > old.items {
		grant.Credit = uint32(w.items - old.items)
	} else {
		cut.Credit = uint32(old.items - w.items)
	}
	if w.bytes > old.bytes {
		grant.CreditBytes = uint64(w.bytes - old.bytes)
	} else {
		cut.CreditBytes = uint64(old.bytes - w.bytes)
	}
	if grant.Credit > 0 || grant.CreditBytes > 0 {
		d.ch.sendCtl(grant)
	}
	if cut.Credit > 0 || cut.CreditBytes > 0 {
		d.ch.sendCtl(cut)
	}
}

// announce is the window this side receives with, as a cmd or started
// message announces it.
func (d *dialog) announce() (items uint32, bytes uint64) {
	return uint32(d.recv.items), uint64(d.recv.bytes)
}

// send sends one stream item, waiting for credit. Yields go one at a
// time, under sendMu, each once the previous one's size is spent, so that
// no two are sent on the same byte credit; a Send waits for credit without
// sendMu, so that a Close does not wait behind it. The size a yield spent
// is taken from the credit by the next one (see spent), in the same d.mu
// acquisition as its own credit: one a yield.
func (d *dialog) send(ctx context.Context, v any) error {
	for {
		d.sendMu.Lock()
		d.mu.Lock()
		d.creditBytes -= d.spent
		d.spent = 0
		err := d.sendErrLocked()
		ok := err == nil && d.credit > 0 && d.creditBytes > 0
		if ok {
			d.credit--
		}
		more := d.credit > 0
		d.mu.Unlock()
		if ok {
			return d.sendYield(ctx, v, more)
		}
		d.sendMu.Unlock()
		if err != nil {
			signalIf(d.creditWake) // sticky: wake the next sender too
			return err
		}
		select {
		case <-d.creditWake:
		case <-ctx.Done():
			return ctxErr(ctx)
		case <-d.ctx.Done():
			return d.endErr()
		}
	}
}

// sendYield sends a yield that has its credit; sendMu is held, and
// released. more says whether credit is left for another sender.
func (d *dialog) sendYield(ctx context.Context, v any, more bool) error {
	size, err := d.ch.sendSized(ctx, transport.Msg{Kind: transport.KindYield, CID: d.cid, Payload: v})
	if err == nil {
		d.spent = int64(size)
	} else {
		// It never left: give its credit back.
		d.mu.Lock()
		d.credit++
		d.mu.Unlock()
		more = true
	}
	d.sendMu.Unlock()
	if more {
		signal(d.creditWake) // pass the turn on to a waiting sender
	}
	if uerr := d.ch.unsendable(err, d.endpoint, "stream item"); uerr != nil {
		// Only this item failed, and it never left: the stream goes on.
		return uerr
	}
	if err != nil {
		return d.ch.sendFailure(err)
	}
	return nil
}

// endErr is why the dialog, whose ctx has ended, ended: a remote error, a
// cancel from either side, or the opener's ctx; the most specific reason.
func (d *dialog) endErr() error {
	d.mu.Lock()
	err := d.sendErrLocked()
	d.mu.Unlock()
	if err == nil {
		err = ctxErr(d.ctx)
	}
	return err
}

// sendErrLocked says why this side may not send a yield now, if it may not.
func (d *dialog) sendErrLocked() error {
	switch {
	case d.state.has(stopSent):
		return d.streamClosed("this side closed it")
	case d.state.has(broken):
		return d.gone
	case d.finalErr != nil:
		return d.finalErr
	case d.state.has(outcomeIn):
		return d.streamClosed("the peer's task returned")
	case !d.caller && d.ctx.Err() != nil:
		return ctxErr(d.ctx)
	case d.caller && d.state.has(cancelAsked):
		return ErrContextCancelled
	}
	return nil
}

// streamClosed is the ErrStreamClosed of a Send on the dialog's stream,
// naming the endpoint, the peer and why.
func (d *dialog) streamClosed(why string) error {
	return errorf("tractor: send on stream of %q with actor %s (%s): %w", d.endpoint, d.ch.peer, why, ErrStreamClosed)
}
