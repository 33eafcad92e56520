package spawnproc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pipeListener is a listener whose connections are made with net.Pipe, so
// that a test runs acceptChild in a synctest bubble. A dial is queued
// until it is accepted. It is a [backlog]; held, its Accept takes nothing
// until stopped, so that a dial stays queued.
type pipeListener struct {
	conns   chan net.Conn
	done    chan struct{}
	stopped chan struct{}
	held    bool
	once    sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{}), stopped: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	conns := l.conns
	if l.held {
		conns = nil
	}
	select {
	case c := <-conns:
		return c, nil
	case <-l.stopped:
		return nil, os.ErrDeadlineExceeded
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) stopAccept() { close(l.stopped) }

func (l *pipeListener) takeQueued() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	default:
		return nil, nil
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial returns the client's end of a new connection, once accepted.
func (l *pipeListener) dial() net.Conn {
	server, client := net.Pipe()
	l.conns <- server
	return client
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// dropped reports whether the other end of c has been closed; it does not
// wait.
func dropped(c net.Conn) bool {
	c.SetReadDeadline(time.Now())
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF)
}

// accepting runs acceptChild on l in a goroutine and returns what it
// returns.
func accepting(ctx context.Context, l net.Listener, p *Proc, token []byte) <-chan acceptResult {
	res := make(chan acceptResult, 1)
	go func() {
		c, err := acceptChild(ctx, l, p, token)
		res <- acceptResult{c, err}
	}()
	return res
}

// acceptGoroutines counts the goroutines running this package's code,
// other than tests': what acceptChild holds. (runtime.NumGoroutine would
// count too a goroutine an earlier test left winding down.)
func acceptGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("tractor/spawnproc.")) && !bytes.Contains(g, []byte("tractor/spawnproc.Test")) {
			n++
		}
	}
	return n
}

type acceptResult struct {
	c   net.Conn
	err error
}

// TestDialBackBoundsPending: hundreds of silent connections made before
// the child's hold at most maxDialBack connections and goroutines, the
// oldest dropped first; a wrong token is dropped at once, silence after
// tokenTimeout; the child's connection, sent the token, is returned and
// every other one closed, no goroutine left.
func TestDialBackBoundsPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		token := bytes.Repeat([]byte{7}, tokenSize)
		l := newPipeListener()
		res := accepting(t.Context(), l, &Proc{done: make(chan struct{})}, token)

		const n = 300
		start := time.Now()
		intruders := make([]net.Conn, n)
		for i := range intruders {
			intruders[i] = l.dial()
		}
		synctest.Wait()
		if d := time.Since(start); d != 0 {
			t.Fatalf("accepting %d connections waited %v for some to time out", n, d)
		}
		for i, c := range intruders {
			if got, want := dropped(c), i < n-maxDialBack; got != want {
				t.Fatalf("intruder %d of %d dropped: %v, want %v", i, n, got, want)
			}
		}
		// acceptChild's, accept's, and one a connection.
		if g := acceptGoroutines(); g > 2+maxDialBack || g < maxDialBack {
			t.Errorf("%d goroutines for %d pending connections, want %d to %d", g, n, maxDialBack, maxDialBack+2)
		}

		wrong := l.dial()
		go wrong.Write(bytes.Repeat([]byte{8}, tokenSize))
		synctest.Wait()
		if !dropped(wrong) {
			t.Error("a connection that sent a wrong token was kept")
		}

		// Virtual time: the fake clock moves to the token's deadline at
		// once; nothing real is waited for. Up to the deadline, the
		// silent connections are kept (all but the oldest, which made
		// room for the wrong one).
		<-time.After(tokenTimeout - time.Nanosecond) // the bubble's clock
		synctest.Wait()
		kept := n - maxDialBack + 1
		for i, c := range intruders[kept:] {
			if dropped(c) {
				t.Fatalf("intruder %d dropped before it was silent for %v", kept+i, tokenTimeout)
			}
		}
		<-time.After(time.Nanosecond) // the bubble's clock
		synctest.Wait()
		for i, c := range intruders {
			if !dropped(c) {
				t.Fatalf("intruder %d silent for %v was kept", i, tokenTimeout)
			}
		}

		silent := l.dial()
		child := l.dial()
		go child.Write(token)
		r := <-res
		if r.err != nil {
			t.Fatalf("acceptChild: %v", r.err)
		}
		go r.c.Write([]byte("x"))
		if _, err := io.ReadFull(child, make([]byte, 1)); err != nil {
			t.Fatalf("acceptChild returned another connection than the child's: %v", err)
		}
		synctest.Wait()
		if !dropped(silent) {
			t.Error("a pending connection was left open")
		}
		r.c.Close()
	})
}

