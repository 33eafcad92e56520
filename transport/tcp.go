package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// TCP makes connections between hosts: each connection is a TCP stream
// carrying frames as [NewConn] describes, configured by Config (its zero
// value is valid, see [Config]). Nagle's algorithm is off (TCP_NODELAY, Go's
// default): Send already batches what concurrent senders queue, and a lone
// message must not wait for an acknowledgement.
//
// Dial and Accept return a *[WireConn] that has not shaken hands: the
// runtime calls [WireConn.Handshake] on a dialled one and
// [WireConn.Answer] on an accepted one, before Serve.
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
	// MaxPending, when positive, bounds how many connections a listener
	// holds that Accept returned and whose handshake has not ended: those
	// of peers not known yet. Anyone who reaches a listener can open
	// connections and say nothing. Refusing newcomers once the bound is
	// reached would let such connections lock every peer out, so the
	// listener makes room instead: it closes the pending connection that
	// has waited longest without sending a byte or, if all of them have
	// sent some, the one that has waited longest among those of the host
	// holding the most. A peer that speaks at once, as a dialer's
	// Handshake does, thus keeps its place while silent connections come
	// and go. The handshake of a connection closed this way fails.
	// [Config.AuthTimeout] bounds how long each may wait.
	//
	// A connection stops being pending when its handshake ends, when
	// Serve or Send runs without one, or when it is closed.
	MaxPending int
	// MaxPendingPerHost, when positive, bounds the pending connections
	// (see MaxPending) from one remote host: an IPv4 address, or an IPv6
	// /64 prefix. Room for a newcomer is made among its host's own
	// connections, the silent first, so that one host cannot displace
	// the peers of others.
	MaxPendingPerHost int
}

// Listen opens a listener at addr, a host:port; "" means "127.0.0.1:0",
// a fresh port on the loopback interface.
func (t TCP) Listen(ctx context.Context, addr string) (Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen tcp %s: %w", addr, err)
	}
	return newStreamListener(ln, t.Config, t.TLS.Clone(), newAdmission(t.MaxPending, t.MaxPendingPerHost)), nil
}

// newStreamListener makes a [Listener] of ln, whose streams it wraps with
// [NewConn] (through TLS if tlsCfg is set, bounded by pending if it is
// not nil), and starts its accepting goroutine.
func newStreamListener(ln net.Listener, cfg Config, tlsCfg *tls.Config, pending *admission) *tcpListener {
	l := &tcpListener{
		ln:       ln,
		cfg:      cfg,
		pending:  pending,
		tls:      tlsCfg,
		accepted: make(chan net.Conn),
		done:     make(chan struct{}),
		exited:   make(chan struct{}),
	}
	go l.acceptLoop()
	return l
}

// Dial connects to the listener at addr, a host:port. A refused connection
// (nothing listens at addr) gives an error wrapping [ErrNoListener]. With TLS set, Dial also
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
	pending  *admission    // or nil: no bound on pending connections
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
		var settle func()
		if tc, ok := nc.(*net.TCPConn); ok && l.pending != nil {
			p := l.pending.admit(tc)
			nc, settle = p, p.settle
		}
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
		c := NewConn(nc, l.cfg)
		c.settle = settle
		return c, nil
	case <-l.exited:
		return nil, fmt.Errorf("transport: accept %s %s: %w", l.ln.Addr().Network(), l.Addr(), l.err)
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

// errCrowdedOut is the read error of a pending connection that its
// listener closed to make room for newer ones (see [TCP.MaxPending]).
var errCrowdedOut = errors.New("transport: closed to make room: too many connections awaiting their handshake")

// admission holds a listener's pending connections: those Accept returned
// whose handshake has not ended (see [TCP.MaxPending]).
type admission struct {
	max, perHost int

	mu    sync.Mutex
	queue []*pendingConn // in the order accepted
	hosts map[netip.Prefix]int
}

// newAdmission returns the bounds of a listener's pending connections, or
// nil if there are none.
func newAdmission(max, perHost int) *admission {
	if max <= 0 && perHost <= 0 {
		return nil
	}
	return &admission{max: max, perHost: perHost, hosts: make(map[netip.Prefix]int)}
}

// admit makes nc pending, first closing as many pending connections as
// the bounds require.
func (a *admission) admit(nc *net.TCPConn) *pendingConn {
	p := &pendingConn{TCPConn: nc, a: a, host: hostOf(nc.RemoteAddr())}
	var out []*pendingConn
	a.mu.Lock()
	if a.perHost > 0 && a.hosts[p.host] >= a.perHost {
		out = append(out, a.crowdOutLocked(p.host, true))
	}
	if a.max > 0 && len(a.queue) >= a.max {
		out = append(out, a.crowdOutLocked(netip.Prefix{}, false))
	}
	a.queue = append(a.queue, p)
	a.hosts[p.host]++
	p.in = true
	a.mu.Unlock()
	for _, v := range out {
		v.TCPConn.Close() // its owner's read fails, with errCrowdedOut
	}
	return p
}

// crowdOutLocked takes out of the queue, to be closed, the oldest silent
// connection of host (with sameHost), or of any host; if every one has
// spoken, the oldest of host, or of the host that holds the most.
func (a *admission) crowdOutLocked(host netip.Prefix, sameHost bool) *pendingConn {
	in := func(p *pendingConn) bool { return !sameHost || p.host == host }
	victim := -1
	for i, p := range a.queue {
		if in(p) && !p.heard.Load() {
			victim = i
			break
		}
	}
	if victim < 0 {
		if !sameHost {
			most := 0
			for h, n := range a.hosts {
				if n > most {
					host, most = h, n
				}
			}
			sameHost = true
		}
		victim = slices.IndexFunc(a.queue, in)
	}
	p := a.queue[victim]
	p.crowdedOut.Store(true)
	a.removeLocked(victim)
	return p
}

// removeLocked takes the connection at i out of the queue.
func (a *admission) removeLocked(i int) {
	p := a.queue[i]
	a.queue = slices.Delete(a.queue, i, i+1)
	p.in = false
	if a.hosts[p.host]--; a.hosts[p.host] == 0 {
		delete(a.hosts, p.host)
	}
}

// hostOf returns the host that addr belongs to, for MaxPendingPerHost: an
// IPv4 address, or an IPv6 /64 prefix (one subscriber's usual share).
func hostOf(addr net.Addr) netip.Prefix {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}
	}
	ip := ta.AddrPort().Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// pendingConn is a connection Accept returned while its handshake has not
// ended. It notes whether the peer has sent anything; settle, or Close,
// takes it out of its listener's queue.
type pendingConn struct {
	*net.TCPConn // so that a WireConn writes through its descriptor
	a            *admission
	host         netip.Prefix
	heard        atomic.Bool // a byte arrived from the peer
	crowdedOut   atomic.Bool // the listener closed it to make room
	in           bool        // in a.queue (guarded by a.mu)
}

func (p *pendingConn) Read(b []byte) (int, error) {
	n, err := p.TCPConn.Read(b)
	if n > 0 && !p.heard.Load() {
		p.heard.Store(true)
	}
	if err != nil && p.crowdedOut.Load() {
		err = fmt.Errorf("%w: %w", errCrowdedOut, err)
	}
	return n, err
}

// settle takes p out of its listener's queue: its handshake is over.
func (p *pendingConn) settle() {
	a := p.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if p.in {
		a.removeLocked(slices.Index(a.queue, p))
	}
}

func (p *pendingConn) Close() error {
	p.settle()
	return p.TCPConn.Close()
}
