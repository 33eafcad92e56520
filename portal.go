package tractor

import (
	"context"
	"time"
)

// Portal is a handle to another actor, through which this actor calls its
// endpoints ([FuncEndpoint.Call], [StreamEndpoint.Open], [CtxEndpoint.Open]),
// cancels it, and reads a one-shot actor's result ([FuncEndpoint.Result]). A Portal is safe for
// concurrent use; each call is its own dialog.
type Portal struct {
	ch   *session
	host host       // where the actor runs, for a portal its nursery owns
	info *ActorInfo // where the actor runs, for Info; nil for a goroutine child, which tells it

	// For a one-shot actor (RunInActor): the endpoint it runs, and
	// resultDone, closed once its result is in.
	oneShot    Endpoint
	resultDone chan struct{}
	result     any
	resultErr  error

	// watch links a child its nursery's cancellation settles (see
	// Nursery.watch).
	watch watchLink
}

// Actor returns the id of the actor the portal reaches.
func (p *Portal) Actor() ActorID { return p.ch.peer }

// Info tells where the portal's actor runs, as [Actors] lists it: its
// hosting ([Goroutine] for an actor living in another actor's process,
// [Process] for a process actor and a program's root), the pid of its
// process, and the address of that process's listener. Its Parent is set
// for a portal from a nursery or from [FindActor] and [WaitForActor], and
// zero for one from [Root] (a root has none). Info makes no call, but may
// open this process's listener, to tell its address (see [Run]).
func (p *Portal) Info() ActorInfo {
	mustPortal("Info", p)
	if p.info != nil {
		return p.ch.local.node.resolve(*p.info)
	}
	if a := p.ch.peerActor; a != nil {
		return a.node.resolve(a.node.infoOf(a))
	}
	return ActorInfo{ID: p.ch.peer}
}

// CancelActor cancels the whole remote actor (not one task): every task it
// runs is cancelled with this actor as canceller, its nurseries cancel
// their children, and it ends. CancelActor waits until the actor has ended
// and returns nil, or returns ctx's error if ctx ends first (the
// cancellation still proceeds). It is idempotent.
func (p *Portal) CancelActor(ctx context.Context) error {
	mustCtx("CancelActor", ctx)
	mustPortal("CancelActor", p)
	p.requestCancel()
	select {
	case <-p.ch.done:
		return nil
	default:
	}
	// An actor that does not end (a task of it ignores its ctx) would
	// hold this call silently: say so once.
	t := time.NewTimer(waitWarning)
	defer t.Stop()
	for {
		select {
		case <-p.ch.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			warnWaiting(p.ch.local, "actor has not ended after CancelActor: one of its tasks ignores its ctx; still waiting", []ActorID{p.ch.peer}, 0)
		}
	}
}

// requestCancel asks the actor behind p to cancel itself, as this actor.
// The request is detached (see [session.detach]): one dropped because a
// deadline expired first would leave a goroutine actor serving and its
// nursery waiting forever, and a process actor terminated without having
// been asked. Whoever asks bounds only its wait for the acknowledgement;
// any failure to send means the connection is gone, and so is the actor.
// The returned channel is closed once the request has gone out (or could
// not): a wait for the acknowledgement starts there.
func (p *Portal) requestCancel() <-chan struct{} {
	ch := p.ch
	if t := ch.peerActor; t != nil {
		// In this process the request is the cancellation itself, as
		// the message would be where the peer receives it.
		t.cancelHere(ch.local.id, "cancel requested by a peer")
		return closedChan
	}
	m := ch.cancelMsg(0)
	return ch.detach(func(ctx context.Context) { _ = ch.conn.Send(ctx, m) })
}

// closedChan is a channel that is closed: a wait that is already over.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// awaitResult waits for the result of the one-shot actor behind p, which
// runs ep, and returns it undecoded. A failure is the actor's
// *RemoteError, which the nursery also reports.
func (p *Portal) awaitResult(ctx context.Context, ep Endpoint) (any, error) {
	mustCtx("Result", ctx)
	mustPortal("Result", p)
	if p.resultDone == nil {
		return nil, errorf("tractor: Result of %q on a portal to daemon actor %s: %w", ep.Name(), p.ch.peer, ErrMisuse)
	}
	if p.oneShot != ep {
		return nil, errorf("tractor: Result of %q on a portal to actor %s, which runs %q: %w", ep.Name(), p.ch.peer, p.oneShot.Name(), ErrMisuse)
	}
	select {
	case <-p.resultDone:
	case <-ctx.Done():
		select {
		case <-p.resultDone:
			// The result came first: a failing one-shot cancels its
			// nursery, whose ctx the caller often waits with, only after
			// its result is in.
		default:
			return nil, ctx.Err()
		}
	}
	return p.result, p.resultErr
}
