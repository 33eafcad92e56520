package tractor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

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

// channel is the local end of one connection to a peer actor: it multiplexes
// the dialogs either side opens, runs the tasks the peer asks for, and fails
// every pending dialog with an error naming the peer if the connection is
// lost. Both sides are symmetric; the side that created the connection opens
// dialogs with odd ids, the other with even ones.
type channel struct {
	local *Actor
	peer  ActorID
	conn  transport.Conn
	sized transport.SizedSender // conn, if it measures what it sends
	// peerActor is the peer itself when it lives in this process: function
	// calls to it then run inline (see callInline), not as dialogs.
	peerActor *Actor
	window    flowWindow // the local actor's, for its dialogs

	nextCID atomic.Uint64

	mu         sync.Mutex
	dialogs    map[uint64]*dialog
	closing    bool         // no new tasks: the local actor is ending
	refused    []uint64     // dialogs refused while closing; close answers them
	goneReason error        // why the connection ended, once it has
	gone       *RemoteError // the loss as dialogs see it; see goneErr
	goneHooks  []func()     // run once the connection has ended

	// workers run the callee tasks the peer starts. They are reused: a
	// fresh goroutine per task paid for its creation and, above all, for
	// growing its stack on every call. An idle worker waits on work; at
	// most maxIdleWorkers wait, the rest exit. drain closes work, and
	// workers counts them until they have all returned. (A plain
	// WaitGroup: invoke already recovers a task's panic, its outcome.)
	workers sync.WaitGroup
	work    chan func()
	idle    atomic.Int32
	done    chan struct{} // closed once serve has returned

	// ended is set once the peer said that it ends because it was
	// cancelled (a stop for dialog 0, its last message): a connection
	// that closes without it is a death.
	ended atomic.Bool
}

func newChannel(local *Actor, peer ActorID, conn transport.Conn, creator bool) *channel {
	ch := &channel{
		local:   local,
		peer:    peer,
		conn:    conn,
		window:  local.cfg.window,
		dialogs: make(map[uint64]*dialog),
		work:    make(chan func()),
		done:    make(chan struct{}),
	}
	ch.sized, _ = conn.(transport.SizedSender)
	if !creator {
		ch.nextCID.Store(0) // ids 2, 4, 6…; the creator's are 1, 3, 5…
	} else {
		ch.nextCID.Store(^uint64(0)) // so that the first Add(2) gives 1
	}
	return ch
}

// serve delivers the peer's messages until the connection ends, then fails
// every dialog still open with an error naming the peer. Its owner runs it
// in a goroutine and waits for it.
func (ch *channel) serve() {
	reason := ch.conn.Serve(ch.deliver)
	if reason == nil {
		reason = io.EOF // a Conn must say why; a nil would read as "still open"
	}
	if !errors.Is(reason, io.EOF) && !errors.Is(reason, transport.ErrClosed) {
		// A broken stream, or a peer that sent garbage or an oversized
		// frame: its connection is closed; say why.
		ch.local.log.Warn().Err(reason).Stringer("peer", &ch.peer).Msg("connection to peer failed")
	}
	ch.mu.Lock()
	ch.goneReason = reason
	ds := make([]*dialog, 0, len(ch.dialogs))
	for _, d := range ch.dialogs {
		ds = append(ds, d)
	}
	hooks := ch.goneHooks
	ch.goneHooks = nil
	ch.mu.Unlock()
	if len(ds) > 0 {
		gone := ch.goneErr()
		for _, d := range ds {
			d.peerGone(gone)
		}
	}
	close(ch.done)
	for _, f := range hooks {
		f()
	}
}

// onGone runs f once the connection has ended: at once if it already has,
// else from serve, after every dialog learned of the loss.
func (ch *channel) onGone(f func()) {
	ch.mu.Lock()
	if ch.goneReason == nil {
		ch.goneHooks = append(ch.goneHooks, f)
		ch.mu.Unlock()
		return
	}
	ch.mu.Unlock()
	f()
}

