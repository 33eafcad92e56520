package tractor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tractor-go/tractor/transport"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSessionGarbageFromPeer: a peer that sends bytes that are not a frame gets
// its connection closed with a warning naming it, and the calls pending on
// that connection fail with ErrActorGone naming it.
func TestSessionGarbageFromPeer(t *testing.T) {
	mine, theirs, err := transport.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer theirs.Close()
	conn, err := transport.FileConn(mine, transport.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	cfg := defaultConfig().with([]Option{LogOutput(&logs)})
	a := newActor(context.Background(), newActorID("local"), ActorID{}, cfg, &node{actors: make(map[string]*Actor), ready: make(chan struct{})})
	defer a.end()
	peer := newActorID("liar")
	ch := newSession(a, peer, conn, true)
	var wg sync.WaitGroup
	wg.Go(ch.serve)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := ch.open(ctx, "test.any", modeFunc, 1)
	if err != nil {
		t.Fatal(err)
	}
	theirs.Write([]byte{5, 0, 0, 0, 0xff, 'j', 'u', 'n', 'k'}) // a frame whose body is no message
	_, err = d.result(ctx)
	var re *RemoteError
	if !errors.Is(err, ErrActorGone) || !errors.As(err, &re) || re.Actor != peer {
		t.Fatalf("pending call: %v, want ErrActorGone from %v", err, peer)
	}
	ch.drain()
	ch.close()
	wg.Wait()
	if !strings.Contains(logs.String(), "connection to peer failed") || !strings.Contains(logs.String(), "liar") {
		t.Errorf("no warning naming the peer in the log:\n%s", logs.String())
	}
}

// TestSessionPeerIDParity: a peer that opens a dialog with an id of this side's
// parity (a protocol error) is refused, so its dialog cannot take the id
// of one this side opens; and a removed dialog never keeps receiving for
// its id, whoever holds it now.
func TestSessionPeerIDParity(t *testing.T) {
	var logs lockedBuffer
	link := &creditLink{brokenLink: brokenLink{closed: make(chan struct{})}, grants: make(chan int, 16)}
	ch := servedSession(t, defaultConfig().with([]Option{LogOutput(&logs)}), link) // this side's ids are odd

	ch.deliver(transport.Msg{Kind: transport.KindCmd, CID: 1, Endpoint: "test.any", Mode: uint8(modeFunc)})
	if ch.dialog(1) != nil || !strings.Contains(logs.String(), "protocol error") {
		t.Fatalf("a cmd with this side's parity was taken; log:\n%s", logs.String())
	}
	for cid, want := range map[uint64]bool{0: false, 1: false, 2: true, 3: false, 4: true} {
		if ch.peersID(cid) != want {
			t.Errorf("peersID(%d) on the creator's side: %v, want %v", cid, !want, want)
		}
	}

	// A dialog of the peer's that streams, then is removed while another
	// holds its id (only a broken peer could make that happen).
	dc := newDialog(ch, 1, modeCtx, false, ch.window)
	ch.mu.Lock()
	ch.addLocked(dc)
	ch.mu.Unlock()
	ch.deliver(transport.Msg{Kind: transport.KindYield, CID: 1, Payload: 0, Size: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := ch.open(ctx, "x", modeFunc, nil) // id 1 again: it replaces dc in the map
	if err != nil || d.cid != 1 {
		t.Fatal(d.cid, err)
	}
	dc.finish()
	ch.deliver(transport.Msg{Kind: transport.KindReturn, CID: 1, Payload: 42})
	if v, err := d.result(ctx); err != nil || v != 42 {
		t.Fatalf("the call's result went elsewhere: %v, %v", v, err)
	}
}

// servedSession is a session of a fresh actor configured by cfg, which
// made conn to a peer, served until the test ends, when it is closed and
// its actor ended.
func servedSession(tb testing.TB, cfg config, conn transport.Conn) *session {
	a := newActor(context.Background(), newActorID("local"), ActorID{}, cfg, &node{actors: make(map[string]*Actor), ready: make(chan struct{})})
	tb.Cleanup(a.end)
	ch := newSession(a, newActorID("peer"), conn, true)
	var wg sync.WaitGroup
	wg.Go(ch.serve)
	tb.Cleanup(func() {
		ch.drain()
		ch.close()
		wg.Wait()
	})
	return ch
}

// TestSessionGoneHooksAllRun: every hook registered while the connection
// is up runs once it has ended, after its dialogs learnt the loss; one
// registered later runs at once.
func TestSessionGoneHooksAllRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := servedSession(t, defaultConfig(), &brokenLink{closed: make(chan struct{})})
		var mu sync.Mutex
		var ran []int
		hook := func(i int) func() {
			return func() {
				mu.Lock()
				ran = append(ran, i)
				mu.Unlock()
			}
		}
		for i := range 3 {
			ch.onGone(hook(i))
		}
		ch.breakLink()
		synctest.Wait() // serve has returned, its hooks run
		ch.onGone(hook(3))
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(ran) != "[0 1 2 3]" {
			t.Fatalf("the hooks that ran: %v, want [0 1 2] once the connection ended, then 3 at once", ran)
		}
	})
}

