package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// TCP is the [Transport] between hosts: each connection is a TCP stream
// carrying frames as [NewConn] describes, configured by Config (its zero
// value is valid, see [Config]). Nagle's algorithm is off (TCP_NODELAY, Go's
// default): Send already batches what concurrent senders queue, and a lone
// message must not wait for an acknowledgement.
//
// Dial and Accept return a *[WireConn] that has not shaken hands; the
// runtime calls its Handshake (see [Handshaker]) before Serve.
type TCP struct {
	Config Config
}

// Name implements [Transport]; it is "tcp".
func (TCP) Name() string { return "tcp" }

// Listen implements [Transport]. addr is a host:port; "" means
// "127.0.0.1:0", a fresh port on the loopback interface.
func (t TCP) Listen(ctx context.Context, addr string) (Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen tcp %s: %w", addr, err)
	}
	l := &tcpListener{
		ln:       ln,
		cfg:      t.Config,
		accepted: make(chan net.Conn),
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
	}
	go l.acceptLoop()
	return l, nil
}

// Dial implements [Transport]. A refused connection (nothing listens at
// addr) gives an error wrapping [ErrNoListener].
func (t TCP) Dial(ctx context.Context, addr string) (Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("transport: dial tcp %s: %w: %w", addr, ErrNoListener, err)
		}
		return nil, fmt.Errorf("transport: dial tcp %s: %w", addr, err)
	}
	return NewConn(nc, t.Config), nil
}

// tcpListener accepts in one goroutine it owns, so that Accept can honour
// its ctx without setting deadlines that concurrent Accepts would share.
type tcpListener struct {
	ln       net.Listener
	cfg      Config
	accepted chan net.Conn // hands an accepted stream to one Accept
	done     chan struct{} // closed by Close
	exited   chan struct{} // closed when acceptLoop returns
	once     sync.Once
	err      error // why acceptLoop stopped, set before exited closes
}

func (l *tcpListener) acceptLoop() {
	defer close(l.exited)
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				l.err = ErrClosed
				return
			default:
			}
			// Running out of descriptors or memory passes; anything
			// else means the listener is broken.
			if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) &&
				!errors.Is(err, syscall.ENOBUFS) && !errors.Is(err, syscall.ENOMEM) {
				l.err = err
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
				continue
			case <-l.done:
				l.err = ErrClosed
				return
			}
		}
		backoff = 0
		select {
		case l.accepted <- nc:
		case <-l.done:
			nc.Close()
			l.err = ErrClosed
			return
		}
	}
}

// Accept implements [Listener].
func (l *tcpListener) Accept(ctx context.Context) (Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case nc := <-l.accepted:
		return NewConn(nc, l.cfg), nil
	case <-l.exited:
		return nil, fmt.Errorf("transport: accept tcp %s: %w", l.Addr(), l.err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Addr implements [Listener]: the host:port peers dial.
func (l *tcpListener) Addr() string { return l.ln.Addr().String() }

// Close implements [Listener]. It returns once the accepting goroutine has.
func (l *tcpListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.ln.Close()
	})
	<-l.exited
	return err
}
