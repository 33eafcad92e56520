package spawnproc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// acceptChild waits for the child to dial back and send its token, for
// ctx to end, or for the child to exit first. Until then it accepts
// anyone and drops whoever does not send the token in time (see
// [tokenTimeout]); when it returns, every other connection it accepted is
// closed and every goroutine it started has ended.
//
// A child may connect, send its token and exit before its connection is
// accepted: its exit does not mean it never connected. When it exits,
// acceptChild takes what is queued at the listener and reads those
// tokens too before it says the child did not connect back (see
// [backlog]).
func acceptChild(ctx context.Context, l net.Listener, p *Proc, token []byte) (net.Conn, error) {
	d := &dialBack{
		l: l, token: token,
		slots: make(chan struct{}, maxDialBack),
		found: make(chan net.Conn),
		stop:  make(chan struct{}),
	}
	failed := make(chan error, 1)
	d.wg.Go(func() { failed <- d.accept(l.Accept) })
	defer d.close()
	acceptErr := func(err error) error { return fmt.Errorf("spawnproc: accept child on %s: %w", l.Addr(), err) }
	ctxErr := func() error { return fmt.Errorf("spawnproc: child did not connect back: %w", ctx.Err()) }
	select {
	case c := <-d.found:
		return c, nil
	case err := <-failed:
		return nil, acceptErr(err)
	case <-ctx.Done():
		return nil, ctxErr()
	case <-p.done:
	}
	exited := errors.New("spawnproc: child exited before connecting back: exit status 0")
	if p.err != nil {
		exited = fmt.Errorf("spawnproc: child exited before connecting back: %w", p.err)
	}
	b, ok := backlogOf(l)
	if !ok {
		return nil, exited
	}
	// The child is gone, so whatever it sent is queued at the listener or
	// being read by a check. Stop accepting, take what is queued, and
	// wait for every check to end or hand over the child's connection (a
	// check that found it waits until it is taken, so it cannot end
	// first).
	b.stopAccept()
	select {
	case c := <-d.found:
		return c, nil
	case <-failed:
	case <-ctx.Done():
		return nil, ctxErr()
	}
	if err := d.accept(b.takeQueued); err != nil {
		return nil, acceptErr(err)
	}
	select {
	case c := <-d.found:
		return c, nil
	case <-d.idle():
		return nil, exited
	case <-ctx.Done():
		return nil, ctxErr()
	}
}

// backlogOf returns l's [backlog], if it has one.
func backlogOf(l net.Listener) (backlog, bool) {
	if tl, ok := l.(*net.TCPListener); ok {
		return tcpBacklog{tl}, true
	}
	b, ok := l.(backlog)
	return b, ok
}

// backlog is a listener whose connections stay queued while its Accept is
// stopped, and that hands over a queued one without waiting. A TCP
// listener is one (see [tcpBacklog]).
type backlog interface {
	// stopAccept makes a blocked or later Accept return an error, and
	// leaves what is queued queued.
	stopAccept()
	// takeQueued returns a queued connection, or nil if none is queued,
	// without waiting. It is called once stopAccept's Accept has
	// returned.
	takeQueued() (net.Conn, error)
}

// tcpBacklog is a TCP listener's [backlog].
type tcpBacklog struct{ *net.TCPListener }

// stopAccept sets a deadline in the past: Accept fails with it at once,
// whether waiting or not, and takes nothing from the queue.
func (l tcpBacklog) stopAccept() { l.SetDeadline(time.Unix(1, 0)) }

// takeQueued polls the listening socket, and accepts only if it is
// readable: with no other Accept running, that Accept does not wait.
func (l tcpBacklog) takeQueued() (net.Conn, error) {
	if err := l.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	rc, err := l.SyscallConn()
	if err != nil {
		return nil, err
	}
	var ready bool
	var perr error
	err = rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, 0)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			ready, perr = n > 0, err
			return
		}
	})
	if err == nil {
		err = perr
	}
	if err != nil || !ready {
		return nil, err
	}
	// Readable: a connection is queued. Bound the Accept all the same,
	// as a connection reset in the queue may be dropped from it.
	l.SetDeadline(time.Now().Add(tokenTimeout))
	c, err := l.Accept()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, nil
	}
	return c, err
}

