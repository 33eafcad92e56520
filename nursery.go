package tractor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/conc/panics"
)

// Nursery spawns actors and supervises them (tractor's ActorNursery). Get
// one from [OpenNursery]; it is valid until the body returns.
//
// Supervision is one-cancels-all: the first child error cancels the
// nursery, which cancels every other child and the nursery's ctx
// ([Nursery.Context]). OpenNursery returns only after every child has
// ended, with every error that was not merely a consequence of that
// cancellation.
type Nursery struct {
	actor *Actor
	cfg   config

	ctx    context.Context
	cancel context.CancelCauseFunc

	mu     sync.Mutex
	closed bool
	errs   []error
	tasks  int           // local tasks running (see Go)
	sem    chan struct{} // one slot per task that may run, if limited (see SetLimit)

	// watched lists the children its cancellation must reach: daemons
	// (see watch) and one-shots while their invocation runs inline (see
	// runInline); one AfterFunc on ctx, made with the first, serves them
	// all.
	watched   *Portal
	watching  bool
	cancelled bool // that AfterFunc has run: no list any more

	wg sync.WaitGroup // every goroutine of every child and every task
}

// OpenNursery runs body with a new nursery and returns once body has
// returned and every actor the nursery spawned has ended. Body gets the
// nursery's ctx, a child of ctx that ends when the nursery is cancelled
// (by a failing child, by body's error, or by [Nursery.Cancel]), as
// errgroup.WithContext gives its group's: use it for everything body
// starts, so the nursery's cancellation reaches it. Daemon actors
// serve until cancelled, so body (or ctx) must cancel them: with
// [Portal.CancelActor] or [Nursery.Cancel]. An error from body, like a
// child's, cancels the nursery. The returned error joins body's error and
// every child's, each child error a [*RemoteError] naming its actor;
// errors that only report the nursery's own cancellation are left out.
//
// If body panics, the children are cancelled and awaited, then the panic
// continues. Options given here are inherited by the nursery's children.
func OpenNursery(ctx context.Context, body func(context.Context, *Nursery) error, opts ...Option) (err error) {
	mustCtx("OpenNursery", ctx)
	if body == nil {
		panic("tractor: OpenNursery: nil body")
	}
	a := CurrentActor(ctx)
	if a == nil {
		return ErrNoActor
	}
	n := &Nursery{actor: a, cfg: a.cfg.inherit().with(opts)}
	n.ctx, n.cancel = context.WithCancelCause(ctx)
	defer n.cancel(nil)

	var bodyErr error
	func() {
		returned := false
		defer func() {
			if v := recover(); v != nil {
				n.cancel(fmt.Errorf("tractor: nursery body panicked: %v", v))
				n.close()
				panic(v)
			}
			if !returned { // runtime.Goexit, as t.FailNow calls
				n.cancel(errors.New("tractor: nursery body exited its goroutine"))
				n.close()
			}
		}()
		bodyErr = body(n.ctx, n)
		returned = true
	}()
	if bodyErr != nil {
		n.cancel(bodyErr)
	}
	n.close()

	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	if bodyErr != nil && !(len(n.errs) > 0 && isCancellation(bodyErr)) && !n.reported(bodyErr) {
		errs = append(errs, bodyErr)
	}
	errs = append(errs, n.errs...)
	if ctx.Err() != nil && !slices.ContainsFunc(errs, func(e error) bool { return !isCancellation(e) }) {
		// Cancelled from outside, and nothing failed but for that: report
		// the cancellation itself, as any ctx-bound call does.
		return ctx.Err()
	}
	return errors.Join(errs...)
}