// refusingLink is a connection whose every send fails, as a closed one's
// does; as a brokenLink, its read side waits for Close.
type refusingLink struct{ brokenLink }

func (c *refusingLink) Send(context.Context, transport.Msg) error {
	return fmt.Errorf("transport: send: %w", transport.ErrClosed)
}

// TestSessionControlNotSent: a control message the connection refuses is
// only logged, at debug level, naming its kind (every dialog learns of the
// loss from serve); one that went is not logged, and without debug
// logging a refused one is dropped quietly.
func TestSessionControlNotSent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		conn   transport.Conn
		level  slog.Level
		logged bool
	}{
		{"refused, debug", &refusingLink{brokenLink{closed: make(chan struct{})}}, slog.LevelDebug, true},
		{"refused, info", &refusingLink{brokenLink{closed: make(chan struct{})}}, slog.LevelInfo, false},
		{"sent, debug", &brokenLink{closed: make(chan struct{})}, slog.LevelDebug, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs lockedBuffer
			ch := servedSession(t, defaultConfig().with([]Option{LogOutput(&logs), LogLevel(tc.level)}), tc.conn)
			ch.sendCtl(ch.cancelMsg(7))
			logged := strings.Contains(logs.String(), "control message not sent")
			if logged != tc.logged || (logged && !strings.Contains(logs.String(), transport.KindCancel.String())) {
				t.Fatalf("logged %v, want %v (naming the kind); log:\n%s", logged, tc.logged, logs.String())
			}
		})
	}
}

// endedLink is a brokenLink whose connection says it has ended, for
// reason, before its read side has noticed (as an in-memory one does).
type endedLink struct {
	brokenLink
	reason error
}

func (c *endedLink) Ended() error { return c.reason }

// TestSessionLinkErr: a connection that says it ended fails a new call at
// once with the loss of the peer, before serve has seen the end; once serve
// has, the loss is the one every dialog got; a connection still up fails
// nothing.
func TestSessionLinkErr(t *testing.T) {
	link := &endedLink{brokenLink: brokenLink{closed: make(chan struct{})}}
	ch := servedSession(t, defaultConfig(), link)
	if err := ch.linkErr(); err != nil {
		t.Fatalf("linkErr of a connection still up: %v", err)
	}
	link.reason = io.ErrUnexpectedEOF
	err := ch.linkErr()
	var re *RemoteError
	if !errors.Is(err, ErrActorGone) || !errors.As(err, &re) || re.Actor != ch.peer || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("linkErr of a connection that ended: %v, want ErrActorGone naming the peer and the reason", err)
	}
	ch.breakLink()
	<-ch.done
	if err, gone := ch.linkErr(), ch.goneErr(); err != gone || gone == nil {
		t.Fatalf("linkErr once served: %v, want the loss the dialogs got, %v", err, gone)
	}
}

