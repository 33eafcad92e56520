package tractor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// Discovery's bounds and environment.
const (
	// dialTimeout bounds connecting to a peer or the registrar, handshake
	// included, so an unreachable address fails in bounded time.
	dialTimeout = 5 * time.Second
	// envSecret and envRegistrar configure a root from the environment
	// (see [Secret] and [Registrar]).
	envSecret    = "TRACTOR_SECRET"
	envRegistrar = "TRACTOR_REGISTRAR"
	// envListen tells a process actor on which host to listen.
	envListen = "TRACTOR_LISTEN"
	// Anyone who can reach a peer listener can open connections and stay
	// silent, or stall halfway through the authentication. Each such
	// connection is dropped after authTimeout, well before dialTimeout
	// (a peer that knows the secret proves it in a round trip). At most
	// maxPending unauthenticated connections are held at once, a
	// goroutine and buffers each, and at most maxPendingPerHost from one
	// host. Beyond either bound the listener drops the oldest silent one
	// to make room, never the newcomer: connections held open by a flood
	// cannot lock a peer out, even one from the flood's own address,
	// since a dialer speaks at once (see transport.TCP.MaxPending).
	authTimeout       = 500 * time.Millisecond
	maxPending        = 128
	maxPendingPerHost = 64
)

// node is one process's share of a tree: the actors it hosts, by uid, so
// that a connection from a peer reaches the one it asked for; the listener
// on which peers of other processes connect; and the way to the registrar.
// Every actor of a process shares the node of the process's main actor (the
// root, or a process actor), which owns it and closes it last.
//
// The listener opens on first need (see listen): when an address of this
// process must be handed to another process (a process child is spawned,
// [Actor.Addr] or an [ActorInfo] is asked for, the registrar answers a
// peer). A tree of goroutine actors thus opens no socket at all, costs
// none, and runs inside a testing/synctest bubble, where a goroutine
// blocked in the network would keep the fake clock from advancing. Until
// then the registrar records this process's actors with an empty Addr,
// which means "this process" (see node.local), and fills it in as it hands
// an entry out (see node.resolve).
type node struct {
	tcp    transport.TCP
	bind   string     // where the listener listens once it opens
	pid    int        // this process's, asked once: a spawn need not ask again
	served *registrar // the registrar, if this process serves it
	dir    directory  // how this process reaches the registrar

	lnMu sync.Mutex             // serialises opening the listener and closing it
	ln   transport.Listener     // nil until the listener opens
	addr atomic.Pointer[string] // the listener's address, once it is open

	mu      sync.Mutex
	actors  map[string]*Actor
	first   *Actor        // the main actor: the first one added
	ready   chan struct{} // closed once the main actor is added
	closing bool

	ctx  context.Context // the accept loop's and the handshakes'
	stop context.CancelFunc
	wg   sync.WaitGroup // the accept loop and the handshakes in flight

	// peers is the network, other than TCP, of the addresses with its
	// scheme (see PeerNetwork), or nil.
	peers transport.Network
}

// newNode makes a node whose listener, once it opens, listens on addr for
// peers that know secret: on peers if addr is one of its addresses, or
// if addr is "" and peers is not nil; on TCP otherwise. It checks addr at
// once, and opens nothing.
func newNode(addr, secret string, tlsCfg *tls.Config, peers transport.Network) (*node, error) {
	if secret == "" {
		// Fail closed: a listener without a secret admits anyone.
		return nil, fmt.Errorf("no secret for the peer listener: %w", ErrMisuse)
	}
	if addr == "" && peers != nil {
		addr = peers.Scheme() + ":" // a fresh address
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if transport.HasScheme(peers, addr) {
		// Not a host:port: NATS, say, which its own TLS secures.
	} else if scheme, ok := foreignScheme(addr); ok {
		return nil, fmt.Errorf("ListenAddr %q: %w", addr, noPeerNetwork(scheme))
	} else if host, _, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			// The listener's address is registered for peers to dial: one
			// elsewhere would dial "[::]:port" on its own host, and purge
			// the live entry when nothing answers there.
			return nil, fmt.Errorf("ListenAddr %q: peers are told the address to dial, and an unspecified host names none; give an interface's address (such as \"10.0.0.1:7000\"): %w", addr, ErrMisuse)
		}
	}
	cfg := transport.DefaultConfig()
	cfg.Secret = []byte(secret)
	cfg.Compress = !isLoopback(addr)
	cfg.AuthTimeout = authTimeout
	n := &node{
		tcp:    transport.TCP{Config: cfg, TLS: tlsCfg, MaxPending: maxPending, MaxPendingPerHost: maxPendingPerHost},
		peers:  peers,
		bind:   addr,
		actors: make(map[string]*Actor), ready: make(chan struct{}),
		pid: os.Getpid(),
	}
	n.ctx, n.stop = context.WithCancel(context.Background())
	return n, nil
}

