package transport

import (
	"context"
	"crypto/tls"
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
// Dial and Accept return a *[WireConn] that has not shaken hands: the
// runtime calls Handshake on a dialled one and Answer (see [Answerer]) on
// an accepted one, before Serve.
type TCP struct {
	Config Config
	// TLS, when set, makes every connection a TLS one: Listen's
	// connections are TLS servers, Dial's TLS clients. One config serves
	// both roles: Certificates for this side's certificate, RootCAs for
	// checking a server's, and ClientCAs with ClientAuth for mutual TLS.
	// A dialer checks the server's certificate against the host it dials
	// unless ServerName is set. The config is cloned; it must not change
	// while Listen or Dial uses it.
	//
	// A TLS connection's writes cannot be tried without blocking, so a
	// flushing Send may block in its write while the peer is slow (see
	// [WireConn.Send]).
	TLS *tls.Config
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
		tls:      t.TLS.Clone(), // nil stays nil
		accepted: make(chan net.Conn),
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
	}
	go l.acceptLoop()
	return l, nil
}

// Dial implements [Transport]. A refused connection (nothing listens at
// addr) gives an error wrapping [ErrNoListener]. With TLS set, Dial also
// runs the TLS handshake, bounded by ctx, so that a server whose
// certificate does not check out fails Dial.
func (t TCP) Dial(ctx context.Context, addr string) (Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("transport: dial tcp %s: %w: %w", addr, ErrNoListener, err)
		}
		return nil, fmt.Errorf("transport: dial tcp %s: %w", addr, err)
	}
	if t.TLS == nil {
		return NewConn(nc, t.Config), nil
	}
	cfg := t.TLS.Clone()
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		tc.Close()
		return nil, fmt.Errorf("transport: dial tcp %s: TLS handshake: %w", addr, err)
	}
	return NewConn(tc, t.Config), nil
}

// tcpListener accepts in one goroutine it owns, so that Accept can honour
// its ctx without setting deadlines that concurrent Accepts would share.
type tcpListener struct {
	ln       net.Listener
	cfg      Config
	tls      *tls.Config   // or nil: plain TCP
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
		if l.tls != nil {
			// The server's TLS handshake is left to the connection's
			// first read or write, as crypto/tls does by default: that is
			// the WireConn's Answer (or Handshake), in the goroutine that
			// owns the connection, bounded by its ctx (through
			// deadlines). Running it here would hold this Accept, and
			// the connections behind it, for as long as a slow or silent
			// client likes, or need a timeout of its own.
			nc = tls.Server(nc, l.tls)
		}
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
