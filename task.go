// The callee's side of a dialog: a task started by a peer's call, run on
// a reused worker, its outcome boxed and sent, its failures and panics
// turned into the errors its caller sees.

package tractor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"runtime/pprof"

	"github.com/tractor-go/tractor/transport"
)

// maxIdleWorkers bounds the task goroutines a channel keeps for reuse.
const maxIdleWorkers = 16

// drain refuses new tasks and waits for the running ones to return.
func (ch *session) drain() {
	ch.mu.Lock()
	if !ch.closing {
		ch.closing = true
		if ch.work != nil {
			close(ch.work)
		}
	}
	ch.mu.Unlock()
	ch.workers.Wait()
}

// spawnTask runs task on an idle worker, or on a new one. ch.mu is held,
// so drain cannot close work meanwhile.
func (ch *session) spawnTask(task func()) {
	if ch.work == nil {
		ch.work = make(chan func())
	}
	select {
	case ch.work <- task:
	default:
		ch.workers.Add(1)
		go ch.worker(task)
	}
}

func (ch *session) worker(task func()) {
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

// startTask runs the task a peer's cmd message asks for, in a goroutine the
// session owns.
func (ch *session) startTask(m transport.Msg) {
	d := newDialog(ch, m.CID, mode(m.Mode), false, ch.window)
	d.grant(m) // the caller's window: what this task may yield to it
	d.endpoint = m.Endpoint
	d.ctx, d.cancel = context.WithCancelCause(ch.local.ctx)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.closing || ch.goneReason != nil {
		d.cancel(nil)
		ch.refused = append(ch.refused, m.CID)
		if l := ch.local.debug(); l != nil {
			l.Debug("call refused: actor is ending", slog.String("endpoint", m.Endpoint))
		}
		return
	}
	if _, dup := ch.dialogs[m.CID]; dup || !ch.peersID(m.CID) {
		d.cancel(nil)
		ch.local.logger().Warn("protocol error: dialog id reused, or not the peer's to open; cmd dropped", slog.Uint64("cid", m.CID), slog.String("peer", ch.peer.String()))
		return
	}
	ch.addLocked(d)
	ch.spawnTask(func() { ch.runTask(d, m.Endpoint, m.Payload) })
}

// runTask runs one callee task to its single outcome and reports it.
func (ch *session) runTask(d *dialog, name string, arg any) {
	c := &Context{d: d}
	res, err := invoke(c, name, d.mode, arg)
	var final transport.Msg
	if err == nil {
		d.stopIfStreaming()
		final = transport.Msg{Kind: transport.KindReturn, CID: d.cid, Payload: res}
	} else {
		re := ch.failTask(c, name, err)
		final = transport.Msg{Kind: transport.KindError, CID: d.cid, Payload: re}
		ch.local.debugTaskFailed(name, re.Message, re.Stack)
	}
	d.finish()
	ch.sendFinal(final, name)
}

// sendFinal sends a task's final message. An error whose tree holds a
// value the codec cannot carry goes without that value (see
// withoutUnencodable). One that still cannot go because of its payload (a
// result over the frame limit or holding a chan, an error whose text is
// 20 MiB) is replaced by a small error message saying so: the caller is
// waiting for the dialog's one outcome, and this is it.
func (ch *session) sendFinal(final transport.Msg, name string) {
	err := ch.conn.Send(context.Background(), final)
	if err == nil {
		return
	}
	if re, ok := final.Payload.(RemoteError); ok {
		if out, retry := withoutUnencodable(re, err); retry {
			final.Payload = out
			if err = ch.conn.Send(context.Background(), final); err == nil {
				return
			}
		}
	}
	what := "result"
	if final.Kind == transport.KindError {
		what = "error"
	}
	if uerr := ch.unsendable(err, name, what); uerr != nil {
		if l := ch.local.debug(); l != nil {
			l.Debug("final message replaced by an error", slog.Any("err", uerr), slog.String("endpoint", name))
		}
		final = transport.Msg{Kind: transport.KindError, CID: final.CID, Payload: boxUnsendable(uerr, ch.local.id)}
		err = ch.conn.Send(context.Background(), final)
	}
	if err != nil {
		// The peer is gone: every dialog learns it from serve.
		if l := ch.local.debug(); l != nil {
			l.Debug("final message not sent", slog.Any("err", err), slog.String("kind", final.Kind.String()), slog.Uint64("cid", final.CID), slog.String("peer", ch.peer.String()))
		}
	}
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
func (ch *session) failTask(c *Context, name string, err error) RemoteError {
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
	var pe *panicError
	panicked := errors.As(err, &pe)
	if f := a.cfg.onTaskError; f != nil && !cancelled && !panicked {
		// A panic's hook ran where it was recovered (see recoverTask).
		f(ctx, endpoint, err, debug.Stack())
	}
	return boxFailure(err, cancelled, cause, a.id)
}

// recoverTask returns the error of a task of endpoint, with ctx, of actor
// a, that panicked with v: a *panicError with the panicking stack. Every
// deferred call that recovers a task's panic (invoke, runInline,
// generate) calls it, so the OnTaskError hook runs there, once, while
// the panicking frames are still on the goroutine's stack: a debugger
// that attaches from the hook sees the failing frame with its locals. A
// panic of the hook's own becomes the task's outcome, as in taskFailure.
func (a *Actor) recoverTask(ctx context.Context, endpoint string, v any) (err error) {
	pe := &panicError{value: v, stack: debug.Stack()}
	f := a.cfg.onTaskError
	if f == nil {
		return pe
	}
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: fmt.Sprintf("handling the task's error: %v", v), stack: debug.Stack()}
		}
	}()
	f(ctx, endpoint, pe, pe.stack)
	return pe
}

// invoke looks the endpoint up and runs it, turning a panic into a
// *panicError: the policy is that a panic in an actor task is an error of
// that task, with the panicking stack.
func invoke(c *Context, name string, md mode, arg any) (res any, err error) {
	a := c.d.ch.local
	defer func() {
		if v := recover(); v != nil {
			err = a.recoverTask(c, name, v)
		}
	}()
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

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

func (p *panicError) Is(target error) bool { return target == ErrPanic }