// maxIdleWorkers bounds the task goroutines a channel keeps for reuse.
const maxIdleWorkers = 16

// drain refuses new tasks and waits for the running ones to return.
func (ch *channel) drain() {
	ch.mu.Lock()
	if !ch.closing {
		ch.closing = true
		close(ch.work)
	}
	ch.mu.Unlock()
	ch.workers.Wait()
}

// spawnTask runs task on an idle worker, or on a new one. ch.mu is held,
// so drain cannot close work meanwhile.
func (ch *channel) spawnTask(task func()) {
	select {
	case ch.work <- task:
	default:
		ch.workers.Add(1)
		go ch.worker(task)
	}
}

func (ch *channel) worker(task func()) {
	defer ch.workers.Done()
	// Label the worker, and so every goroutine its tasks start, with its
	// actor: a goroutine dump (pprof, or a debugger's prompt) can then tell
	// the actors of one process apart.
	pprof.SetGoroutineLabels(ch.local.goroutineLabels())
	for {
		task()
		if ch.idle.Add(1) > maxIdleWorkers {
			ch.idle.Add(-1)
			return
		}
		next, ok := <-ch.work
		ch.idle.Add(-1)
		if !ok {
			return
		}
		task = next
	}
}

// close answers the calls refused while the actor was ending, ends the
// connection and waits for serve to return.
func (ch *channel) close() {
	ch.mu.Lock()
	refused := ch.refused
	ch.refused = nil
	ch.mu.Unlock()
	for _, cid := range refused {
		ch.sendCtl(transport.Msg{Kind: transport.KindError, CID: cid, Payload: refusal(ch.local.id)})
	}
	_ = ch.conn.Close()
	<-ch.done
}

// deliver files one incoming message. It never blocks: it is called from
// the transport's read loop, or from the peer's goroutine on the in-memory
// transport.
func (ch *channel) deliver(m transport.Msg) {
	switch m.Kind {
	case transport.KindCmd:
		ch.startTask(m)
	case transport.KindCancel:
		by, _ := decode[ActorID](m.Payload)
		if m.CID == 0 {
			ch.local.cancelBy(by, "cancel requested by a peer")
			return
		}
		if d := ch.dialog(m.CID); d != nil {
			d.cancelFromPeer(by)
		}
	case transport.KindCredit:
		if d := ch.dialog(m.CID); d != nil {
			d.addCredit(m)
		}
	case transport.KindStarted, transport.KindYield, transport.KindStop,
		transport.KindReturn, transport.KindError:
		if m.CID == 0 && m.Kind == transport.KindStop {
			// The peer's last message: it ends, as it was asked to.
			ch.ended.Store(true)
			return
		}
		if d := ch.dialog(m.CID); d != nil {
			d.push(m)
			return
		}
		ch.local.log.Debug().Stringer("kind", m.Kind).Uint64("cid", m.CID).
			Stringer("peer", &ch.peer).Msg("message for an ended dialog dropped")
	default:
		ch.local.log.Warn().Stringer("kind", m.Kind).Uint64("cid", m.CID).
			Stringer("peer", &ch.peer).Msg("unknown message kind dropped")
	}
}

func (ch *channel) dialog(cid uint64) *dialog {
	ch.mu.Lock()
	d := ch.dialogs[cid]
	ch.mu.Unlock()
	return d
}

func (ch *channel) remove(d *dialog) {
	ch.mu.Lock()
	if ch.dialogs[d.cid] == d {
		delete(ch.dialogs, d.cid)
	}
	ch.mu.Unlock()
}

// sendCtl sends a control message (stop, cancel, credit, a refusal).
// These need no credit; a failure means the peer is gone, which every
// dialog learns from serve, so it is only logged.
func (ch *channel) sendCtl(m transport.Msg) {
	if err := ch.conn.Send(context.Background(), m); err != nil {
		ch.local.log.Debug().Err(err).Stringer("kind", m.Kind).Uint64("cid", m.CID).
			Stringer("peer", &ch.peer).Msg("control message not sent")
	}
}

