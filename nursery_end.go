package tractor

// How a nursery ends a child: the BeforeCancel hook that may hold its
// cancellation back, the wait for its end and the ladder that ends a
// process actor ignoring its cancellation, and the report of its end.

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// settle waits for a child to end, once a cancel request went out (sent
// is closed then; nil if none was asked), releases its connection and
// host, and reports a death, or lost, the failure of a one-shot whose
// connection went.
func (n *Nursery) settle(p *Portal, sent <-chan struct{}, lost error) {
	ignored := n.awaitEnd(p, sent)
	p.ch.drain()
	p.ch.close()
	exit := p.host.reap(n.cfg.exitGrace)
	if p.host.killable() {
		// A process that died did not unregister itself.
		_ = n.actor.unregisterUID(p.ch.peer.UID)
	}
	if err := n.death(p, exit, ignored); err != nil {
		n.childFailed(err)
	} else if lost != nil {
		n.childFailed(lost)
	}
}

// death returns the report of a child that ended without being asked to,
// matching ErrActorDied, or nil if it ended as asked. A child asked to end
// (by its nursery, a portal's CancelActor or its own CancelSoon) says so
// in its last message; with that acknowledgement its end is not an error,
// even if its process was slow to exit and the ladder ended it. Without
// it the child died, whatever was asked of it after: its crash is never
// taken for the cancellation that followed. A child that ignored its
// nursery's cancellation (ignored) and was ended by the ladder ended as
// asked, too.
func (n *Nursery) death(p *Portal, exit error, ignored bool) error {
	acked, forced := p.ch.ended.Load(), p.host.forced(exit)
	if forced && (acked || ignored) || acked && exit == nil {
		return nil
	}
	if !p.host.killable() {
		p.ch.mu.Lock()
		reason := p.ch.goneReason
		p.ch.mu.Unlock()
		return &RemoteError{
			Actor: p.ch.peer, Type: "tractor.ActorDied", RelayPath: []ActorID{p.ch.peer},
			Message: fmt.Sprintf("actor ended without being asked to: its connection was lost: %v", reason),
			Code:    "actor_died",
		}
	}
	if re := p.ch.goneDeath(); re != nil && !acked && !forced {
		return re // the report its dialogs got: one error for one death
	}
	died := p.host.died(p.ch.peer, exit)
	switch {
	case acked:
		return died.report(" after it acknowledged its cancellation")
	case forced:
		return died.report(fmt.Sprintf(" after its connection ended unasked and it did not exit within %v", n.cfg.exitGrace))
	}
	return died.report("")
}

// beforeCancel runs the BeforeCancel hook, if any, for a child about to
// be cancelled; it stops waiting once the child has ended anyway. It
// says whether the hook held the cancellation back.
func (n *Nursery) beforeCancel(p *Portal) (held bool) {
	// The nursery's values (its actor) without its cancellation, which is
	// what is being held back.
	return n.beforeCancelUntil(context.WithoutCancel(n.ctx), p)
}

// beforeCancelUntil is beforeCancel, which also stops waiting once ctx
// ends.
func (n *Nursery) beforeCancelUntil(ctx context.Context, p *Portal) (held bool) {
	f := n.cfg.beforeCancel
	if f == nil {
		return false
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.ch.onGone(cancel)
	return f(ctx, p.ch.peer)
}

// heldBack returns the ctx a one-shot child's invocation runs with: the
// nursery's, whose cancellation reaches it only once the BeforeCancel
// hook has returned for the child, as a daemon's cancellation does (see
// cancelWatchedChild): a one-shot that holds the terminal, or waits for
// it, keeps its prompt. release stops the hook, should it still run,
// waits for it, and ends the ctx.
func (n *Nursery) heldBack(p *Portal) (ctx context.Context, release func()) {
	if n.cfg.beforeCancel == nil {
		return n.ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(n.ctx))
	hook, stopHook := context.WithCancel(context.WithoutCancel(n.ctx))
	hooked := make(chan struct{})
	unhook := context.AfterFunc(n.ctx, func() {
		defer close(hooked)
		n.beforeCancelUntil(hook, p)
		cancel(context.Cause(n.ctx))
	})
	return ctx, func() {
		stopHook()
		if !unhook() {
			<-hooked
		}
		cancel(nil)
	}
}

// sendCancelActor asks a child to cancel itself, and returns a channel
// closed once the request is out. The request always goes out (see
// [Portal.requestCancel]); the cancel timeout bounds only the wait for its
// acknowledgement, in awaitEnd.
func (n *Nursery) sendCancelActor(p *Portal) <-chan struct{} { return p.requestCancel() }

// minStuckWarning is the shortest interval between two warnings about a
// goroutine actor that has not ended after its cancellation.
const minStuckWarning = 100 * time.Millisecond

// awaitEnd waits for a child to end; sent, if the child was asked to
// cancel, is closed once that request went out. A cancelled process actor
// that does not acknowledge within the cancel timeout of its request
// climbs the ladder: SIGTERM, a bounded wait, SIGKILL; awaitEnd then
// reports that it ignored its cancellation. A cancelled goroutine actor
// cannot be killed: if it does not end within the bound, a task of it
// ignores its ctx; the nursery says so, by name, and keeps waiting, so the
// bug is visible.
func (n *Nursery) awaitEnd(p *Portal, sent <-chan struct{}) (ignored bool) {
	if sent == nil {
		<-p.ch.done
		return false
	}
	if p.host.killable() {
		// The clock starts once the request is out: a sending goroutine
		// that a loaded machine runs late must not turn a cancellation
		// into a SIGTERM the child was never asked before. A child that
		// reads nothing at all, so that the request cannot go out, gets
		// the ladder after a dial's bound.
		wait := time.NewTimer(dialTimeout)
		select {
		case <-sent:
		case <-p.ch.done:
		case <-wait.C:
		}
		wait.Stop()
		t := time.NewTimer(n.cfg.cancelTimeout)
		defer t.Stop()
		select {
		case <-p.ch.done:
		case <-t.C:
			// Not while the terminal is lent (a task of the child may
			// have taken it as it was cancelled, or as its cleanup
			// failed): the hook holds the ladder back as it held the
			// cancellation; once it held it, the child gets its cancel
			// timeout anew, and the hook is asked again before the
			// child is terminated.
			for n.beforeCancel(p) {
				t.Reset(n.cfg.cancelTimeout)
				select {
				case <-p.ch.done:
					return false
				case <-t.C:
				}
			}
			n.actor.logger().Warn("actor did not acknowledge its cancellation; terminating its process", slog.String("child", p.ch.peer.String()))
			p.host.terminate(hardKillAfter)
			// The process is reaped; if something it started still holds
			// its end of the connection, do not wait for that.
			_ = p.ch.conn.Close()
			<-p.ch.done
			return true
		}
		return false
	}
	select {
	case <-p.ch.done:
		return false // it has ended already: no clock to start
	default:
	}
	// tractor's ActorNursery.cancel bound (3s by default), and never so
	// short that the warnings would spin.
	bound := max(6*n.cfg.cancelTimeout, minStuckWarning)
	t := time.NewTimer(bound)
	defer t.Stop()
	for {
		select {
		case <-p.ch.done:
			return false
		case <-t.C:
			n.actor.logger().Warn("actor has not ended after cancellation: one of its tasks ignores its ctx; still waiting", slog.String("child", p.ch.peer.String()), slog.Duration("waited", bound))
			t.Reset(bound)
		}
	}
}
