// Package natsnet carries byte streams over NATS subjects, so that two
// programs that cannot reach each other directly (no listener, a
// firewall, NAT) connect through the NATS servers both can reach.
//
// A [Network] listens at an address "nats:<subject prefix>" by
// subscribing to "<prefix>.connect"; a dialer sends a connect request
// there, and the two sides agree on a pair of private inbox subjects, one
// per direction, for the session. A session is a [net.Conn]: writes
// become messages within the server's maximum payload, numbered so that a
// lost one fails the session (with [ErrGap]) rather than the stream going
// on without it; the writer waits for the reader's credit so that it never
// overruns it (NATS drops messages for a slow consumer); both sides send
// keepalives and fail a session whose peer has been silent too long (with
// [ErrPeerGone]); deadlines, CloseWrite and Close behave as on TCP.
//
// The runtime uses a Network for its peer connections through the
// [tractor.PeerNetwork] option: its handshake, the tree's secret,
// framing and flow control run over the stream as over TCP, while NATS's
// own TLS and credentials secure the path to the servers.
package natsnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/tractor-go/tractor/transport"
)

// Scheme is the scheme of a Network's addresses, as in "nats:tractor.x".
const Scheme = "nats"

// Defaults of [Network]'s bounds.
const (
	DefaultKeepalive = 2 * time.Second
	DefaultWindow    = 4 << 20
	DefaultMaxMsgs   = 1024
	// flushTimeout bounds Listen's round trip to the server, when its
	// ctx does not.
	flushTimeout = 10 * time.Second
	// connectSuffix is the subject token a listener answers connects on.
	connectSuffix = ".connect"
	// connectVersion opens a connect request, so that a later format can
	// be told apart.
	connectVersion = "natsnet/1 "
)

// Network makes sessions over one NATS connection. Its zero bounds take
// the defaults. It must not be changed once used.
type Network struct {
	// Conn is the NATS connection sessions use. It stays the caller's:
	// close it after the sessions.
	Conn *nats.Conn
	// Keepalive is how often a session tells its peer that it is alive
	// (default [DefaultKeepalive]). Timeout is how long a session waits
	// without hearing from its peer before it fails (default three
	// keepalives).
	Keepalive, Timeout time.Duration
	// Window bounds the bytes, and MaxMsgs the messages, a writer may have
	// sent that its reader has not consumed (defaults [DefaultWindow] and
	// [DefaultMaxMsgs]).
	Window, MaxMsgs int
}

func (nw *Network) keepalive() time.Duration { return cmpOr(nw.Keepalive, DefaultKeepalive) }
func (nw *Network) timeout() time.Duration   { return cmpOr(nw.Timeout, 3*nw.keepalive()) }
func (nw *Network) window() int              { return cmpOr(nw.Window, DefaultWindow) }
func (nw *Network) maxMsgs() int             { return cmpOr(nw.MaxMsgs, DefaultMaxMsgs) }

func cmpOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Scheme implements [transport.Network].
func (nw *Network) Scheme() string { return Scheme }

// prefixOf returns the subject prefix of addr, "nats:<prefix>"; an empty
// one (addr "" or "nats:") is a fresh, random one.
func prefixOf(address string) (string, error) {
	p, ok := strings.CutPrefix(address, Scheme+":")
	if !ok && address != "" {
		return "", fmt.Errorf("natsnet: address %q: not %s:<subject prefix>", address, Scheme)
	}
	if p == "" {
		return "tractor." + nuid.Next(), nil
	}
	if strings.ContainsAny(p, "*> \t\r\n") || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
		return "", fmt.Errorf("natsnet: address %q: %q is not a subject prefix without wildcards", address, p)
	}
	return p, nil
}

// Listen implements [transport.Network]: it answers connects at addr,
// "nats:<subject prefix>", or at a fresh prefix if addr is "" or "nats:".
func (nw *Network) Listen(ctx context.Context, address string) (net.Listener, error) {
	prefix, err := prefixOf(address)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	l := &listener{nw: nw, addr: addr(Scheme + ":" + prefix), in: make(chan *nats.Msg, 64), done: make(chan struct{})}
	// Two listeners at one address would both answer a dialer, which
	// would then hear from two sessions: ask first whether one answers.
	_, err = nw.Conn.RequestWithContext(ctx, prefix+connectSuffix, []byte(connectVersion))
	switch {
	case err == nil:
		return nil, fmt.Errorf("natsnet: listen %s: %w", l.addr, ErrAddrInUse)
	case !errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("natsnet: listen %s: %w", l.addr, err)
	}
	l.sub, err = nw.Conn.ChanSubscribe(prefix+connectSuffix, l.in)
	if err == nil {
		// The server knows of the subscription before anyone is told
		// the address.
		err = nw.Conn.FlushWithContext(ctx)
	}
	if err != nil {
		if l.sub != nil {
			_ = l.sub.Unsubscribe()
		}
		return nil, fmt.Errorf("natsnet: listen %s: %w", l.addr, err)
	}
	return l, nil
}