// TestSessionRoutesByID: each message goes to the dialog its id names,
// though the last yield went to another: the stream a yield finds without
// the lock is taken only for its own id.
func TestSessionRoutesByID(t *testing.T) {
	ch := servedSession(t, defaultConfig(), &brokenLink{closed: make(chan struct{})})
	ds := map[uint64]*dialog{}
	for _, cid := range []uint64{1, 3} {
		ds[cid] = newDialog(ch, cid, modeStream, true, ch.window)
		ch.mu.Lock()
		ch.addLocked(ds[cid])
		ch.mu.Unlock()
	}
	for i, cid := range []uint64{1, 3, 3, 1} {
		ch.deliver(transport.Msg{Kind: transport.KindYield, CID: cid, Payload: i, Size: 1})
	}
	for cid, want := range map[uint64]string{1: "[0 3]", 3: "[1 2]"} {
		d := ds[cid]
		d.mu.Lock()
		var got []any
		for _, m := range d.inbox {
			got = append(got, m.Payload)
		}
		d.mu.Unlock()
		if fmt.Sprint(got) != want {
			t.Errorf("dialog %d received %v, want %s", cid, got, want)
		}
		d.finish()
	}
}

// TestSessionCountsDialogs: the actor's counts of dialogs and tasks, which
// its stats report, go back to nothing once the dialogs filed are
// removed; and the session is quiet exactly while it has none.
func TestSessionCountsDialogs(t *testing.T) {
	ch := servedSession(t, defaultConfig(), &brokenLink{closed: make(chan struct{})})
	if !ch.quiet() {
		t.Fatal("a session with no dialog is not quiet")
	}
	caller := newDialog(ch, 1, modeFunc, true, ch.window)
	callee := newDialog(ch, 2, modeFunc, false, ch.window)
	for _, d := range []*dialog{caller, callee} {
		ch.mu.Lock()
		ch.addLocked(d)
		ch.mu.Unlock()
	}
	if s := ch.local.stats(); s.Dialogs != 2 || s.Tasks != 1 || ch.quiet() {
		t.Fatalf("with a call and a task: %d dialogs, %d tasks, quiet %v; want 2, 1, false", s.Dialogs, s.Tasks, ch.quiet())
	}
	callee.finish()
	if s := ch.local.stats(); s.Dialogs != 1 || s.Tasks != 0 || ch.quiet() {
		t.Fatalf("with the task removed: %d dialogs, %d tasks, quiet %v; want 1, 0, false", s.Dialogs, s.Tasks, ch.quiet())
	}
	caller.finish()
	if s := ch.local.stats(); s.Dialogs != 0 || s.Tasks != 0 || !ch.quiet() {
		t.Fatalf("with both removed: %d dialogs, %d tasks, quiet %v; want 0, 0, true", s.Dialogs, s.Tasks, ch.quiet())
	}
}

// TestSessionStreamFastPath: the dialog a yield went to is the one the
// next yield finds without the session's lock; a message of another kind
// does not take its place, and a removed dialog gives it up.
func TestSessionStreamFastPath(t *testing.T) {
	ch := servedSession(t, defaultConfig(), &brokenLink{closed: make(chan struct{})})
	ds := make([]*dialog, 2)
	for i, cid := range []uint64{1, 3} {
		ds[i] = newDialog(ch, cid, modeStream, true, ch.window)
		ch.mu.Lock()
		ch.addLocked(ds[i])
		ch.mu.Unlock()
	}
	defer ds[1].finish()
	ch.deliver(transport.Msg{Kind: transport.KindYield, CID: 1, Payload: 0, Size: 1})
	if got := ch.streaming.Load(); got != ds[0] {
		t.Fatalf("after a yield to dialog 1 the fast path holds %v, want dialog 1", got)
	}
	ch.deliver(transport.Msg{Kind: transport.KindStarted, CID: 3})
	if got := ch.streaming.Load(); got != ds[0] {
		t.Fatalf("after a started of dialog 3 the fast path holds %v, want dialog 1 still", got)
	}
	ds[0].finish()
	if got := ch.streaming.Load(); got != nil {
		t.Fatalf("after dialog 1 ended the fast path holds %v, want nothing", got)
	}
}

