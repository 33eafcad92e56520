// A session is this actor's side of its connection with one peer actor:
// it multiplexes the dialogs either side opens over the connection, routes
// each message to its dialog, and fails them all, naming the peer, once
// the connection ends.

package tractor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// session is the local end of one connection to a peer actor: it multiplexes
// the dialogs either side opens, runs the tasks the peer asks for, and fails
// every pending dialog with an error naming the peer if the connection is
// lost. Both sides are symmetric; the side that created the connection opens
// dialogs with odd ids, the other with even ones.
type session struct {
	local *Actor
	peer  ActorID
	conn  transport.Conn
	sized transport.SizedSender // conn, if it measures what it sends
	// peerActor is the peer itself when it lives in this process: function
	// calls to it then run inline (see callInline), not as dialogs.
	peerActor *Actor
	// where is where the peer runs, as the dialler learnt it: what
	// the portals over this connection tell ([Portal.Info]); nil for
	// the connections a nursery's portals carry, which tell their own.
	where *ActorInfo
	// link, between a goroutine actor and its parent, makes conn when a
	// dialog first needs it (see localLink); conn is nil until then.
	link   *localLink
	window flowWindow // the local actor's, for its dialogs
	// wireCheck: values to and from peerActor pass through the codec
	// (see WireCheck); the local actor's setting, or its child's over a
	// link.
	wireCheck bool

	nextCID atomic.Uint64
	creator bool // this side made the connection: its dialog ids are odd

	mu         sync.Mutex
	dialogs    map[uint64]*dialog
	closing    bool         // no new tasks: the local actor is ending
	refused    []uint64     // dialogs refused while closing; close answers them
	goneReason error        // why the connection ended, once it has
	gone       *RemoteError // the loss as dialogs see it; see goneErr
	goneHooks  []func()     // run once the connection has ended
	hooksBuf   [2]func()    // goneHooks' backing for the usual one or two

	// streaming is the dialog the last yield went to, while it is in
	// dialogs: the items of a stream find it without mu (see dialogFor).
	streaming atomic.Pointer[dialog]

	// workers run the callee tasks the peer starts. They are reused: a
	// fresh goroutine per task paid for its creation and, above all, for
	// growing its stack on every call. An idle worker waits on work; at
	// most maxIdleWorkers wait, the rest exit. drain closes work, and
	// workers counts them until they have all returned. (A plain
	// WaitGroup: invoke already recovers a task's panic, its outcome.)
	workers sync.WaitGroup
	work    chan func() // made with the first worker
	idle    atomic.Int32
	done    chan struct{} // closed once serve has returned

	// exited, for a process child's session, waits briefly (deathWait)
	// for the child's process to end once the connection has, and says
	// how it died, if it did by then; died is what it said, which the
	// loss then reports.
	exited func() *ActorDied
	died   *ActorDied

	// ended is set once the peer said that it ends because it was
	// cancelled (a stop for dialog 0, its last message): a connection
	// that closes without it is a death.
	ended atomic.Bool
}

func newSession(local *Actor, peer ActorID, conn transport.Conn, creator bool) *session {
	ch := &session{
		local:     local,
		peer:      peer,
		conn:      conn,
		window:    local.cfg.window,
		wireCheck: local.cfg.wireCheck,
		done:      make(chan struct{}),
	}
	ch.setConn(conn)
	ch.creator = creator
	if !creator {
		ch.nextCID.Store(0) // ids 2, 4, 6…; the creator's are 1, 3, 5…
	} else {
		ch.nextCID.Store(^uint64(0)) // so that the first Add(2) gives 1
	}
	return ch
}

// setConn gives the session its connection.
func (ch *session) setConn(conn transport.Conn) {
	ch.conn = conn
	ch.sized, _ = conn.(transport.SizedSender)
}

// serve delivers the peer's messages until the connection ends, then fails
// every dialog still open with an error naming the peer. Its owner runs it
// in a goroutine and waits for it.
func (ch *session) serve() { ch.served(ch.conn.Serve(ch.deliver)) }