// dialBack is the parent's side of a TCP child's dial-back: its listener
// and the connections accepted on it whose token is being read.
type dialBack struct {
	l     net.Listener
	token []byte
	slots chan struct{} // one per goroutine reading a token
	found chan net.Conn // the child's connection, token read
	stop  chan struct{} // closed once acceptChild returns
	wg    sync.WaitGroup

	mu       sync.Mutex
	pending  []net.Conn // whose token is being read, oldest first
	closed   bool
	checking int           // goroutines reading a token
	idleCh   chan struct{} // closed when checking drops to 0, if set
}

// accept takes connections from next until it fails or returns none, and
// reads the token from each in its own goroutine, at most maxDialBack at
// once. next is the listener's Accept, or after the child's exit
// [backlog.takeQueued].
func (d *dialBack) accept(next func() (net.Conn, error)) error {
	for {
		c, err := next()
		if err != nil {
			return err
		}
		if c == nil {
			return nil
		}
		select {
		case d.slots <- struct{}{}:
		default:
			d.dropOldest()
			select {
			case d.slots <- struct{}{}:
			case <-d.stop:
				c.Close()
				return nil
			}
		}
		if !d.add(c) {
			c.Close()
			<-d.slots
			return nil
		}
		d.wg.Go(func() {
			defer d.checked()
			d.check(c)
		})
	}
}

// check reads the token from c and hands c over if it is the child's; it
// closes c otherwise.
func (d *dialBack) check(c net.Conn) {
	got := make([]byte, len(d.token))
	c.SetReadDeadline(time.Now().Add(tokenTimeout))
	_, err := io.ReadFull(c, got)
	// Taken out of pending, c is no longer dropped to make room nor
	// closed by close: this goroutine closes it or hands it over.
	if !d.remove(c) || err != nil || subtle.ConstantTimeCompare(got, d.token) != 1 {
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	select {
	case d.found <- c:
	case <-d.stop:
		c.Close()
	}
}

// add makes c pending, unless close has run.
func (d *dialBack) add(c net.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.pending = append(d.pending, c)
	d.checking++
	return true
}

// checked ends a check: its slot is free, and if it was the last one,
// whoever waits for [dialBack.idle] is told.
func (d *dialBack) checked() {
	<-d.slots
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.checking--; d.checking == 0 && d.idleCh != nil {
		close(d.idleCh)
		d.idleCh = nil
	}
}

// idle returns a channel closed once no check runs: at once if none does
// now, else when the last one ends. It is called once no more checks
// start.
func (d *dialBack) idle() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := make(chan struct{})
	if d.checking == 0 {
		close(ch)
	} else {
		d.idleCh = ch
	}
	return ch
}

// remove takes c out of pending, and reports whether it was there.
func (d *dialBack) remove(c net.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := slices.Index(d.pending, c)
	if i < 0 {
		return false
	}
	d.pending = slices.Delete(d.pending, i, i+1)
	return true
}

// dropOldest closes the oldest pending connection, which ends the
// goroutine reading its token.
func (d *dialBack) dropOldest() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.pending) > 0 {
		d.pending[0].Close()
		d.pending = slices.Delete(d.pending, 0, 1)
	}
}

// close stops accepting, closes every pending connection, and waits for
// the goroutines of d.
func (d *dialBack) close() {
	close(d.stop)
	d.l.Close()
	d.mu.Lock()
	d.closed = true
	for _, c := range d.pending {
		c.Close()
	}
	d.pending = nil
	d.mu.Unlock()
	d.wg.Wait()
}
