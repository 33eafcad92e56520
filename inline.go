package tractor

import (
	"context"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// A function call to an actor of this process runs on the caller's
// goroutine, as a task of the callee: the callee counts it among its tasks
// (its end waits for it, and refuses new ones), its ctx is the callee's
// (CurrentActor names the callee, and the callee's cancellation reaches
// it) joined with the caller's (whose end cancels it, as a cancel message
// would), and its outcome is the one a dialog would deliver. Nothing is
// sent, queued or handed to another goroutine: a call costs about what a
// direct call costs, where a dialog costs two goroutine hand-offs. What a
// caller can tell apart: it waits for the function to return, where a
// dialog's caller whose ctx ended stops waiting for an acknowledgement
// after the cancel timeout (a task that ignores its ctx holds its caller,
// as a Go function would); a function that exits its goroutine
// (runtime.Goexit) exits the caller's; and, while the function runs, the
// goroutine's stack and pprof labels are the callee's over the caller's.
// Under WireCheck the call is still inline, but its argument, result and
// error pass through the codec on their way (see callChecked).

// callInline runs e in callee, an actor of this process, with arg, on the
// caller's goroutine; ch is the caller's connection to it, for what a
// dialog over it would report.
func (e *FuncEndpoint[A, R]) callInline(ctx context.Context, ch *session, callee *Actor, arg A) (R, error) {
	if ch.wireCheck {
		return e.callChecked(ctx, ch, callee, arg)
	}
	var zero R
	t, err := beginInline(ctx, ch, callee)
	if err != nil {
		return zero, err
	}
	defer t.release() // even if the function exits the goroutine
	res, err := e.runInline(t, arg)
	if err := t.finish(ch, e.name, err); err != nil {
		return zero, callOutcome(ctx, err)
	}
	return res, nil
}

// callChecked is callInline under [WireCheck]: the argument, the result
// and the error pass through the codec, as they would to and from a
// process actor.
func (e *FuncEndpoint[A, R]) callChecked(ctx context.Context, ch *session, callee *Actor, arg A) (R, error) {
	var zero R
	payload, err := ch.checkArg(ctx, e.name, arg)
	if err != nil {
		return zero, err
	}
	t, err := beginInline(ctx, ch, callee)
	if err != nil {
		return zero, err
	}
	defer t.release() // even if the function exits the goroutine
	res, err := e.runAny(t, payload)
	if res, err = t.outcome(ch, e.name, res, err); err != nil {
		return zero, callOutcome(ctx, err)
	}
	return e.decodeResult(res)
}

// checkArg returns arg as the callee of a call over ch to endpoint
// receives it: as it is, or, under [WireCheck], encoded and decoded, once
// the checks a dialog's opening makes first (ctx, the link) have passed.
// An argument that could not go over a wire fails the call, locally, as
// a dialog's does.
func (ch *session) checkArg(ctx context.Context, endpoint string, arg any) (any, error) {
	if !ch.wireCheck {
		return arg, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ch.linkErr(); err != nil {
		return nil, err
	}
	m, err := transport.RoundTrip(transport.Msg{Kind: transport.KindCmd, CID: 1, Endpoint: endpoint, Mode: uint8(modeFunc), Payload: arg})
	if err != nil {
		return nil, ch.unsendable(err, endpoint, "argument")
	}
	return m.Payload, nil
}

// runAny is runInline for a one-shot's invocation, whose argument and
// result travel as any (see Nursery.runInline).
func (e *FuncEndpoint[A, R]) runAny(t *inlineTask, arg any) (any, error) {
	a, err := decodeArg[A](e.name, arg)
	if err != nil {
		return nil, err
	}
	return e.runInline(t, a)
}

// beginInline starts an inline task of callee for a call made with ctx
// over ch: unless ctx has ended, the link is down, or callee is ending
// (the errors a dialog would give), it is counted in, and the goroutine
// carries callee's labels until finish.
func beginInline(ctx context.Context, ch *session, callee *Actor) (*inlineTask, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ch.linkErr(); err != nil {
		return nil, err
	}
	if !callee.inline.enter() {
		re := refusal(callee.id)
		return nil, &re
	}
	pprof.SetGoroutineLabels(callee.goroutineLabels())
	return &inlineTask{callee: callee, caller: ctx, by: ch.local.id, wire: ch.wireCheck}, nil
}

// finish ends the task, which returned err, and returns what its caller
// gets: the dialog's outcome but for the wrapping of a cancellation the
// caller asked for (see callOutcome).
func (t *inlineTask) finish(ch *session, endpoint string, err error) error {
	restoreLabels(t.caller, ch.local)
	if err != nil {
		err = t.failure(endpoint, err)
	} else if lerr := ch.linkErr(); lerr != nil {
		// The link broke while the task ran, so a dialog's result
		// would not have come: the caller learns the loss instead.
		err = lerr
	}
	t.release()
	return err
}

// outcome is finish for a task that returned res, err, and returns what
// its caller gets: under [WireCheck], the result as the codec delivers
// it, or, for one that could not go over a wire, the error a dialog's
// task replaces it with (see sendFinal).
func (t *inlineTask) outcome(ch *session, endpoint string, res any, err error) (any, error) {
	if err := t.finish(ch, endpoint, err); err != nil {
		return nil, err
	}
	if !t.wire {
		return res, nil
	}
	m, err := transport.RoundTrip(transport.Msg{Kind: transport.KindReturn, CID: 1, Payload: res})
	if err != nil {
		return nil, callerError(t.unsendable(err, endpoint, "result"), false, t.by)
	}
	return m.Payload, nil
}

// unsendable boxes the error of a message of the task's, err from
// transport.RoundTrip, that could not have gone to its caller.
func (t *inlineTask) unsendable(err error, endpoint, what string) RemoteError {
	return boxUnsendable(unsendableTo(err, endpoint, what, t.by), t.callee.id)
}

// wireError returns the boxed error re as the codec delivers it to the
// caller, without the values the codec cannot carry, or, if it still
// could not go over a wire, replaced by the error saying so, as a
// dialog's task does (see sendFinal).
func (t *inlineTask) wireError(endpoint string, re RemoteError) RemoteError {
	m, err := transport.RoundTrip(transport.Msg{Kind: transport.KindError, CID: 1, Payload: re})
	if out, retry := withoutUnencodable(re, err); retry {
		m, err = transport.RoundTrip(transport.Msg{Kind: transport.KindError, CID: 1, Payload: out})
	}
	if err != nil {
		return t.unsendable(err, endpoint, "error")
	}
	out, _ := decodeRemoteError(m.Payload, t.callee.id)
	return out
}

// release ends the task and counts it out of its actor, once: from
// finish, or, should the function exit its goroutine (runtime.Goexit, as
// t.FailNow calls), from its caller's deferred call, so that the actor
// can still end.
func (t *inlineTask) release() {
	if t.released {
		return
	}
	t.released = true
	t.end()
	t.callee.inline.leave()
}

// runInline runs the endpoint's function as the task t, if its actor
// exposes it, turning a panic into a *panicError as invoke does.
func (e *FuncEndpoint[A, R]) runInline(t *inlineTask, arg A) (res R, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = t.callee.recoverTask(t, e.name, v)
		}
	}()
	if _, ok := t.callee.exposes(e.name); !ok {
		// Names are unique in a process: exposing the name exposes e.
		_, err := t.callee.lookup(e.name)
		return res, err
	}
	return e.fn(t, arg)
}

