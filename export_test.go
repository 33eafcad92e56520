package tractor

import (
	"context"
	"math"
	"net"

	"github.com/tractor-go/tractor/transport"
)

// CallRaw calls endpoint name in the actor behind p with an untyped
// argument, as a peer built from another binary could: the tests use it to
// send payloads of the wrong type and names that do not exist.
func CallRaw(ctx context.Context, p *Portal, name string, arg any) (any, error) {
	d, err := p.ch.open(ctx, name, modeFunc, arg)
	if err != nil {
		return nil, err
	}
	return d.result(ctx)
}

// OpenDialogs counts the dialogs still routed on the portal's connection.
func OpenDialogs(p *Portal) int {
	p.ch.mu.Lock()
	defer p.ch.mu.Unlock()
	return len(p.ch.dialogs)
}

// Register records info in the registrar of the tree of ctx's actor, as a
// program that died before unregistering would have left it.
func Register(ctx context.Context, info ActorInfo) error {
	a := CurrentActor(ctx)
	if a == nil {
		return ErrNoActor
	}
	return a.node.dir.register(ctx, info)
}

// Suspect reports info to the registrar as unreachable, as a peer that
// could not reach it does, and returns whether the registrar purged it.
func Suspect(ctx context.Context, info ActorInfo) (bool, error) {
	return CurrentActor(ctx).node.dir.suspect(ctx, info)
}

// DropRegistrarConnection closes the connection over which the process of
// ctx's actor reaches its registrar, as a network fault would.
func DropRegistrarConnection(ctx context.Context) {
	d := CurrentActor(ctx).node.dir.(*remoteDirectory)
	d.mu.Lock()
	ch := d.conn
	d.mu.Unlock()
	if ch != nil {
		ch.conn.Close()
	}
}

// Compressed reports whether frames on the connection behind p are
// compressed, as its handshake agreed.
func Compressed(p *Portal) bool {
	wc, ok := p.ch.conn.(*transport.WireConn)
	return ok && wc.Compressing()
}

// DropParentConnection closes the connection of ctx's actor to its parent,
// as a broken link would.
func DropParentConnection(ctx context.Context) {
	if ch := CurrentActor(ctx).toParent.Load(); ch != nil {
		ch.breakLink()
	}
}

// SetBeforeExit makes this process, a process actor, run f once its actor
// has ended, before it exits: a slow exit, or a crash while exiting.
func SetBeforeExit(f func()) { beforeExit.Store(&f) }

// Queued counts the stream items that have arrived on s and wait to be
// received, and adds up their sizes: what a stalled receiver holds.
func Queued[S, R any](s *MsgStream[S, R]) (items, bytes int) {
	if s.gen != nil {
		return s.gen.queued()
	}
	d := s.d
	d.takeMu.Lock()
	defer d.takeMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range [][]transport.Msg{d.batch[d.bhead:], d.inbox} {
		for _, m := range q {
			if m.Kind == transport.KindYield {
				items++
				bytes += m.Size
			}
		}
	}
	return items, bytes
}

// queued is Queued for a local generator's stream.
func (q *localStream[T]) queued() (items, bytes int) {
	q.recvMu.Lock()
	defer q.recvMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pendingLocked()
}

// SendCredit returns the credit the generator or context task whose ctx
// is ctx has left to yield with.
func SendCredit(ctx context.Context) (items int, bytes int64) {
	if t, ok := ctx.(*genTask); ok {
		return t.flow.credit()
	}
	return ctx.(*Context).d.sendCredit()
}

// IsLocalStream reports whether the generator whose ctx is ctx streams
// to its caller through memory rather than a dialog.
func IsLocalStream(ctx context.Context) bool {
	_, ok := ctx.(*genTask)
	return ok
}

// ForceDialogStreams makes generators of this process stream through
// dialogs, as those of other processes do, until restore is called.
func ForceDialogStreams() (restore func()) {
	testHookDialogStreams = true
	return func() { testHookDialogStreams = false }
}

// StreamSendCredit returns the credit s has left to send with.
func StreamSendCredit[S, R any](s *MsgStream[S, R]) (items int, bytes int64) { return s.d.sendCredit() }

func (d *dialog) sendCredit() (int, int64) {
	d.sendMu.Lock()
	defer d.sendMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.credit, d.creditBytes - d.spent
}

// IgnoreCredit makes the task of c yield as if its peer had granted it
// unbounded credit: a peer that ignores flow control.
func IgnoreCredit(c *Context) {
	c.d.mu.Lock()
	c.d.credit, c.d.creditBytes = math.MaxInt32, maxCreditBytes
	c.d.mu.Unlock()
}

// SetChildListenHook makes f run with the address each TCP process actor
// will dial back, before the child starts; restore removes it.
func SetChildListenHook(f func(addr net.Addr)) (restore func()) {
	testHookChildListen = f
	return func() { testHookChildListen = nil }
}

// SetDetachedSendHook makes f run, with the ctx the request is sent
// under, just before each request that no deadline may stop (a cancel, a
// registration, an unregistration) is sent, as a late-scheduled sending
// goroutine would, until restore is called.
func SetDetachedSendHook(f func(ctx context.Context)) (restore func()) {
	testHookDetachedSend = f
	return func() { testHookDetachedSend = nil }
}

// SetBeforeRegisterHook makes f run with each new child's portal just
// before its nursery registers it, until restore is called.
func SetBeforeRegisterHook(f func(p *Portal)) (restore func()) {
	testHookBeforeRegister = f
	return func() { testHookBeforeRegister = nil }
}

// Acknowledged reports whether the actor behind p said, in its last
// message, that it ended because it was asked to.
func Acknowledged(p *Portal) bool { return p.ch.ended.Load() }

// Linked says whether p's actor has a connection with this one: one over
// a wire, or an in-memory one its link has made.
func Linked(p *Portal) bool {
	l := p.ch.link
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.made
}

// NewOutputHandler is the handler LogOutput makes, with the "is a
// terminal" decision given rather than asked of the writer.
var NewOutputHandler = newOutputHandler
