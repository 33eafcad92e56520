package tractor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// Context is one side of a dialog between two actors. The callee's task
// receives one; the caller of a context endpoint gets one from
// [CtxEndpoint.Open].
//
// Context implements [context.Context] on purpose: its Done channel closes
// when the dialog is cancelled from either side, when the actor running it
// is cancelled, when the peer fails or goes away, and (on the caller) when
// the ctx given to Open ends. Pass it to anything the task starts so
// cancellation reaches everything below it.
//
// Started and the methods for the callee may be called from one goroutine;
// a stream opened with [OpenStream] has its own rules (see [MsgStream]).
type Context struct {
	d *dialog

	mu      sync.Mutex
	started bool // callee: Started was called
	first   any  // caller: the Started value
	stream  bool // OpenStream opened the dialog's one stream
}

var _ context.Context = (*Context)(nil)

// Deadline implements [context.Context].
func (c *Context) Deadline() (time.Time, bool) { return c.d.ctx.Deadline() }

// Done implements [context.Context]; see the type's doc for when it closes.
func (c *Context) Done() <-chan struct{} { return c.d.ctx.Done() }

// Err implements [context.Context].
func (c *Context) Err() error { return c.d.ctx.Err() }

// Value implements [context.Context]: the values of the task's actor (the
// callee) or of the opener's ctx (the caller).
func (c *Context) Value(key any) any {
	if _, ok := key.(callerKey); ok && !c.d.caller {
		return c.d.ch.peer
	}
	return c.d.ctx.Value(key)
}

// Peer returns the actor on the other side of the dialog.
func (c *Context) Peer() ActorID { return c.d.ch.peer }

// Started sends the dialog's first value to the caller, whose Open is
// waiting for it (tractor's Context.started). Only the callee of a context
// endpoint calls it, once, before opening a stream. A value that cannot
// be sent, over the frame limit or not encodable, gives an error matching
// [ErrMessageTooLarge] or [ErrUnencodable] and counts as no call.
func (c *Context) Started(v any) error {
	if c.d.caller || c.d.mode != modeCtx {
		return errorf("tractor: Started is for the callee of a context endpoint: %w", ErrMisuse)
	}
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errorf("tractor: Started called twice: %w", ErrMisuse)
	}
	c.started = true
	c.mu.Unlock()
	if err := c.d.ctx.Err(); err != nil {
		return ctxErr(c.d.ctx)
	}
	// It announces the window this side receives the caller's stream
	// items with: the actor's.
	m := transport.Msg{Kind: transport.KindStarted, CID: c.d.cid, Payload: v}
	m.Credit, m.CreditBytes = c.d.announce()
	err := c.d.ch.conn.Send(c.d.ctx, m)
	if uerr := c.d.ch.unsendable(err, c.d.endpoint, "started value"); uerr != nil {
		// Nothing was sent: the task may return the error (its caller
		// then sees it) or call Started again with a value that fits.
		c.mu.Lock()
		c.started = false
		c.mu.Unlock()
		return uerr
	}
	if err != nil {
		return c.d.ch.sendFailure(err)
	}
	return nil
}

// awaitStarted waits, on the caller, for the callee's first value.
func (c *Context) awaitStarted(ctx context.Context) error {
	m, err := c.d.next(ctx)
	if err != nil {
		if ctx.Err() != nil && c.d.ch.goneErr() == nil {
			c.d.requestCancel()
			_, _ = c.d.awaitFinal()
		}
		c.d.finish()
		return err
	}
	switch m.Kind {
	case transport.KindStarted:
		c.first = m.Payload
		c.d.addCredit(m) // the callee's window: what this side may send
	case transport.KindReturn:
		// The task returned without calling Started: the first value is
		// nil and the result is ready.
		c.d.setFinal(m)
	case transport.KindError:
		c.d.finish()
		return c.d.errorOf(m)
	default:
		c.d.finish()
		return fmt.Errorf("tractor: protocol error from actor %s: %s before started", c.d.ch.peer, m.Kind)
	}
	return nil
}

// First returns the value the callee passed to [Context.Started], as a T
// (nil, if the task returned without calling it, gives T's zero value when
// T can hold nil). Only the caller calls it; a value that is not a T gives
// an error matching [ErrBadArgument]. First is a function, not a method,
// because Go methods cannot take type parameters.
//
// T is checked as an endpoint's declaration checks its types (see
// [FuncEndpoint]), on every hosting: a T that cannot cross a process, a
// channel say, gives an error matching [ErrMisuse] and
// [transport.ErrEncode] that names T and the field at fault. First returns
// it rather than panicking, as a declaration does, because it is a call
// made at run time, not a declaration made at start-up.
func First[T any](c *Context) (T, error) {
	var v T
	if err := checkWireType[T](); err != nil {
		return v, errorf("tractor: First: %w: %w", err, ErrMisuse)
	}
	if !c.d.caller {
		return v, errorf("tractor: First is for the caller: %w", ErrMisuse)
	}
	v, err := decode[T](c.first)
	if err != nil {
		return v, errorf("tractor: first value from actor %s: %w", c.d.ch.peer, err)
	}
	return v, nil
}

