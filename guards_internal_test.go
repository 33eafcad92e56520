package tractor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// brokenLink is a connection whose writes fail, as a broken stream's do,
// while its read side has not noticed yet: Serve returns only on Close.
type brokenLink struct {
	once   sync.Once
	closed chan struct{}
}

func (c *brokenLink) Send(_ context.Context, m transport.Msg) error {
	if m.Kind == transport.KindYield || m.Kind == transport.KindStarted {
		return fmt.Errorf("transport: send %s: %w (write: broken pipe)", m.Kind, transport.ErrClosed)
	}
	return nil
}

func (c *brokenLink) Serve(func(transport.Msg)) error {
	<-c.closed
	return transport.ErrClosed
}

func (c *brokenLink) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// brokenChannel returns a channel, served until the test ends, whose
// connection is a brokenLink to an actor it names.
func brokenChannel(t *testing.T, creator bool) (*session, ActorID) {
	a := newActor(context.Background(), newActorID("local"), ActorID{}, defaultConfig(), &node{actors: make(map[string]*Actor), ready: make(chan struct{})})
	peer := newActorID("peer")
	ch := newSession(a, peer, &brokenLink{closed: make(chan struct{})}, creator)
	var wg sync.WaitGroup
	wg.Go(ch.serve)
	t.Cleanup(func() {
		ch.drain()
		ch.close()
		wg.Wait()
		a.end()
	})
	return ch, peer
}

// TestSendOnBrokenLink: a stream Send that the broken connection refuses
// returns a *RemoteError naming the peer and matching ErrActorGone, as
// Receive reports the loss, never the transport's raw error.
func TestSendOnBrokenLink(t *testing.T) {
	ch, peer := brokenChannel(t, true)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := ch.open(ctx, "test.any", modeCtx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.finish()
	// The callee's window, as its started message would announce it.
	d.addCredit(transport.Msg{Kind: transport.KindStarted, Credit: 8, CreditBytes: 1 << 20})
	err = d.send(ctx, 1)
	var re *RemoteError
	if !errors.As(err, &re) || !errors.Is(err, ErrActorGone) || re.Actor != peer || errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Send on a broken link: %v (%T), want a *RemoteError from %v matching ErrActorGone", err, err, peer)
	}
}

// TestStartedOnBrokenLink: a Started that the broken connection refuses
// returns the loss as a *RemoteError matching ErrActorGone, as a stream
// Send does, never the transport's raw error.
func TestStartedOnBrokenLink(t *testing.T) {
	ch, peer := brokenChannel(t, false)

	d := newDialog(ch, 1, modeCtx, false, ch.window)
	d.ctx, d.cancel = context.WithCancelCause(context.Background())
	defer d.finish()
	err := (&Context{d: d}).Started("first")
	var re *RemoteError
	if !errors.As(err, &re) || !errors.Is(err, ErrActorGone) || re.Actor != peer || errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Started on a broken link: %v (%T), want a *RemoteError from %v matching ErrActorGone", err, err, peer)
	}
}