// listen opens the peer listener unless it is open, and returns its
// address. It fails if the node is closing, or the address cannot be
// listened on.
func (n *node) listen() (string, error) {
	if addr := n.addr.Load(); addr != nil {
		return *addr, nil
	}
	n.lnMu.Lock()
	defer n.lnMu.Unlock()
	if addr := n.addr.Load(); addr != nil {
		return *addr, nil
	}
	n.mu.Lock()
	closing := n.closing
	n.mu.Unlock()
	if closing {
		return "", fmt.Errorf("peer listener on %s: the process's actors have ended: %w", n.bind, ErrActorGone)
	}
	var ln transport.Listener
	var err error
	if transport.HasScheme(n.peers, n.bind) {
		ln, err = n.streams().Listen(n.ctx, n.bind)
	} else {
		ln, err = n.tcp.Listen(n.ctx, n.bind)
	}
	if err != nil {
		return "", fmt.Errorf("peer listener on %s: %w", n.bind, err)
	}
	addr := ln.Addr()
	n.ln = ln
	n.addr.Store(&addr)
	n.wg.Go(func() { n.acceptLoop(n.ctx) })
	return addr, nil
}

// listening returns the listener's address, or "" while it is not open.
func (n *node) listening() string {
	if addr := n.addr.Load(); addr != nil {
		return *addr
	}
	return ""
}

// local says whether addr, an actor's address as the registrar has it,
// is this process's: "" (the registrar's mark for this process while it
// does not listen) or the listener's.
func (n *node) local(addr string) bool {
	return addr == "" || addr == n.listening()
}

// resolve returns info with this process's address filled in, opening
// the listener, if the registrar has it marked as this process's (see
// node). If the listener cannot open, Addr stays empty and the failure
// is logged.
func (n *node) resolve(info ActorInfo) ActorInfo {
	if info.Addr != "" {
		return info
	}
	addr, err := n.listen()
	if err != nil {
		if a := n.main(); a != nil {
			a.logger().Error("peer listener failed to open; this process's actors cannot be reached from others", slog.Any("err", err))
		}
	}
	info.Addr = addr
	return info
}

// resolveAll is resolve over infos, in place.
func (n *node) resolveAll(infos []ActorInfo) []ActorInfo {
	for i := range infos {
		infos[i] = n.resolve(infos[i])
	}
	return infos
}

// streams is how the node reaches peers over its peer network: with the
// configuration of its TCP connections (the secret, compression, the
// authentication's bound), and without TLS, which the network has its own.
func (n *node) streams() transport.Streams {
	return transport.Streams{Network: n.peers, Config: n.tcp.Config}
}

// foreignScheme says whether addr, not one of the peer network's, is the
// address of another network, "<scheme>:<rest>" (such as
// "nats:tractor.registrar", or "nats:" for a fresh one), rather than a TCP
// host:port, whose port is a number or a service's name; it returns the
// scheme. A scheme-like host with no port ("nats:") is taken for another
// network's fresh address, never for a TCP host to look up: a TCP address
// names its port, "host:0" for a fresh one.
func foreignScheme(addr string) (string, bool) {
	scheme, port, err := net.SplitHostPort(addr)
	if err != nil || !isScheme(scheme) {
		return "", false
	}
	if port == "" {
		return scheme, true
	}
	if _, err := net.LookupPort("tcp", port); err == nil {
		return "", false
	}
	return scheme, true
}

