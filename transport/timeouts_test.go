package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
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
					<-time.After(tc.readAt) // the bubble's clock
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

// halfPipe is one end of an in-memory stream that, unlike net.Pipe, can
// be half-closed and has a read deadline: what Close's linger needs, in a
// bubble (io.Pipe's waits are durable, its deadline timers the bubble's).
type halfPipe struct {
	r *io.PipeReader
	w *io.PipeWriter

	mu       sync.Mutex
	deadline *time.Timer
}

// newHalfPipe returns the two ends of a halfPipe stream.
func newHalfPipe() (a, b *halfPipe) {
	ar, bw := io.Pipe()
	br, aw := io.Pipe()
	return &halfPipe{r: ar, w: aw}, &halfPipe{r: br, w: bw}
}

func (p *halfPipe) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p *halfPipe) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *halfPipe) CloseWrite() error           { return p.w.Close() }

func (p *halfPipe) Close() error {
	p.SetReadDeadline(time.Time{})
	p.r.Close()
	return p.w.Close()
}

// SetReadDeadline fails reads from t on; the zero t lifts the deadline.
func (p *halfPipe) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.deadline != nil {
		p.deadline.Stop()
		p.deadline = nil
	}
	if !t.IsZero() {
		p.deadline = time.AfterFunc(time.Until(t), func() { p.r.CloseWithError(os.ErrDeadlineExceeded) })
	}
	return nil
}

// TestCloseLingerHalfClosed: on a stream that can be half-closed, Close
// ends this side's sending at once (the peer reads everything, then EOF)
// and reads on, dropping, until the peer closes or closeLinger has
// passed: in Close itself when nobody reads, in Serve when it runs, which
// then returns ErrClosed.
func TestCloseLingerHalfClosed(t *testing.T) {
	linger := transport.CloseLinger()
	for _, tc := range []struct {
		name    string
		serving bool          // Serve runs when Close is called
		peerEnd time.Duration // when the peer closes; past the linger: never
		want    time.Duration // when the reading (Close's or Serve's) ends
	}{
		{"nobody reads, peer never closes", false, 2 * linger, linger},
		{"nobody reads, peer closes", false, linger / 4, linger / 4},
		{"serving, peer never closes", true, 2 * linger, linger},
		{"serving, peer closes", true, linger / 4, linger / 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pa, peer := newHalfPipe()
				c := transport.NewConn(pa, transport.Config{})
				start := time.Now()
				// The peer reads all this side sends, then its end,
				// and closes later (on the bubble's clock).
				got := make(chan time.Duration, 1)
				go func() {
					io.Copy(io.Discard, peer)
					got <- time.Since(start)
				}()
				defer time.AfterFunc(tc.peerEnd, func() { peer.Close() }).Stop()
				defer peer.Close()
				var served chan error
				if tc.serving {
					served = make(chan error, 1)
					go func() { served <- c.Serve(func(transport.Msg) {}) }()
					synctest.Wait() // Serve is reading
				}
				if err := c.Send(context.Background(), yield(1, "last")); err != nil {
					t.Fatalf("Send: %v", err)
				}
				c.Close()
				closed := time.Since(start)
				if at := <-got; at != 0 {
					t.Fatalf("the peer read the end after %v, want at once", at)
				}
				ended := closed
				if tc.serving {
					err := <-served
					if ended = time.Since(start); !errors.Is(err, transport.ErrClosed) {
						t.Fatalf("Serve returned %v, want ErrClosed", err)
					}
					if closed != 0 {
						t.Fatalf("Close returned after %v with Serve reading, want at once", closed)
					}
				}
				if ended != tc.want {
					t.Fatalf("reading after Close ended after %v, want %v", ended, tc.want)
				}
			})
		})
	}
}