// start serves the connection: without a goroutine if it needs no reader
// (an in-memory one, see transport's Attach), else in a goroutine of wg;
// a link's once it is made.
func (ch *session) start(wg *sync.WaitGroup) {
	if ch.conn == nil {
		return // a link not made yet: making it starts both ends
	}
	if a, ok := ch.conn.(interface{ Attach(transport.Receiver) }); ok {
		a.Attach(ch)
		return
	}
	wg.Go(ch.serve)
}

// Deliver and Ended make the session the [transport.Receiver] of an
// in-memory connection: deliver and served.
func (ch *session) Deliver(m transport.Msg) { ch.deliver(m) }

func (ch *session) Ended(reason error) { ch.served(reason) }

// served ends the session once its connection has ended, for reason:
// every dialog still open learns the loss, done closes, and the onGone
// hooks run.
func (ch *session) served(reason error) {
	if reason == nil {
		reason = io.EOF // a Conn must say why; a nil would read as "still open"
	}
	if failedConn(reason) {
		// A broken stream, or a peer that sent garbage or an oversized
		// frame: its connection is closed; say why.
		ch.local.logger().Warn("connection to peer failed", slog.Any("err", reason), slog.String("peer", ch.peer.String()))
	}
	var died *ActorDied
	if ch.exited != nil && !ch.ended.Load() {
		// A process child went without saying that it ends as asked:
		// the dialogs it broke, like its nursery, say how it died.
		died = ch.exited()
	}
	ch.mu.Lock()
	ch.died = died
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
func (ch *session) onGone(f func()) {
	ch.mu.Lock()
	if ch.goneReason == nil {
		if ch.goneHooks == nil {
			ch.goneHooks = ch.hooksBuf[:0]
		}
		ch.goneHooks = append(ch.goneHooks, f)
		ch.mu.Unlock()
		return
	}
	ch.mu.Unlock()
	f()
}

// close answers the calls refused while the actor was ending, ends the
// connection and waits for serve to return.
func (ch *session) close() {
	ch.mu.Lock()
	refused := ch.refused
	ch.refused = nil
	ch.mu.Unlock()
	for _, cid := range refused {
		ch.sendCtl(transport.Msg{Kind: transport.KindError, CID: cid, Payload: refusal(ch.local.id)})
	}
	ch.breakLink()
	<-ch.done
}

// breakLink ends the connection, or the link for one not made yet.
func (ch *session) breakLink() {
	if ch.link != nil {
		ch.link.close(ch)
		return
	}
	_ = ch.conn.Close()
}

// cancelMsg asks the peer to cancel, as this actor, its task of dialog
// cid, or itself for cid 0.
func (ch *session) cancelMsg(cid uint64) transport.Msg {
	return transport.Msg{Kind: transport.KindCancel, CID: cid, Payload: ch.local.id}
}

// sendStop tells the peer that this actor ends because it was cancelled:
// a stop for dialog 0, its last message.
func (ch *session) sendStop() {
	if ch.link != nil {
		ch.link.stop(ch)
		return
	}
	ch.sendCtl(transport.Msg{Kind: transport.KindStop, CID: 0})
}

// deliver files one incoming message. It never blocks: it is called from
// the transport's read loop, or from the peer's goroutine on the in-memory
// transport.
func (ch *session) deliver(m transport.Msg) {
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
	case transport.KindRevoke:
		if d := ch.dialog(m.CID); d != nil {
			d.revoke(m)
		}
	case transport.KindStarted, transport.KindYield, transport.KindStop,
		transport.KindReturn, transport.KindError:
		if m.CID == 0 && m.Kind == transport.KindStop {
			// The peer's last message: it ends, as it was asked to.
			ch.ended.Store(true)
			return
		}
		d := ch.streaming.Load()
		if d == nil || d.cid != m.CID {
			d = ch.dialogFor(m)
		}
		if d != nil {
			d.push(m)
			return
		}
		if l := ch.local.debug(); l != nil {
			l.Debug("message for an ended dialog dropped", slog.String("kind", m.Kind.String()), slog.Uint64("cid", m.CID), slog.String("peer", ch.peer.String()))
		}
	default:
		ch.local.logger().Warn("unknown message kind dropped", slog.String("kind", m.Kind.String()), slog.Uint64("cid", m.CID), slog.String("peer", ch.peer.String()))
	}
}