// testHookDetachedSend, set by tests, runs with the ctx a detached request
// is sent under, just before it is sent: it stands for a sending goroutine
// that a loaded machine schedules late.
var testHookDetachedSend func(ctx context.Context)

// detach runs send, which sends a request to the peer and may wait for its
// reply, so that no deadline decides whether the request goes out: a
// timeout bounds how long the runtime waits for an answer, never whether
// it asks. A deadline that expired before a loaded machine ran the send
// would drop the request: a cancel never asked, an actor left listed in
// the registrar. Whoever asks waits on the returned channel, closed once
// send has returned, within its own bound.
//
// In memory a send never waits, so send runs inline; it must then not wait
// for a reply. Over a wire a send waits while the peer is not reading, so
// it runs in a goroutine the node owns, under a ctx that ends with the
// connection (which ends every wait of send), or inline if the node is
// closing (its connections are closed or closing then).
func (ch *channel) detach(send func(ctx context.Context)) <-chan struct{} {
	done := make(chan struct{})
	run := func() {
		defer close(done)
		ctx := connCtx{ch.done}
		if testHookDetachedSend != nil {
			testHookDetachedSend(ctx)
		}
		send(ctx)
	}
	if _, wire := ch.conn.(*transport.WireConn); !wire || !ch.local.node.spawn(run) {
		run()
	}
	return done
}

// connCtx is a context that ends when its connection does (done is the
// channel's): the lifetime of a request no deadline may stop. Unlike one
// cancelled from onGone, it leaves nothing behind on a long-lived
// connection, such as the registrar's, for each request.
type connCtx struct{ done <-chan struct{} }

func (c connCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c connCtx) Done() <-chan struct{}       { return c.done }
func (c connCtx) Value(any) any               { return nil }

func (c connCtx) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

// sendSized sends m and returns its size as the peer measures it, 0 over
// a connection that does not measure (see transport.SizedSender).
func (ch *channel) sendSized(ctx context.Context, m transport.Msg) (int, error) {
	if ch.sized != nil {
		return ch.sized.SendSized(ctx, m)
	}
	return 0, ch.conn.Send(ctx, m)
}