// reported says whether err is, or wraps, a child error already recorded:
// a body that returns a one-shot's failure passes the same error on.
func (n *Nursery) reported(err error) bool {
	for _, e := range n.errs {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// close stops new spawns and waits for every child and task to end.
// Should that take longer than waitWarning, it says what it waits for.
func (n *Nursery) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	warned := make(chan struct{})
	t := time.AfterFunc(waitWarning, func() {
		defer close(warned)
		n.warnClosing()
	})
	n.wg.Wait()
	if !t.Stop() {
		<-warned // the warning's goroutine is the nursery's: wait for it
	}
}

// waitWarning is how long a nursery waits at its close for daemon actors
// and tasks, or a [Portal.CancelActor] for its acknowledgement, before it
// says so in a warning: a daemon that nobody cancels, or a task that
// ignores its ctx, would otherwise hang the program silently.
const waitWarning = 5 * time.Second

// warnClosing warns that the nursery's body has returned waitWarning ago
// and names the daemon actors (and counts the tasks) that keep it open.
func (n *Nursery) warnClosing() {
	n.mu.Lock()
	var daemons []ActorID
	for p := n.watched; p != nil; p = p.watch.next {
		if !p.watch.running {
			daemons = append(daemons, p.ch.peer)
		}
	}
	tasks := n.tasks
	n.mu.Unlock()
	if len(daemons) == 0 && tasks == 0 {
		return // the children are ending: cancellations warn of their own
	}
	msg := "nursery body returned, but its daemon actors still serve and it waits for them: cancel them (Portal.CancelActor, or Nursery.Cancel for all)"
	if len(daemons) == 0 {
		msg = "nursery body returned, but its tasks still run and it waits for them: end them (Nursery.Cancel cancels their ctx)"
	}
	warnWaiting(n.actor, msg, daemons, tasks)
}

// warnWaiting logs, through a's logger, that a has waited waitWarning
// for actors (and tasks) to end: the one place such warnings are made.
func warnWaiting(a *Actor, msg string, actors []ActorID, tasks int) {
	names := make([]string, len(actors))
	for i := range actors {
		names[i] = actors[i].String()
	}
	attrs := []any{slog.Any("actors", names), slog.Duration("waited", waitWarning)}
	if tasks > 0 {
		attrs = append(attrs, slog.Int("tasks", tasks))
	}
	a.logger().Warn(msg, attrs...)
}

// Context returns the nursery's ctx: it is cancelled when the nursery is
// (a child failed, the body failed, Cancel was called, or the ctx given to
// OpenNursery ended). Use it in the body for work that should stop then.
func (n *Nursery) Context() context.Context { return n.ctx }

// Cancel cancels every actor of the nursery; it does not wait (the
// nursery's OpenNursery does). Errors that only report this cancellation
// are not returned.
func (n *Nursery) Cancel() {
	n.cancel(&cancelCause{by: n.actor.id, reason: "nursery cancelled"})
}

// StartActor spawns a daemon actor named name that serves the endpoints
// given with [Expose] until it is cancelled, and returns a portal to it.
// ctx bounds only the start; the actor's lifetime is the nursery's.
func (n *Nursery) StartActor(ctx context.Context, name string, opts ...Option) (*Portal, error) {
	n.must("StartActor", ctx)
	return n.start(ctx, name, nil, opts)
}

// RunInActor spawns a one-shot actor named name that runs inv and ends with
// its result, which [FuncEndpoint.Result] returns. Its failure is also the
// nursery's: it cancels the siblings. inv's endpoint is exposed to the
// actor without listing it.
func (n *Nursery) RunInActor(ctx context.Context, name string, inv Invocation, opts ...Option) (*Portal, error) {
	n.must("RunInActor", ctx)
	if inv.ep == nil {
		return nil, errorf("tractor: RunInActor with an empty Invocation (use FuncEndpoint.Bind): %w", ErrMisuse)
	}
	return n.start(ctx, name, &inv, opts)
}

// must panics, naming the call, on a nil nursery or ctx.
func (n *Nursery) must(call string, ctx context.Context) {
	if n == nil {
		panic("tractor: " + call + ": nil *Nursery (use the one OpenNursery gives its body)")
	}
	mustCtx(call, ctx)
}

// Go runs f on a goroutine of its own, a local task of the nursery (trio's
// start_soon), supervised with its actors as errgroup.Group.Go supervises
// its goroutines: f gets the nursery's ctx; an error from f, or a panic in
// it, cancels the nursery (its tasks and actors) and is returned by
// OpenNursery, which waits for every task. A panic becomes a
// [*RemoteError] naming this actor that matches [ErrPanic] and carries the
// panicking stack, as a panic in any task of an actor does; an error is
// returned as f returned it, wrapped, so errors.Is and errors.As see it.
// Errors that only report the nursery's cancellation are left out.
//
// Go blocks while the limit set by [Nursery.SetLimit] is reached. A task
// started once the nursery is cancelled still runs, with its ctx done. Go
// may be called from the body, and from a running task once the body has
// returned; otherwise, once the body has returned, it panics.
func (n *Nursery) Go(f func(ctx context.Context) error) {
	if n == nil {
		panic("tractor: Nursery.Go: nil *Nursery (use the one OpenNursery gives its body)")
	}
	if f == nil {
		panic("tractor: Nursery.Go: nil func")
	}
	n.mu.Lock()
	sem := n.sem
	n.mu.Unlock()
	if sem != nil {
		sem <- struct{}{}
	}
	n.mu.Lock()
	if n.closed && n.tasks == 0 {
		// No task runs that could be the caller, and the WaitGroup may be
		// done: a task started now would outlive OpenNursery.
		n.mu.Unlock()
		if sem != nil {
			<-sem
		}
		panic("tractor: Nursery.Go after the nursery's body returned, from outside its tasks (OpenNursery has returned or is returning)")
	}
	n.tasks++
	n.wg.Add(1)
	n.mu.Unlock()
	go n.runTask(f, sem)
}

// SetLimit limits the nursery to at most k local tasks running at once,
// as errgroup.Group.SetLimit does: [Nursery.Go] blocks until one ends. A
// negative k removes the limit; k == 0 blocks every Go. The limit must
// not change while a task runs (SetLimit panics then). Actors do not
// count.
func (n *Nursery) SetLimit(k int) {
	if n == nil {
		panic("tractor: Nursery.SetLimit: nil *Nursery (use the one OpenNursery gives its body)")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.tasks != 0 {
		panic(fmt.Sprintf("tractor: Nursery.SetLimit: the limit changed while %d tasks run", n.tasks))
	}
	if k < 0 {
		n.sem = nil
		return
	}
	n.sem = make(chan struct{}, k)
}

// runTask runs f, a task of the nursery started by Go, and reports its
// failure; sem, if the tasks are limited, holds its slot.
func (n *Nursery) runTask(f func(context.Context) error, sem chan struct{}) {
	returned := false
	defer func() {
		if !returned { // runtime.Goexit, as t.FailNow calls
			n.taskFailed(errGoexit, false)
		}
		n.mu.Lock()
		n.tasks--
		n.mu.Unlock()
		if sem != nil {
			<-sem
		}
		n.wg.Done()
	}()
	var err error
	var pc panics.Catcher
	pc.Try(func() { err = f(n.ctx) })
	returned = true
	if r := pc.Recovered(); r != nil {
		re := boxPanic(r.Value, r.Stack, n.actor.id)
		n.taskFailed(&re, true)
	} else if err != nil {
		n.taskFailed(err, false)
	}
}

// taskFailed records a task's error, a panic's already boxed, and cancels
// the nursery, unless the error only reports that cancellation.
func (n *Nursery) taskFailed(err error, panicked bool) {
	if n.ctx.Err() != nil && isCancellation(err) {
		return
	}
	if !panicked {
		err = errorf("tractor: task of nursery in actor %s: %w", n.actor.id, err)
	}
	n.fail(err)
}

func (n *Nursery) start(ctx context.Context, name string, inv *Invocation, opts []Option) (*Portal, error) {
	if name == "" {
		return nil, errorf("tractor: start actor: empty name: %w", ErrMisuse)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg := n.cfg.with(opts)
	if inv != nil {
		// inv's endpoint is exposed without being listed (no Expose
		// option, which would cost an option and its closure a spawn).
		cfg.expose = append(cfg.expose[:len(cfg.expose):len(cfg.expose)], inv.ep)
	}
	n.mu.Lock()
	if n.closed || n.ctx.Err() != nil {
		n.mu.Unlock()
		return nil, errorf("tractor: start actor %q: %w", name, ErrNurseryClosed)
	}
	// Hold the nursery open while the child starts (a process takes
	// milliseconds), without holding its lock.
	n.wg.Add(1)
	n.mu.Unlock()
	defer n.wg.Done()

	// The start ends early if ctx or the nursery ends: a child that has
	// not finished its handshake by then is killed and reaped, and a
	// registration with a registrar elsewhere is abandoned. A goroutine
	// actor registered in this process starts without waiting at all.
	sctx := ctx
	if cfg.hosting == Process || !n.actor.node.dir.inProcess() {
		var stop context.CancelFunc
		sctx, stop = context.WithCancel(ctx)
		defer stop()
		defer context.AfterFunc(n.ctx, stop)()
	}

	var p *Portal
	var info ActorInfo
	var err error
	if cfg.hosting == Process {
		p, info, err = n.spawnProcess(sctx, name, cfg)
	} else {
		p, info = n.spawnGoroutine(name, cfg)
	}
	if err != nil {
		if n.ctx.Err() != nil && ctx.Err() == nil {
			// The nursery was cancelled while the child started: that
			// is why its start failed (the child was killed and reaped).
			return nil, errorf("tractor: start actor %q: %w while it started (%v)", name, ErrNurseryClosed, err)
		}
		return nil, errorf("tractor: start actor %q: %w", name, err)
	}
	if inv != nil {
		p.oneShot, p.resultDone = inv.ep, make(chan struct{})
	}
	// Registered before StartActor returns, so the actor can be found at
	// once; supervise unregisters it once it has ended.
	if testHookBeforeRegister != nil {
		testHookBeforeRegister(p)
	}
	if err := n.actor.node.dir.register(sctx, info); err != nil {
		n.actor.logger().Warn("actor registration not acknowledged by the registrar: discovery may not find it", slog.Any("err", err), slog.String("child", info.ID.String()))
	}
	select {
	case <-p.ch.done:
		// The child ended before it was registered (cancelled at once, or
		// it crashed): its own unregister, made as it ended, came first,
		// and would leave this registration behind.
		_ = n.actor.unregisterUID(info.ID.UID)
	default:
		// Its own unregister is still to come, after this registration.
	}
	if inv != nil {
		n.wg.Go(func() { n.supervise(p, inv) })
	} else {
		n.watch(p)
	}
	return p, nil
}

// testHookBeforeRegister, set by tests, runs as a child has started, just
// before its nursery registers it.
var testHookBeforeRegister func(p *Portal)

// supervise owns a one-shot child: it runs the invocation, which ends
// the child, and settles its end.
func (n *Nursery) supervise(p *Portal, inv *Invocation) {
	var res any
	var err error
	ctx, release := n.heldBack(p)
	defer release() // even if the invocation exits the goroutine
	if child := p.ch.peerActor; child != nil {
		res, err = n.runInline(ctx, p, child, inv)
	} else {
		var d *dialog
		d, err = p.ch.open(ctx, inv.ep.Name(), modeFunc, inv.arg)
		if err == nil {
			res, err = d.result(ctx)
		}
	}
	p.result, p.resultErr = res, err
	close(p.resultDone)
	var lost error // a failure because its connection went
	if errors.Is(err, ErrActorGone) {
		lost = err // unless it is a death, reported once it has ended
	} else if err != nil {
		n.childFailed(err)
	}
	n.settle(p, n.sendCancelActor(p), lost) // a one-shot actor ends with its result
}

// runInline runs a one-shot's invocation in child, an actor of this
// process, as an inline task on the supervising goroutine: what a dialog
// would, without one. Should the nursery be cancelled meanwhile, a
// goroutine of the nursery's cancels the child and, while a task of it
// ignores its ctx, says so, as awaitEnd does for a daemon.
func (n *Nursery) runInline(ctx context.Context, p *Portal, child *Actor, inv *Invocation) (any, error) {
	ep, ok := inv.ep.(interface {
		runAny(t *inlineTask, arg any) (any, error)
	})
	if !ok {
		return nil, errorf("tractor: endpoint %q of a one-shot actor is not a function: %w", inv.ep.Name(), ErrMisuse)
	}
	arg, err := p.ch.checkArg(ctx, inv.ep.Name(), inv.arg)
	if err != nil {
		return nil, err
	}
	t, err := beginInline(ctx, p.ch, child)
	if err != nil {
		return nil, err
	}
	defer t.release() // even if the function exits the goroutine
	p.watch.running, p.watch.held = true, ctx.Done()
	n.enlist(p)
	returned := false
	defer func() {
		if p.watch.claimed.CompareAndSwap(false, true) {
			n.unwatch(p)
			n.wg.Done()
		}
		if !returned {
			// The function exited the goroutine (runtime.Goexit): the
			// child failed, and is settled from a goroutine that lives.
			re := boxFailure(errGoexit, false, nil, child.id)
			p.resultErr = &re
			close(p.resultDone)
			n.childFailed(&re)
			n.wg.Go(func() { n.settle(p, n.sendCancelActor(p), nil) })
		}
	}()
	res, err := ep.runAny(t, arg)
	returned = true
	return t.outcome(p.ch, inv.ep.Name(), res, err)
}

// watch owns a daemon child without a goroutine while it serves: the
// nursery's cancellation cancels it, and settles its end (it is on the
// nursery's list of watched children for that); so does its ending on
// its own (CancelActor, or a death), whichever comes first. The nursery's
// WaitGroup counts the child until it is settled.
func (n *Nursery) watch(p *Portal) {
	n.enlist(p)
	p.ch.onGone(func() {
		if !p.watch.claimed.CompareAndSwap(false, true) {
			return
		}
		n.unwatch(p)
		if !p.host.killable() && p.ch.quiet() {
			// Nothing to wait for: a goroutine actor that has ended,
			// no task of this actor's serving it.
			defer n.wg.Done()
			n.settle(p, nil, nil)
			return
		}
		// This runs where the connection ended, maybe in the child's
		// own last steps: settle from a goroutine of the nursery's.
		go func() {
			defer n.wg.Done()
			n.settle(p, nil, nil)
		}()
	})
}

// enlist counts p in the nursery's WaitGroup and puts it on the list its
// cancellation goes through, or, if that has come, cancels it now.
func (n *Nursery) enlist(p *Portal) {
	n.wg.Add(1)
	n.mu.Lock()
	cancelled := n.cancelled
	if !cancelled {
		p.watch.next = n.watched
		if n.watched != nil {
			n.watched.watch.prev = p
		}
		n.watched = p
		if !n.watching {
			n.watching = true
			context.AfterFunc(n.ctx, n.cancelWatched)
		}
	}
	n.mu.Unlock()
	if cancelled {
		n.cancelWatchedChild(p)
	}
}

// watchLink links a child in its nursery's list of watched ones;
// claimed says that its end or the nursery's cancellation has taken it.
type watchLink struct {
	next, prev *Portal
	claimed    atomic.Bool
	running    bool // a one-shot, watched while its invocation runs
	// held, for a running one-shot, is closed once the nursery's
	// cancellation has reached its invocation: after the BeforeCancel
	// hook, which heldBack runs for it, returned.
	held <-chan struct{}
}

// cancelWatched cancels every watched child, as the nursery's
// cancellation: each is settled from a goroutine of its own.
func (n *Nursery) cancelWatched() {
	n.mu.Lock()
	n.cancelled = true
	head := n.watched
	n.watched = nil
	n.mu.Unlock()
	for p := head; p != nil; {
		next := p.watch.next
		n.cancelWatchedChild(p)
		p = next
	}
}

// cancelWatchedChild cancels and settles a watched child p, unless its
// end has taken it first.
func (n *Nursery) cancelWatchedChild(p *Portal) {
	if !p.watch.claimed.CompareAndSwap(false, true) {
		return
	}
	if p.watch.running {
		// A one-shot's invocation runs inline: cancel the child once
		// heldBack has run the hook for it (once per child), and say
		// so while a task of it ignores its ctx (see runInline).
		go func() {
			defer n.wg.Done()
			<-p.watch.held
			n.awaitEnd(p, n.sendCancelActor(p))
		}()
		return
	}
	go func() {
		defer n.wg.Done()
		n.beforeCancel(p)
		n.settle(p, n.sendCancelActor(p), nil)
	}()
}

// unwatch takes p off the list of watched children, if it is on it.
func (n *Nursery) unwatch(p *Portal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cancelled {
		return // the list is gone
	}
	w := &p.watch
	if w.prev != nil {
		w.prev.watch.next = w.next
	} else if n.watched == p {
		n.watched = w.next
	}
	if w.next != nil {
		w.next.watch.prev = w.prev
	}
	w.next, w.prev = nil, nil
}

// childFailed records a child's error and cancels the nursery, unless the
// error only reports that cancellation.
func (n *Nursery) childFailed(err error) {
	if n.ctx.Err() != nil && isCancellation(err) {
		return
	}
	var re *RemoteError
	if !errors.As(err, &re) {
		err = errorf("tractor: supervising actor: %w", err)
	}
	n.fail(err)
}

// fail records err, a failure of the nursery's, and cancels the nursery.
func (n *Nursery) fail(err error) {
	n.mu.Lock()
	n.errs = append(n.errs, err)
	n.mu.Unlock()
	n.cancel(err)
}