func (ch *session) dialog(cid uint64) *dialog {
	ch.mu.Lock()
	d := ch.dialogs[cid]
	ch.mu.Unlock()
	return d
}

// dialogFor is dialog for m; for a yield, it makes its dialog the one
// the next yield finds without ch.mu, as the items of a stream follow
// one another. remove clears it under ch.mu, with the dialog's entry.
func (ch *session) dialogFor(m transport.Msg) *dialog {
	ch.mu.Lock()
	d := ch.dialogs[m.CID]
	if d != nil && m.Kind == transport.KindYield {
		ch.streaming.Store(d)
	}
	ch.mu.Unlock()
	return d
}

// quiet says whether no dialog is open on the session, so that no task
// of either side runs over it (but for the last steps of one that ended:
// sending its outcome).
func (ch *session) quiet() bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return len(ch.dialogs) == 0
}

// peersID says whether cid is one the peer opens dialogs with: of the
// other parity than this side's (see newSession), and not 0.
func (ch *session) peersID(cid uint64) bool {
	mine := uint64(1) // the creator's ids are odd
	if !ch.creator {
		mine = 0
	}
	return cid != 0 && cid%2 != mine
}

// addLocked files d under its id; ch.mu is held.
func (ch *session) addLocked(d *dialog) {
	if ch.dialogs == nil {
		ch.dialogs = make(map[uint64]*dialog)
	}
	ch.dialogs[d.cid] = d
	ch.local.dialogs.Add(1)
	if !d.caller {
		ch.local.tasks.Add(1)
	}
}

func (ch *session) remove(d *dialog) {
	ch.mu.Lock()
	if ch.dialogs[d.cid] == d {
		delete(ch.dialogs, d.cid)
		ch.local.dialogs.Add(-1)
		if !d.caller {
			ch.local.tasks.Add(-1)
		}
	}
	// Whatever holds its id now, d must not keep receiving for it.
	ch.streaming.CompareAndSwap(d, nil)
	ch.mu.Unlock()
}