// restoreLabels gives the caller's goroutine its pprof labels back after
// an inline task: those of ctx if it carries any (the caller set them with
// pprof.Do), else those of its actor, which label every goroutine running
// the actor's tasks.
func restoreLabels(ctx context.Context, caller *Actor) {
	if t, ok := ctx.(*inlineTask); ok {
		// A call from an inline task: back to that task's labels.
		pprof.SetGoroutineLabels(t.callee.goroutineLabels())
		return
	}
	labelled := false
	pprof.ForLabels(ctx, func(string, string) bool { labelled = true; return false })
	if labelled {
		pprof.SetGoroutineLabels(ctx)
		return
	}
	pprof.SetGoroutineLabels(caller.goroutineLabels())
}

// inlineTask is the ctx of a function task that runs on its caller's
// goroutine. It is what the ctx of a task started by a dialog is, without
// its cost: cancelled when the callee actor is, when the caller's ctx
// ends (the caller then names the canceller), and once the task has
// returned; its values are the callee actor's. A context that can be
// waited on (Done) and that knows its cause is made only when one is asked
// for: most functions only ever check Err, or nothing.
type inlineTask struct {
	callee *Actor
	caller context.Context
	by     ActorID // the calling actor
	wire   bool    // its values pass through the codec (WireCheck)

	ended    atomic.Bool
	released bool // by release; only its goroutine reads it

	mu     sync.Mutex
	ctx    context.Context // made by full, once
	cancel context.CancelCauseFunc
	stop   func() bool // stops the AfterFunc on caller
}