// TestDialBackEnds: acceptChild ends on ctx's end or the child's exit with
// connections pending, and closes them.
func TestDialBackEnds(t *testing.T) {
	exited := errors.New("exit status 3")
	for _, end := range []string{"ctx", "exit"} {
		t.Run(end, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				l := newPipeListener()
				p := &Proc{done: make(chan struct{})}
				res := accepting(ctx, l, p, bytes.Repeat([]byte{7}, tokenSize))
				var intruders []net.Conn
				for range 10 {
					intruders = append(intruders, l.dial())
				}
				half := l.dial()
				go half.Write([]byte{7})
				synctest.Wait()
				want := context.Canceled
				if end == "ctx" {
					cancel()
				} else {
					want = exited
					p.err = exited
					close(p.done)
				}
				if r := <-res; !errors.Is(r.err, want) {
					t.Fatalf("acceptChild = %v, %v; want %v", r.c, r.err, want)
				}
				synctest.Wait()
				for i, c := range append(intruders, half) {
					if !dropped(c) {
						t.Errorf("connection %d left open", i)
					}
				}
			})
		})
	}
}

// TestDialBackAfterExit: a child that connected and sent its token, then
// exited before its connection was accepted, is found all the same; the
// connections queued or pending with it that are not the child's are
// read to their end and dropped. With no child's connection queued, the
// error says the child exited, with its status.
func TestDialBackAfterExit(t *testing.T) {
	for _, queued := range []bool{true, false} {
		t.Run(map[bool]string{true: "queued", false: "none"}[queued], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				token := bytes.Repeat([]byte{7}, tokenSize)
				l := newPipeListener()
				l.held = true
				p := &Proc{done: make(chan struct{})}
				res := accepting(t.Context(), l, p, token)
				// A stranger who sends a wrong token and leaves, queued
				// ahead of the child, and one who stays silent.
				var strangers sync.WaitGroup
				strangers.Go(func() {
					c := l.dial()
					c.Write(bytes.Repeat([]byte{8}, tokenSize))
					c.Close()
				})
				synctest.Wait()
				if queued {
					dialed := make(chan net.Conn, 1)
					go func() {
						c := l.dial()
						dialed <- c
						c.Write(token)
					}()
					synctest.Wait()
					defer func() { (<-dialed).Close() }()
				}
				silent := make(chan net.Conn, 1)
				go func() { silent <- l.dial() }()
				synctest.Wait()
				close(p.done) // exit status 0: p.err stays nil

				start := time.Now()
				r := <-res
				strangers.Wait()
				if (<-silent) == nil {
					t.Fatal("silent stranger not dialed")
				}
				if queued {
					if r.err != nil {
						t.Fatalf("acceptChild = %v; want the child's connection, queued before it exited", r.err)
					}
					if d := time.Since(start); d != 0 {
						t.Errorf("found the child after %v of the silent one's wait, want at once", d)
					}
					r.c.Close()
					return
				}
				const want = "spawnproc: child exited before connecting back: exit status 0"
				if r.err == nil || r.err.Error() != want {
					t.Fatalf("acceptChild = %v, %v; want error %q", r.c, r.err, want)
				}
				// The silent stranger was waited for up to its deadline:
				// it might have been the child.
				if d := time.Since(start); d != tokenTimeout {
					t.Errorf("gave up after %v, want the token's deadline %v", d, tokenTimeout)
				}
			})
		})
	}
}

// TestDialBackAfterExitTCP: on a real TCP listener, a child's connection
// that was queued (dialed, token sent, closed) before acceptChild ran is
// returned though the child had already exited, whichever of the two
// acceptChild sees first; strangers queued with it are dropped.
func TestDialBackAfterExitTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	token := bytes.Repeat([]byte{7}, tokenSize)
	send := func(b []byte) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	send(nil)                                // a stranger who says nothing
	send(bytes.Repeat([]byte{8}, tokenSize)) // one with a wrong token
	send(token)                              // the child
	p := &Proc{done: make(chan struct{})}
	close(p.done)
	c, err := acceptChild(t.Context(), l, p, token)
	if err != nil {
		t.Fatalf("acceptChild = %v; want the child's queued connection", err)
	}
	defer c.Close()
	// The child's connection: its token was read, and EOF follows.
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read after the token = %d, %v; want EOF", n, err)
	}
}

// TestDialBackExitedTCP: with nothing queued, a child's exit is reported
// at once, with its status.
func TestDialBackExitedTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	status := errors.New("exit status 3")
	p := &Proc{done: make(chan struct{}), err: status}
	close(p.done)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // bounds a hang only
	defer cancel()
	c, err := acceptChild(ctx, l, p, bytes.Repeat([]byte{7}, tokenSize))
	if !errors.Is(err, status) {
		t.Fatalf("acceptChild = %v, %v; want the exit status %v", c, err, status)
	}
}