// noPeerNetwork is the error for an address of the network scheme, for
// which this program's main gave Run no [PeerNetwork].
func noPeerNetwork(scheme string) error {
	return fmt.Errorf("this program's main gave Run no PeerNetwork for %q addresses: %w", scheme+":", ErrNoPeerNetwork)
}

// isScheme says whether s is a URI scheme (RFC 3986): a letter, then
// letters, digits, "+", "-" or ".".
func isScheme(s string) bool {
	for i, c := range []byte(s) {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// isLoopback says whether host:port names a loopback address.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback() || host == "localhost"
}

// spawn runs f in a goroutine the node waits for when it closes, unless
// it is closing already; it says whether it did.
func (n *node) spawn(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closing {
		return false
	}
	n.wg.Go(f)
	return true
}

// close stops accepting and waits for the handshakes in flight.
func (n *node) close() {
	n.mu.Lock()
	n.closing = true
	n.mu.Unlock()
	n.stop()
	n.lnMu.Lock()
	if n.ln != nil {
		_ = n.ln.Close()
	}
	n.lnMu.Unlock()
	n.wg.Wait()
}

func (n *node) add(a *Actor) {
	n.mu.Lock()
	n.actors[a.id.UID] = a
	if n.first == nil {
		n.first = a
		close(n.ready)
	}
	n.mu.Unlock()
}

func (n *node) remove(a *Actor) {
	n.mu.Lock()
	delete(n.actors, a.id.UID)
	n.mu.Unlock()
}

// actor returns the actor of this process with that uid, or the registrar's
// actor for "", or nil.
func (n *node) actor(uid string) *Actor {
	n.mu.Lock()
	defer n.mu.Unlock()
	if uid == "" {
		if n.served == nil {
			return nil
		}
		return n.first
	}
	return n.actors[uid]
}

// main returns the process's main actor.
func (n *node) main() *Actor {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.first
}

// infoOf is where a, an actor of this process, runs, as the registrar
// records it: with an empty Addr while the listener is not open.
func (n *node) infoOf(a *Actor) ActorInfo {
	return ActorInfo{ID: a.id, Parent: a.parent, Hosting: n.hostingOf(a), PID: n.pid, Addr: n.listening()}
}

// hostingOf is how a, an actor of this process, runs: the process's main
// actor is its process; the others are goroutines in it.
func (n *node) hostingOf(a *Actor) Hosting {
	if a == n.main() {
		return Process
	}
	return Goroutine
}

// acceptLoop admits peers. It accepts every connection at once, so that a
// peer never waits behind a flood in the kernel's backlog; the listener
// bounds those not yet authenticated (see maxPending).
func (n *node) acceptLoop(ctx context.Context) {
	for {
		conn, err := n.ln.Accept(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, transport.ErrClosed) {
				if a := n.main(); a != nil {
					a.logger().Error("peer listener failed; no more peers will connect", slog.Any("err", err), slog.String("addr", n.listening()))
				}
			}
			return
		}
		n.wg.Go(func() { n.admit(ctx, conn) })
	}
}

// peerHello is what a dialer asks for: the actor it wants, by uid ("" for
// the registrar), and who it is.
type peerHello struct {
	From ActorID
	To   string
	PID  int
}

// peerWelcome answers a peerHello: the actor reached, or why not.
type peerWelcome struct {
	ID      ActorID
	PID     int
	Hosting Hosting // how the actor reached runs, for its portal's Info
	Refused string
}

// errNoSuchActor is a dialer's error when the process it dialled does not
// host the actor it asked for (any more).
var errNoSuchActor = errors.New("no such actor at that address")

// noSuchActor is errNoSuchActor for the actor uid, looked for in this
// process.
func (n *node) noSuchActor(uid string) error {
	return fmt.Errorf("%w: %s", errNoSuchActor, n.refusal(uid))
}

// refusal says why this process refuses a peer that asked for uid.
func (n *node) refusal(uid string) string {
	return fmt.Sprintf("no actor with uid %q in process %d", uid, n.pid)
}