// sendCtl sends a control message (stop, cancel, credit, a refusal).
// These need no credit; a failure means the peer is gone, which every
// dialog learns from serve, so it is only logged.
func (ch *session) sendCtl(m transport.Msg) {
	if err := ch.conn.Send(context.Background(), m); err != nil {
		if l := ch.local.debug(); l != nil {
			l.Debug("control message not sent", slog.Any("err", err), slog.String("kind", m.Kind.String()), slog.Uint64("cid", m.CID), slog.String("peer", ch.peer.String()))
		}
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
func (ch *session) detach(send func(ctx context.Context)) <-chan struct{} {
	done := make(chan struct{})
	run := func() {
		defer close(done)
		ctx := connCtx{ch.done}
		if testHookDetachedSend != nil {
			testHookDetachedSend(ctx)
		}
		send(ctx)
	}
	// In memory: a connection attached without a reader (see start).
	if _, mem := ch.conn.(interface{ Attach(transport.Receiver) }); mem || ch.conn == nil || !ch.local.node.spawn(run) {
		run()
	}
	return done
}

// connCtx is a context that ends when its connection does (done is the
// session's): the lifetime of a request no deadline may stop. Unlike one
// cancelled from onGone, it leaves nothing behind on a long-lived
// connection, such as the registrar's, for each request.
type connCtx struct{ done <-chan struct{} }

func (c connCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

func (c connCtx) Done() <-chan struct{} { return c.done }

func (c connCtx) Value(any) any { return nil }

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
func (ch *session) sendSized(ctx context.Context, m transport.Msg) (int, error) {
	if ch.sized != nil {
		return ch.sized.SendSized(ctx, m)
	}
	return 0, ch.conn.Send(ctx, m)
}

// lost is the error every dialog with the peer gets once the connection
// ended: a *RemoteError naming the peer that matches ErrActorGone.
func (ch *session) lost(reason error) *RemoteError { return lostActor(ch.peer, reason) }

// lostActor is the loss of the actor id, for reason, as a *RemoteError
// that matches ErrActorGone.
func lostActor(id ActorID, reason error) *RemoteError {
	e := &RemoteError{
		Actor:     id,
		Type:      "tractor.ActorGone",
		Message:   fmt.Sprintf("connection to actor lost: %v", reason),
		RelayPath: []ActorID{id},
		Code:      "actor_gone",
	}
	if failedConn(reason) {
		e.value = reason // errors.Is finds the cause: transport.ErrMalformed, say
	}
	return e
}

// failedConn says whether reason, why a connection ended, is a failure
// (a broken stream, a malformed or oversized frame) rather than its close
// by either end, which io.EOF or transport.ErrClosed says: only a failure
// is worth unwrapping, and an io.EOF would read as a stream's clean end.
func failedConn(reason error) bool {
	return reason != nil && !errors.Is(reason, io.EOF) && !errors.Is(reason, transport.ErrClosed)
}

// linkErr is goneErr, known as soon as the connection has ended: an
// in-memory connection says so at once, before serve has seen it.
func (ch *session) linkErr() error {
	if ch.link != nil {
		// A link ends only by closing: while open, an atomic load says
		// so, with no lock taken on an inline call's path.
		if !ch.link.closed.Load() {
			return nil
		}
		if g := ch.goneErr(); g != nil {
			return g
		}
		return ch.lost(io.EOF)
	}
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
// first use (most sessions end with no dialog left to tell), else nil.
func (ch *session) goneErr() error {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.goneLocked()
}

func (ch *session) goneLocked() error {
	if ch.goneReason == nil {
		return nil
	}
	if ch.gone == nil && ch.died != nil {
		ch.gone = ch.died.report("")
		if failedConn(ch.goneReason) {
			// The process exited because its link broke (a frame it or
			// this side could not read): the death's report keeps the
			// cause, in its text and for errors.Is.
			ch.gone.Message += fmt.Sprintf(", its connection having failed: %v", ch.goneReason)
			ch.gone.value = ch.goneReason
		}
	}
	if ch.gone == nil {
		ch.gone = ch.lost(ch.goneReason)
	}
	return ch.gone
}

// goneDeath is the death that ended the connection, as its dialogs
// reported it, or nil if the loss was no process's death.
func (ch *session) goneDeath() *RemoteError {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.died == nil {
		return nil
	}
	ch.goneLocked()
	return ch.gone
}

// unsendable returns the error for a message of the dialog with endpoint
// that could not be sent because of its payload, over the frame limit or
// not encodable, naming what it was (argument, result, stream item...), the
// endpoint and the peer; or nil if err says something else, such as that
// the connection ended. After such a failure nothing was written: the
// connection is intact and only that message failed.
func (ch *session) unsendable(err error, endpoint, what string) error {
	return unsendableTo(err, endpoint, what, ch.peer)
}

// unsendableTo is unsendable for a message that was to go to actor peer.
func unsendableTo(err error, endpoint, what string, peer ActorID) error {
	var sentinel error
	switch {
	case errors.Is(err, transport.ErrFrameTooLarge):
		sentinel = ErrMessageTooLarge
	case errors.Is(err, transport.ErrEncode):
		sentinel = ErrUnencodable
	default:
		return nil
	}
	return errorf("tractor: %s of endpoint %q not sent to actor %s: %w: %w", what, endpoint, peer, sentinel, err)
}

// sendFailure is the error a dialog's user sees for a message of theirs
// that the connection did not take: the connection's loss, as Receive
// reports it, once the link broke (even before serve has seen it), never
// the transport's own error; anything else as it is.
func (ch *session) sendFailure(err error) error {
	if g := ch.goneErr(); g != nil {
		return g
	}
	if errors.Is(err, transport.ErrClosed) {
		return ch.lost(err)
	}
	return err
}