// OpenStream opens the two-way stream of c's dialog, on which this side
// sends Ss and receives Rs: on the caller, S is the callee's R and R its S.
// Both sides may open it; the callee only after Started. A dialog has one
// stream: a second call is an error, as is opening after the dialog was
// cancelled. OpenStream is a function, not a method, because Go methods
// cannot take type parameters.
//
// A [Window] among opts sets the flow-control window this side receives
// the stream with (see [MsgStream]), instead of the one it announced when
// the dialog opened: its actor's, or on the caller the one given to
// [CtxEndpoint.Open]. The peer is told at once, ahead of anything this
// side sends on the stream; what it sent before it learnt of a smaller
// window still arrives, and it sends more once this side has consumed
// enough to be within the new one.
//
// S and R are checked as an endpoint's declaration checks its item types
// (see [StreamEndpoint]), on every hosting: one that cannot cross a
// process, a channel say, gives an error matching [ErrMisuse] and
// [transport.ErrEncode] that names the type and the field at fault, and
// the stream is not opened. OpenStream returns it rather than panicking,
// as a declaration does, because it is a call made at run time, not a
// declaration made at start-up.
func OpenStream[S, R any](c *Context, opts ...DialogOption) (*MsgStream[S, R], error) {
	if c.d.mode != modeCtx {
		return nil, errorf("tractor: OpenStream is for context dialogs: %w", ErrMisuse)
	}
	if err := checkWireType[S](); err != nil {
		return nil, errorf("tractor: OpenStream: sent item %w: %w", err, ErrMisuse)
	}
	if err := checkWireType[R](); err != nil {
		return nil, errorf("tractor: OpenStream: received item %w: %w", err, ErrMisuse)
	}
	if err := c.openStream(); err != nil {
		return nil, err
	}
	if len(opts) > 0 {
		// Outside c.mu, since it sends (and may wait for a slow wire),
		// but before this side can send on the stream: OpenStream has
		// not returned it yet.
		if w := c.d.ch.dialogWindow(opts); w != c.d.recv {
			c.d.resize(w)
		}
	}
	return &MsgStream[S, R]{d: c.d}, nil
}

// openStream marks the dialog's one stream open, or says why it cannot be.
func (c *Context) openStream() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.d.caller && !c.started {
		return errorf("tractor: OpenStream before Started: %w", ErrMisuse)
	}
	if c.stream {
		return errorf("tractor: stream already opened: %w", ErrMisuse)
	}
	if c.d.ctx.Err() != nil && !(c.d.caller && c.d.outcomeArrived()) {
		// A caller opens the stream of a callee that already returned or
		// failed: Receive delivers what it sent first, then its outcome.
		return c.d.endErr()
	}
	c.stream = true
	c.d.event(streamOpened)
	return nil
}

// result waits for the callee's outcome and decodes its result into dst, a
// pointer (nil to discard it); see [CtxEndpoint.Result].
func (c *Context) result(ctx context.Context, dst any) error {
	mustCtx("Result", ctx)
	if !c.d.caller {
		return errorf("tractor: Result is for the caller: %w", ErrMisuse)
	}
	// Done with the dialog: a callee that reads until EOF must see it.
	c.mu.Lock()
	streaming := c.stream
	c.mu.Unlock()
	if streaming {
		c.d.closeSend()
	}
	payload, err := c.d.result(ctx)
	if err != nil || dst == nil {
		return err
	}
	if err := transport.Decode(payload, dst); err != nil {
		return errorf("tractor: result from actor %s: %w: %w", c.d.ch.peer, ErrBadArgument, err)
	}
	return nil
}

// Cancel cancels the dialog. On the caller it asks the callee to cancel its
// task (Result then returns ErrContextCancelled once acknowledged); on the
// callee it cancels the task itself, which the caller sees as a
// *RemoteError matching ErrContextCancelled. It does not wait.
func (c *Context) Cancel() {
	self := c.d.ch.local.id
	if c.d.caller {
		c.d.requestCancel()
		c.d.cancel(&cancelCause{by: self, reason: "cancelled by its caller"})
		return
	}
	c.d.cancel(&cancelCause{by: self, reason: "cancelled itself"})
}
