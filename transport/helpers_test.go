package transport_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tractor-go/tractor/internal/settle"
	"github.com/tractor-go/tractor/transport"
)

// waitLimit bounds every wait in this package's tests. It is generous: it
// only turns a hang into a failure, it asserts no timing.
const waitLimit = 10 * time.Second

// waitBlocked waits until a goroutine of this process is parked in fn (see
// [settle.BlockedIn]): the way to act once another goroutine waits
// there, without sleeping for it.
func waitBlocked(t *testing.T, fn string) {
	t.Helper()
	settle.Eventually(t, waitLimit, func() error {
		if settle.BlockedIn(fn) {
			return nil
		}
		return fmt.Errorf("no goroutine waiting in %s", fn)
	})
}

// collector is a non-blocking deliver function that records what arrives.
type collector struct {
	mu   sync.Mutex
	msgs []transport.Msg
}

func (c *collector) deliver(m transport.Msg) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
}

// snapshot returns a copy of the messages delivered so far.
func (c *collector) snapshot() []transport.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]transport.Msg(nil), c.msgs...)
}

// waitN waits until at least n messages arrived and returns them all.
func (c *collector) waitN(t *testing.T, n int) []transport.Msg {
	t.Helper()
	var got []transport.Msg
	settle.Eventually(t, waitLimit, func() error {
		if got = c.snapshot(); len(got) < n {
			return fmt.Errorf("got %d messages, want %d", len(got), n)
		}
		return nil
	})
	return got
}

// serving is a Conn whose Serve runs in its own goroutine.
type serving struct {
	conn transport.Conn
	col  *collector
	done chan struct{}
	err  error // Serve's result, set before done is closed
}

// serve starts conn.Serve in a goroutine. The test's cleanup closes conn and
// waits for Serve to return, so no goroutine outlives the test.
func serve(t *testing.T, conn transport.Conn) *serving {
	t.Helper()
	s := &serving{conn: conn, col: &collector{}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = conn.Serve(s.col.deliver)
	}()
	t.Cleanup(func() {
		conn.Close()
		select {
		case <-s.done:
		case <-time.After(waitLimit):
			t.Errorf("Serve did not return after Close")
		}
	})
	return s
}

// wait waits for Serve to return and returns its error.
func (s *serving) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-s.done:
		return s.err
	case <-time.After(waitLimit):
		t.Fatalf("Serve did not return")
		return nil
	}
}

// returned reports whether Serve has returned, without waiting.
func (s *serving) returned() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// started sends one marker message through sender and waits until the
// serving side delivered it, so Serve has installed its deliver function and
// later Sends are delivered synchronously. The marker is the one message
// with CID ^uint64(0); tests drop it with [withoutMarker].
func (s *serving) started(t *testing.T, sender transport.Conn) {
	t.Helper()
	n := len(s.col.snapshot())
	if err := sender.Send(context.Background(), transport.Msg{Kind: transport.KindCredit, CID: ^uint64(0), Credit: 1}); err != nil {
		t.Fatalf("marker send: %v", err)
	}
	s.col.waitN(t, n+1)
}

// yield returns a KindYield message of dialog cid carrying payload.
func yield(cid uint64, payload any) transport.Msg {
	return transport.Msg{Kind: transport.KindYield, CID: cid, Payload: payload}
}

// withoutMarker drops the marker messages that [serving.started] sent.
func withoutMarker(msgs []transport.Msg) []transport.Msg {
	out := msgs[:0:0]
	for _, m := range msgs {
		if m.CID != ^uint64(0) {
			out = append(out, m)
		}
	}
	return out
}