// admit authenticates a connection from a peer, answers its hello, and hands
// the connection to the actor it asked for. A peer that fails the
// handshake is dropped before any endpoint is reachable, by authTimeout if
// it does not prove that it knows the secret.
func (n *node) admit(ctx context.Context, conn transport.Conn) {
	wc, ok := conn.(*transport.WireConn)
	if !ok {
		conn.Close()
		return
	}
	hctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	// A process actor listens before its parent tells it who it is, and
	// is registered as soon as it knows: a peer may come first.
	select {
	case <-n.ready:
	case <-hctx.Done():
		conn.Close()
		return
	}
	var target *Actor
	var from ActorID
	_, err := wc.Answer(hctx, func(peer transport.Hello) (transport.Hello, error) {
		h, err := decode[peerHello](peer.Info)
		if err != nil {
			return transport.Hello{}, err
		}
		from = h.From
		w := peerWelcome{PID: n.pid}
		if target = n.actor(h.To); target != nil {
			w.ID, w.Hosting = target.id, n.hostingOf(target)
		} else {
			w.Refused = n.refusal(h.To)
		}
		return transport.Hello{Version: transport.ProtocolVersion, Info: w}, nil
	})
	if err != nil {
		// At debug level: anyone who reaches the listener can fail a
		// handshake, as often as they like.
		if a := n.main(); a != nil && ctx.Err() == nil {
			if l := a.debug(); l != nil {
				l.Debug("peer refused in handshake", slog.Any("err", err))
			}
		}
		return
	}
	if target == nil || target.adopt(conn, from, nil, false, nil) == nil {
		conn.Close()
	}
}

// dialAttempts bounds how often dialPeer dials a listener that drops the
// connection before authenticating it.
const dialAttempts = 4

// dialPeer connects to the actor uid ("" for the registrar) in the process
// listening at addr, on behalf of local. A listener under a flood may drop
// the connection before it has heard this side's proof (see maxPending;
// this process may be slow too): dialPeer then dials again, a few times,
// within dialTimeout.
func (n *node) dialPeer(ctx context.Context, local *Actor, addr, uid string) (transport.Conn, peerWelcome, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		conn, w, err := n.dialPeerOnce(ctx, local, addr, uid)
		if err == nil || attempt == dialAttempts || !errors.Is(err, transport.ErrDropped) {
			return conn, w, err
		}
		if a := n.main(); a != nil {
			if l := a.debug(); l != nil {
				l.Debug("peer dropped the handshake; dialing again", slog.Any("err", err), slog.String("addr", addr), slog.Int("attempt", attempt))
			}
		}
		// A listener drops pending handshakes when too many arrive at
		// once, legitimate ones among them (a tree's processes all dial
		// from one host): spread the next attempts out, at random, so that
		// a burst does not come back as the same burst.
		t := time.NewTimer(rand.N(time.Duration(attempt) * redialSpread))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, peerWelcome{}, fmt.Errorf("dialing %s again after a dropped handshake: %w", addr, ctx.Err())
		}
	}
}

// redialSpread is how far apart, at random, dialPeer spreads the next
// attempt after a dropped handshake, times the attempts made.
const redialSpread = 50 * time.Millisecond

// dialPeerOnce is one attempt of dialPeer.
func (n *node) dialPeerOnce(ctx context.Context, local *Actor, addr, uid string) (transport.Conn, peerWelcome, error) {
	var conn transport.Conn
	var err error
	if transport.HasScheme(n.peers, addr) {
		conn, err = n.streams().Dial(ctx, addr)
	} else if scheme, ok := foreignScheme(addr); ok {
		return nil, peerWelcome{}, fmt.Errorf("dial %s: %w", addr, noPeerNetwork(scheme))
	} else {
		conn, err = n.tcp.Dial(ctx, addr)
	}
	if err != nil {
		return nil, peerWelcome{}, err
	}
	wc := conn.(*transport.WireConn)
	peer, err := wc.Handshake(ctx, transport.Hello{Version: transport.ProtocolVersion,
		Info: peerHello{From: local.id, To: uid, PID: n.pid}})
	if err != nil {
		return nil, peerWelcome{}, err
	}
	w, err := decode[peerWelcome](peer.Info)
	if err == nil && w.Refused != "" {
		err = fmt.Errorf("%w: %s", errNoSuchActor, w.Refused)
	}
	if err != nil {
		conn.Close()
		return nil, peerWelcome{}, err
	}
	return conn, w, nil
}