// TestSessionDetachOverWire: over a wire, a detached request is sent from
// a goroutine of the node's, so whoever asks is not held while the send
// waits (for a peer that does not read, say), and waits for it within its
// own bound; the send's ctx ends with the connection.
func TestSessionDetachOverWire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := servedSession(t, defaultConfig(), &brokenLink{closed: make(chan struct{})})
		release := make(chan struct{})
		asked := make(chan (<-chan struct{}), 1)
		go func() {
			asked <- ch.detach(func(ctx context.Context) {
				select {
				case <-release:
				case <-ctx.Done():
				}
			})
		}()
		synctest.Wait()
		var sent <-chan struct{}
		select {
		case sent = <-asked:
		default:
			close(release)
			<-asked
			t.Fatal("detach held its caller while the send waited")
		}
		select {
		case <-sent:
			t.Fatal("detach's channel closed before the send returned")
		default:
		}
		ch.breakLink() // the connection ends: so does the send's wait
		<-sent
	})
}

// linkedSessions returns the ends of a link not made yet between a
// parent actor and its child: the parent's end, the child's. The actors
// end with the test.
func linkedSessions(t *testing.T) (down, up *session) {
	parent := newActor(context.Background(), newActorID("parent"), ActorID{}, defaultConfig(), &node{actors: make(map[string]*Actor), ready: make(chan struct{})})
	t.Cleanup(parent.end)
	child := newActor(context.Background(), newActorID("child"), parent.id, defaultConfig(), parent.node)
	t.Cleanup(child.end)
	down = newSession(parent, child.id, nil, true)
	up = newSession(child, parent.id, nil, false)
	newLocalLink(down, up)
	return down, up
}

// TestSessionLinkLoss: once a link not made yet is closed, each end's
// linkErr is the loss its dialogs got, as over a connection.
func TestSessionLinkLoss(t *testing.T) {
	down, up := linkedSessions(t)
	if err := down.linkErr(); err != nil {
		t.Fatalf("linkErr of a link still open: %v", err)
	}
	down.breakLink()
	for _, ch := range []*session{down, up} {
		err, gone := ch.linkErr(), ch.goneErr()
		if gone == nil || err != gone || !errors.Is(err, ErrActorGone) {
			t.Fatalf("linkErr of a closed link to %v: %v, want the loss the dialogs got, %v", ch.peer, err, gone)
		}
	}
}

// TestSessionLossIsDeath: a peer whose process died without saying that
// it ends fails its dialogs with the death, not a plain loss; every one
// gets the same report.
func TestSessionLossIsDeath(t *testing.T) {
	ch := servedSession(t, defaultConfig(), &brokenLink{closed: make(chan struct{})})
	died := &ActorDied{Actor: ch.peer, Pid: 4242, ExitCode: 3}
	ch.exited = func() *ActorDied { return died }
	ch.breakLink()
	<-ch.done
	err := ch.goneErr()
	var re *RemoteError
	if !errors.Is(err, ErrActorDied) || !errors.As(err, &re) || re.Died != died {
		t.Fatalf("loss of a peer that died: %v, want its death", err)
	}
	if again := ch.goneErr(); again != err || ch.goneDeath() != re {
		t.Fatalf("the loss told twice: %v then %v, death %v", err, again, ch.goneDeath())
	}
}

// sentLink is a brokenLink that records the messages sent over it.
type sentLink struct {
	brokenLink
	mu   sync.Mutex
	sent []transport.Msg
}

func (c *sentLink) Send(ctx context.Context, m transport.Msg) error {
	c.mu.Lock()
	c.sent = append(c.sent, m)
	c.mu.Unlock()
	return c.brokenLink.Send(ctx, m)
}

// TestSessionSendStop: an actor that ends as asked tells its peer with a
// stop for dialog 0 over a connection; over a link not made yet, the
// other end learns it directly.
func TestSessionSendStop(t *testing.T) {
	conn := &sentLink{brokenLink: brokenLink{closed: make(chan struct{})}}
	ch := servedSession(t, defaultConfig(), conn)
	ch.sendStop()
	conn.mu.Lock()
	sent := fmt.Sprint(conn.sent)
	conn.mu.Unlock()
	if want := fmt.Sprint([]transport.Msg{{Kind: transport.KindStop}}); sent != want {
		t.Errorf("sent over the connection: %s, want %s", sent, want)
	}

	down, up := linkedSessions(t)
	defer down.breakLink()
	up.sendStop()
	if !down.ended.Load() || up.ended.Load() {
		t.Errorf("over a link, the parent's end learnt the stop: %v, the child's own: %v; want true, false", down.ended.Load(), up.ended.Load())
	}
}
