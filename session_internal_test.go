package tractor

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
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

// TestGarbageFromPeer: a peer that sends bytes that are not a frame gets
// its connection closed with a warning naming it, and the calls pending on
// that connection fail with ErrActorGone naming it.
func TestGarbageFromPeer(t *testing.T) {
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

// TestPeerIDParity: a peer that opens a dialog with an id of this side's
// parity (a protocol error) is refused, so its dialog cannot take the id
// of one this side opens; and a removed dialog never keeps receiving for
// its id, whoever holds it now.
func TestPeerIDParity(t *testing.T) {
	var logs lockedBuffer
	link := &creditLink{brokenLink: brokenLink{closed: make(chan struct{})}, grants: make(chan int, 16)}
	ch := servedSession(t, defaultConfig().with([]Option{LogOutput(&logs)}), link) // this side's ids are odd

	ch.deliver(transport.Msg{Kind: transport.KindCmd, CID: 1, Endpoint: "test.any", Mode: uint8(modeFunc)})
	if ch.dialog(1) != nil || !strings.Contains(logs.String(), "protocol error") {
		t.Fatalf("a cmd with this side's parity was taken; log:\n%s", logs.String())
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
