package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// The tests in this file run in synctest bubbles over net.Pipe, whose
// reads and writes block durably: time moves only when every goroutine
// waits, so the bounds they check are exact and cost no real time.

// TestCloseLingerBoundsFlush: Close waits for a flush in progress to reach
// a peer that reads late, but no longer than closeLinger for one that
// never reads; the frame is then lost, and the peer reads only the end.
func TestCloseLingerBoundsFlush(t *testing.T) {
	linger := transport.CloseLinger()
	payload := strings.Repeat("q", 1<<10)
	for _, tc := range []struct {
		name     string
		readAt   time.Duration // when the peer starts reading
		want     time.Duration // how long Close takes
		received bool          // whether the peer reads the frame
	}{
		{"peer never reads", 2 * linger, linger, false},
		{"peer reads within the linger", linger / 2, linger / 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pa, raw := net.Pipe()
				defer raw.Close()
				c := transport.NewConn(pa, transport.Config{})
				read := make(chan []byte, 1)
				go func() {
					time.Sleep(tc.readAt) // virtual time
					b, _ := io.ReadAll(raw)
					read <- b
				}()
				if err := c.Send(context.Background(), yield(1, payload)); err != nil {
					t.Fatalf("Send: %v", err)
				}
				synctest.Wait() // the frame is being written to the pipe
				start := time.Now()
				c.Close()
				if took := time.Since(start); took != tc.want {
					t.Fatalf("Close returned after %v, want %v", took, tc.want)
				}
				if got := strings.Contains(string(<-read), payload); got != tc.received {
					t.Fatalf("peer received the frame: %v, want %v", got, tc.received)
				}
			})
		})
	}
}

// TestHandshakeCtxBound: a handshake whose peer stalls, at whatever step,
// ends exactly when its ctx does, with ctx's error, on either side.
func TestHandshakeCtxBound(t *testing.T) {
	const bound = 3 * time.Second
	nD := []byte("a dialer's nonce, of 32 bytes...")
	for _, tc := range []struct {
		name   string
		secret []byte
		dial   bool               // the side under test dials (else answers)
		peer   func(raw net.Conn) // the stalling peer's part
	}{
		{"dialer, acceptor never reads", nil, true, func(net.Conn) {}},
		{"dialer, acceptor reads the hello, never answers", nil, true, func(raw net.Conn) { io.Copy(io.Discard, raw) }},
		{"dialer, acceptor stalls after the challenge", testSecret, true, func(raw net.Conn) {
			readAuthFrame(t, raw)
			io.Copy(io.Discard, raw)
		}},
		{"acceptor, dialer silent", nil, false, func(net.Conn) {}},
		{"acceptor, dialer stalls after its challenge", testSecret, false, func(raw net.Conn) {
			raw.Write(frame(0, authBody("dial", nD)))
			io.Copy(io.Discard, raw)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pa, raw := net.Pipe()
				c := transport.NewConn(pa, withSecret(tc.secret))
				var wg sync.WaitGroup
				defer func() { raw.Close(); c.Close(); wg.Wait() }()
				wg.Go(func() { tc.peer(raw) })
				ctx, cancel := context.WithTimeout(context.Background(), bound)
				defer cancel()
				start := time.Now()
				var err error
				if tc.dial {
					_, err = c.Handshake(ctx, transport.Hello{})
				} else {
					_, err = c.Answer(ctx, (&replier{}).reply)
				}
				if took := time.Since(start); took != bound || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("handshake returned %v after %v, want ctx's deadline after %v", err, took, bound)
				}
			})
		})
	}
}