var _ context.Context = (*inlineTask)(nil)

// Deadline implements context.Context: a task has its actor's deadline,
// not its caller's, as over a connection.
func (t *inlineTask) Deadline() (time.Time, bool) { return t.callee.ctx.Deadline() }

// Done implements context.Context.
func (t *inlineTask) Done() <-chan struct{} { return t.full().Done() }

// Err implements context.Context.
func (t *inlineTask) Err() error {
	if ctx := t.made(); ctx != nil {
		return ctx.Err()
	}
	if err := t.callee.ctx.Err(); err != nil {
		return err // the actor's: a root's may be its deadline
	}
	if t.ended.Load() || t.caller.Err() != nil {
		return context.Canceled
	}
	return nil
}

// Value implements context.Context: the actor's values. The full context
// holds the same ones but for the context package's own key, an *int,
// through which context.Cause finds the cancellation: only that key makes
// it.
func (t *inlineTask) Value(key any) any {
	switch key.(type) {
	case actorKey:
		return t.callee
	case callerKey:
		return t.by
	case *int:
		return t.full().Value(key)
	}
	return t.callee.ctx.Value(key)
}

// made returns the full context, if it has been made.
func (t *inlineTask) made() context.Context {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ctx
}

// full returns the task's context as a cancellable one, made on first use.
func (t *inlineTask) full() context.Context {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx != nil {
		return t.ctx
	}
	ctx, cancel := context.WithCancelCause(t.callee.ctx)
	t.ctx, t.cancel = ctx, cancel
	switch {
	case t.ended.Load():
		cancel(context.Canceled)
	case t.caller.Err() != nil:
		cancel(t.callerCause())
	default:
		t.stop = context.AfterFunc(t.caller, func() { cancel(t.callerCause()) })
	}
	return ctx
}

// callerCause is the cause of a cancellation by the caller.
func (t *inlineTask) callerCause() error {
	return &cancelCause{by: t.by, reason: "cancelled by its caller"}
}

// cause is why the task was cancelled, as context.Cause would say.
func (t *inlineTask) cause() error {
	if ctx := t.made(); ctx != nil {
		return context.Cause(ctx)
	}
	if t.caller.Err() != nil {
		return t.callerCause()
	}
	return context.Cause(t.callee.ctx)
}

// end cancels the task once it has returned, as a dialog's end cancels
// its task's ctx: anything that kept it sees it done.
func (t *inlineTask) end() {
	t.ended.Store(true)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx == nil {
		return
	}
	if t.stop != nil {
		t.stop()
	}
	t.cancel(context.Canceled)
}

// failure is what the caller of the task gets for its error err: what the
// task's dialog would have carried, its cancellation included.
func (t *inlineTask) failure(endpoint string, err error) error {
	a := t.callee
	re := a.taskFailure(t, endpoint, err, t.cause())
	a.debugTaskFailed(endpoint, re.Message, re.Stack)
	if t.wire {
		re = t.wireError(endpoint, re)
	}
	return callerError(re, t.caller.Err() != nil, t.by)
}

// taskGate counts an actor's inline tasks: its end closes the gate, which
// refuses new ones, and waits for those running.
type taskGate struct {
	n      atomic.Int64 // running tasks, plus gateClosed once closed
	mu     sync.Mutex
	idle   chan struct{} // made by a close that must wait; closed by the last leave
	isIdle bool          // closed, and no task runs
}

const gateClosed = 1 << 62

// enter counts a task in, unless the gate is closed.
func (g *taskGate) enter() bool {
	if g.n.Add(1)&gateClosed != 0 {
		g.leave()
		return false
	}
	return true
}

// leave counts a task out.
func (g *taskGate) leave() {
	if g.n.Add(-1) != gateClosed {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.isIdle {
		g.isIdle = true
		if g.idle != nil {
			close(g.idle)
		}
	}
}

// closeAndWait refuses new tasks and waits for the running ones to return.
func (g *taskGate) closeAndWait() {
	g.mu.Lock()
	n := g.n.Load()
	for n&gateClosed == 0 && !g.n.CompareAndSwap(n, n|gateClosed) {
		n = g.n.Load()
	}
	// A leave that brings the count to nothing from here on waits for
	// mu, and so finds idle made.
	if n&^gateClosed == 0 || g.isIdle {
		g.isIdle = true
		g.mu.Unlock()
		return
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()
	<-idle
}