// session subscribes to a fresh inbox for the incoming direction of a
// session.
func (nw *Network) session() (string, *nats.Subscription, chan *nats.Msg, error) {
	inbox := nw.Conn.NewInbox()
	// Room for a full window of messages and the acks and keepalives
	// between them: a peer within its credit never overruns it.
	in := make(chan *nats.Msg, nw.maxMsgs()+256)
	sub, err := nw.Conn.ChanSubscribe(inbox, in)
	if err != nil {
		return "", nil, nil, err
	}
	return inbox, sub, in, nil
}

// Dial implements [transport.Network]: it connects to the listener at
// addr, "nats:<subject prefix>". If no listener answers there, the error
// wraps [transport.ErrNoListener].
func (nw *Network) Dial(ctx context.Context, address string) (net.Conn, error) {
	prefix, err := prefixOf(address)
	if err != nil {
		return nil, err
	}
	if address == "" || address == Scheme+":" {
		return nil, fmt.Errorf("natsnet: dial %q: no subject prefix", address)
	}
	inbox, sub, in, err := nw.session()
	if err != nil {
		return nil, fmt.Errorf("natsnet: dial %s: %w", address, err)
	}
	reply, err := nw.Conn.RequestWithContext(ctx, prefix+connectSuffix, nw.hello(inbox))
	if err != nil {
		_ = sub.Unsubscribe()
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("natsnet: dial %s: %w: %w", address, transport.ErrNoListener, err)
		}
		return nil, fmt.Errorf("natsnet: dial %s: %w", address, err)
	}
	peer, ok := parseHello(reply.Data)
	if !ok {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("natsnet: dial %s: the listener answered %q", address, reply.Data)
	}
	return newConn(nw, peer, sub, in, addr(inbox), addr(address)), nil
}

// hello is what each side of a session tells the other as it connects:
// the subject to publish to, and its bounds. A session keeps the smaller
// window of the two sides, so that neither waits for credit the other
// would grant only beyond its own window.
type hello struct {
	inbox           string
	window, maxMsgs int
}

// hello is this side's hello, with inbox for the peer to publish to.
func (nw *Network) hello(inbox string) []byte {
	return fmt.Appendf(nil, "%s%s %d %d", connectVersion, inbox, nw.window(), nw.maxMsgs())
}

// parseHello reads a peer's hello, and says whether it is one.
func parseHello(b []byte) (hello, bool) {
	var h hello
	rest, ok := strings.CutPrefix(string(b), connectVersion)
	if !ok {
		return h, false
	}
	if _, err := fmt.Sscanf(rest, "%s %d %d", &h.inbox, &h.window, &h.maxMsgs); err != nil || h.window <= 0 || h.maxMsgs <= 0 {
		return h, false
	}
	return h, true
}

// listener answers connect requests at addr.
type listener struct {
	nw   *Network
	addr addr
	sub  *nats.Subscription
	in   chan *nats.Msg
	once sync.Once
	done chan struct{}
}

// Accept implements net.Listener: it waits for a connect request and
// answers it with the inbox of a new session.
func (l *listener) Accept() (net.Conn, error) {
	for {
		select {
		case <-l.done:
			return nil, fmt.Errorf("natsnet: accept %s: %w", l.addr, net.ErrClosed)
		case m := <-l.in:
			if m.Reply == "" {
				continue // nobody to answer
			}
			if string(m.Data) == connectVersion {
				_ = m.Respond([]byte(connectVersion)) // a Listen asking whether this one is here
				continue
			}
			peer, ok := parseHello(m.Data)
			if !ok {
				continue // not a dialer of this package
			}
			inbox, sub, in, err := l.nw.session()
			if err == nil {
				// Subscribed first, so that the dialer's first write finds it.
				err = m.Respond(l.nw.hello(inbox))
				if err != nil {
					_ = sub.Unsubscribe()
				}
			}
			if err != nil {
				return nil, fmt.Errorf("natsnet: accept %s: %w", l.addr, err)
			}
			return newConn(l.nw, peer, sub, in, addr(inbox), addr(peer.inbox)), nil
		}
	}
}

// Addr implements net.Listener: the address dialers give to Dial.
func (l *listener) Addr() net.Addr { return l.addr }

// Close implements net.Listener: connects are no longer answered (a
// dialer's request then finds no responder); sessions stay open.
func (l *listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.sub.Unsubscribe()
		if errors.Is(err, nats.ErrConnectionClosed) {
			err = nil
		}
	})
	return err
}
