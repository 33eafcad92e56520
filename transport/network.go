package transport

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// Network is a way to reach a listener other than TCP, such as NATS
// subjects (package natsnet): it makes byte streams, which [Streams]
// turns into connections that shake hands, authenticate, frame and flow
// as TCP's do. Its addresses are "<scheme>:<rest>", so that one program
// can tell them from the host:port of TCP and dial both.
type Network interface {
	// Scheme is the prefix of the network's addresses, before a colon.
	Scheme() string
	// Listen opens a listener at addr; its Addr is the address dialers
	// give to Dial.
	Listen(ctx context.Context, addr string) (net.Listener, error)
	// Dial connects to the listener at addr. If nothing listens there,
	// the error wraps [ErrNoListener].
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

// HasScheme says whether addr is an address of nw: "<scheme>:<rest>".
func HasScheme(nw Network, addr string) bool {
	return nw != nil && strings.HasPrefix(addr, nw.Scheme()+":")
}

// Streams makes connections over the byte streams of Network, each a
// *[WireConn] with Config, as [TCP] does over TCP streams.
type Streams struct {
	Network Network
	Config  Config
}

// Listen opens a listener on the network at addr. Its connections have
// not shaken hands (see [TCP]).
func (s Streams) Listen(ctx context.Context, addr string) (Listener, error) {
	ln, err := s.Network.Listen(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s %s: %w", s.Network.Scheme(), addr, err)
	}
	return newStreamListener(ln, s.Config, nil, nil), nil
}

// Dial connects to the listener at addr on the network. The connection
// has not shaken hands (see [TCP]).
func (s Streams) Dial(ctx context.Context, addr string) (Conn, error) {
	nc, err := s.Network.Dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
	}
	return NewConn(nc, s.Config), nil
}