// open starts a dialog with the peer: the caller's side of every call. For
// a stream or context dialog, its cmd announces the window this side
// receives with: the actor's, or the one opts give.
func (ch *channel) open(ctx context.Context, endpoint string, md mode, arg any, opts ...DialogOption) (*dialog, error) {
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
	ch.mu.Lock()
	if g := ch.goneLocked(); g != nil {
		ch.mu.Unlock()
		d.finish()
		return nil, g
	}
	ch.dialogs[d.cid] = d
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

// dialogWindow is the window this side receives a dialog's stream with:
// the actor's, or the one opts give.
func (ch *channel) dialogWindow(opts []DialogOption) flowWindow {
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

// lost is the error every dialog with the peer gets once the connection
// ended: a *RemoteError naming the peer that matches ErrActorGone.
func (ch *channel) lost(reason error) *RemoteError {
	return &RemoteError{
		Actor:     ch.peer,
		Type:      "tractor.ActorGone",
		Message:   fmt.Sprintf("connection to actor lost: %v", reason),
		RelayPath: []ActorID{ch.peer},
		Code:      "actor_gone",
	}
}

// linkErr is goneErr, known as soon as the connection has ended: an
// in-memory connection says so at once, before serve has seen it.
func (ch *channel) linkErr() error {
	if g := ch.goneErr(); g != nil {
		return g
	}
	if e, ok := ch.conn.(interface{ Ended() error }); ok {
		if reason := e.Ended(); reason != nil {
			return ch.lost(reason)
		}
	}
	return nil
}

// goneErr returns the connection's loss once serve has returned, built on
// first use (most channels end with no dialog left to tell), else nil.
func (ch *channel) goneErr() error {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.goneLocked()
}

func (ch *channel) goneLocked() error {
	if ch.goneReason == nil {
		return nil
	}
	if ch.gone == nil {
		ch.gone = ch.lost(ch.goneReason)
	}
	return ch.gone
}

// startTask runs the task a peer's cmd message asks for, in a goroutine the
// channel owns.
func (ch *channel) startTask(m transport.Msg) {
	d := newDialog(ch, m.CID, mode(m.Mode), false, ch.window)
	d.grant(m) // the caller's window: what this task may yield to it
	d.endpoint = m.Endpoint
	d.ctx, d.cancel = context.WithCancelCause(ch.local.ctx)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.closing || ch.goneReason != nil {
		d.cancel(nil)
		ch.refused = append(ch.refused, m.CID)
		ch.local.log.Debug().Str("endpoint", m.Endpoint).Msg("call refused: actor is ending")
		return
	}
	if _, dup := ch.dialogs[m.CID]; dup {
		d.cancel(nil)
		ch.local.log.Warn().Uint64("cid", m.CID).Stringer("peer", &ch.peer).
			Msg("protocol error: dialog id reused; cmd dropped")
		return
	}
	ch.dialogs[m.CID] = d
	ch.spawnTask(func() { ch.runTask(d, m.Endpoint, m.Payload) })
}

// runTask runs one callee task to its single outcome and reports it.
func (ch *channel) runTask(d *dialog, name string, arg any) {
	c := &Context{d: d}
	res, err := invoke(c, name, d.mode, arg)
	var final transport.Msg
	if err == nil {
		d.stopIfStreaming()
		final = transport.Msg{Kind: transport.KindReturn, CID: d.cid, Payload: res}
	} else {
		re := ch.failTask(c, name, err)
		final = transport.Msg{Kind: transport.KindError, CID: d.cid, Payload: re}
		ch.local.log.Debug().Str("error", re.Message).Str("endpoint", name).Msg("task failed")
	}
	d.finish()
	ch.sendFinal(final, name)
}

// sendFinal sends a task's final message. One that cannot go because of
// its payload (a result over the frame limit or holding a chan, an error
// whose text is 20 MiB) is replaced by a small error message saying so:
// the caller is waiting for the dialog's one outcome, and this is it.
func (ch *channel) sendFinal(final transport.Msg, name string) {
	err := ch.conn.Send(context.Background(), final)
	if err == nil {
		return
	}
	what := "result"
	if final.Kind == transport.KindError {
		what = "error"
	}
	if uerr := ch.unsendable(err, name, what); uerr != nil {
		ch.local.log.Debug().Err(uerr).Str("endpoint", name).Msg("final message replaced by an error")
		final = transport.Msg{Kind: transport.KindError, CID: final.CID, Payload: boxUnsendable(uerr, ch.local.id)}
		err = ch.conn.Send(context.Background(), final)
	}
	if err != nil {
		// The peer is gone: every dialog learns it from serve.
		ch.local.log.Debug().Err(err).Stringer("kind", final.Kind).Uint64("cid", final.CID).
			Stringer("peer", &ch.peer).Msg("final message not sent")
	}
}

// unsendable returns the error for a message of the dialog with endpoint
// that could not be sent because of its payload, over the frame limit or
// not encodable, naming what it was (argument, result, stream item...), the
// endpoint and the peer; or nil if err says something else, such as that
// the connection ended. After such a failure nothing was written: the
// connection is intact and only that message failed.
func (ch *channel) unsendable(err error, endpoint, what string) error {
	var sentinel error
	switch {
	case errors.Is(err, transport.ErrFrameTooLarge):
		sentinel = ErrMessageTooLarge
	case errors.Is(err, transport.ErrEncode):
		sentinel = ErrUnencodable
	default:
		return nil
	}
	return fmt.Errorf("tractor: %s of endpoint %q not sent to actor %s: %w: %w", what, endpoint, ch.peer, sentinel, err)
}

// sendFailure is the error a dialog's user sees for a message of theirs
// that the connection did not take: the connection's loss, as Receive
// reports it, once the link broke (even before serve has seen it), never
// the transport's own error; anything else as it is.
func (ch *channel) sendFailure(err error) error {
	if g := ch.goneErr(); g != nil {
		return g
	}
	if errors.Is(err, transport.ErrClosed) {
		return ch.lost(err)
	}
	return err
}

// refusal is the error of a call that actor self refused because it is
// ending.
func refusal(self ActorID) RemoteError {
	return RemoteError{
		Actor: self, Type: "tractor.ActorEnding", RelayPath: []ActorID{self},
		Message: "call refused: actor " + self.String() + " is ending", Code: "actor_gone",
	}
}

// boxUnsendable boxes an error of unsendable for the caller, who matches
// it with the same sentinel. Unlike boxError it carries no stack: the
// runtime's own would say nothing about the task.
func boxUnsendable(err error, self ActorID) RemoteError {
	code, typ := codeOf(err), "tractor.MessageTooLarge"
	if errors.Is(err, ErrUnencodable) {
		typ = "tractor.Unencodable"
	}
	return RemoteError{Actor: self, Type: typ, Message: err.Error(), RelayPath: []ActorID{self}, Code: code}
}

// failTask handles a task's failure, err, and returns its boxed error.
func (ch *channel) failTask(c *Context, name string, err error) RemoteError {
	return ch.local.taskFailure(c, name, err, context.Cause(c.d.ctx))
}

// taskFailure handles the failure err of a task of endpoint whose ctx is
// ctx (and cause, its cancellation's) and returns its boxed error, the
// one its caller gets. Both call code of the task's: err's methods (Error,
// Is, As, Unwrap) and the OnTaskError hook, which a task's own
// cancellation does not call. If that code panics, the task's outcome is
// that panic, boxed as one: the actor and its other tasks go on.
func (a *Actor) taskFailure(ctx context.Context, endpoint string, err, cause error) (re RemoteError) {
	defer func() {
		if v := recover(); v != nil {
			re = boxPanic(fmt.Sprintf("handling the task's error: %v", v), debug.Stack(), a.id)
		}
	}()
	cancelled := ctx.Err() != nil && isCancellation(err)
	if f := a.cfg.onTaskError; f != nil && !cancelled {
		stack := debug.Stack()
		var pe *panicError
		if errors.As(err, &pe) {
			stack = pe.stack
		}
		f(ctx, endpoint, err, stack)
	}
	return boxFailure(err, cancelled, cause, a.id)
}

// invoke looks the endpoint up and runs it, turning a panic into a
// *panicError: the policy is that a panic in an actor task is an error of
// that task, with the panicking stack.
func invoke(c *Context, name string, md mode, arg any) (res any, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	a := c.d.ch.local
	ep, err := a.lookup(name)
	if err != nil {
		return nil, err
	}
	if ep.mode() != md {
		return nil, fmt.Errorf("endpoint %q in actor %s is a %s endpoint, called as a %s: %w",
			name, a.id, ep.mode(), md, ErrMisuse)
	}
	return ep.serve(c, arg)
}

// boxFailure makes the error message for a failed task of actor self:
// its panic, its cancellation if it was cancelled (cause says by whom), or
// its error. A task that ended because it was cancelled reports
// ErrContextCancelled with the actor that asked for it, as tractor's
// ContextCancelled does.
func boxFailure(err error, cancelled bool, cause error, self ActorID) RemoteError {
	var pe *panicError
	if errors.As(err, &pe) {
		return boxPanic(pe.value, pe.stack, self)
	}
	if cancelled {
		canceller := self
		var cc *cancelCause
		if errors.As(cause, &cc) {
			canceller = cc.by
		}
		return RemoteError{
			Actor:     self,
			Type:      "tractor.ContextCancelled",
			Message:   fmt.Sprintf("task cancelled by actor %s", canceller),
			RelayPath: []ActorID{self},
			Canceller: canceller,
			Code:      "context_cancelled",
		}
	}
	return boxError(err, self)
}

// panicError carries a recovered panic to the place that boxes it.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string        { return fmt.Sprintf("panic: %v", p.value) }
func (p *panicError) Is(target error) bool { return target == ErrPanic }
