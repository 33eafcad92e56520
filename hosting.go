package tractor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	ossignal "os/signal"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tractor-go/tractor/spawnproc"
	"github.com/tractor-go/tractor/transport"
)

// Timeouts of the process ladder, after tractor (TRACTOR.md §5.1).
const (
	// hardKillAfter is the wait between SIGTERM and SIGKILL.
	hardKillAfter = 1600 * time.Millisecond
	// handshakeTimeout bounds a child's handshake with its parent.
	handshakeTimeout = 10 * time.Second
)

// host is where a child actor runs. The nursery that spawned it owns it.
type host interface {
	// killable says whether terminate can end the actor.
	killable() bool
	// terminate ends the actor by force: SIGTERM, grace, SIGKILL.
	terminate(grace time.Duration)
	// reap waits until nothing of the actor is left (its process exited
	// and was collected) and returns how a process ended: nil for a clean
	// exit. A process still running after its connection closed is given
	// grace, then terminated.
	reap(grace time.Duration) error
	// died is how the actor's process ended, with exit, the status reap
	// returned; nil for an actor that has no process of its own.
	died(actor ActorID, exit error) *ActorDied
	// forced says whether exit, the status reap returned, is the end the
	// runtime forced on the actor's process: death by a signal the ladder
	// sent (SIGTERM or SIGKILL), not a death of its own, such as a crash
	// that came just before the signal.
	forced(exit error) bool
}

// goroutineHost hosts a child as goroutines of this process; the nursery's
// WaitGroup already waits for them.
type goroutineHost struct{}

func (goroutineHost) killable() bool          { return false }
func (goroutineHost) terminate(time.Duration) {}
func (goroutineHost) reap(time.Duration) error {
	return nil
}
func (goroutineHost) forced(error) bool              { return false }
func (goroutineHost) died(ActorID, error) *ActorDied { return nil }

// processHost hosts a child in a process of its own.
type processHost struct{ proc process }

// process is what processHost needs of its child's process: a
// *spawnproc.Proc, or a fake in tests of the ladder's timing.
type process interface {
	Pid() int
	Done() <-chan struct{}
	ExitErr() error
	Signals() []os.Signal
	Terminate(grace time.Duration)
}

func (h processHost) killable() bool { return true }

func (h processHost) terminate(grace time.Duration) { h.proc.Terminate(grace) }

func (h processHost) reap(grace time.Duration) error {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-h.proc.Done():
	case <-t.C:
		h.proc.Terminate(hardKillAfter)
	}
	return h.proc.ExitErr()
}

func (h processHost) died(actor ActorID, exit error) *ActorDied {
	return processEnd(actor, h.proc.Pid(), exit)
}

// deathWait bounds how long a process child's session, once its
// connection has ended unasked, waits for the process to be reaped before
// it breaks the dialogs with it. A process that died (killed, crashed,
// exited) closed its connection by exiting, and is reaped within
// milliseconds: its dialogs then report the death itself, an *ActorDied.
// One still running by then (it closed its connection and hangs, or sleeps
// at exit as a -race build does) must not hold its callers up to its exit
// grace: they get the connection's loss at once, and its nursery, which
// waits for the process, reports how it ended.
const deathWait = 250 * time.Millisecond

// deathOf is the death of actor, whose connection ended without its
// saying that it ends as asked: how its process ended, once it has (it
// is given wait to), unless the ladder ended it; nil if it did not end
// within wait, or was ended by the ladder.
func (h processHost) deathOf(actor ActorID, wait time.Duration) *ActorDied {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-h.proc.Done():
	case <-t.C:
		return nil
	}
	exit := h.proc.ExitErr()
	if h.forced(exit) {
		return nil
	}
	return h.died(actor, exit)
}

func (h processHost) forced(exit error) bool {
	var ee *exec.ExitError
	if !errors.As(exit, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && slices.Contains(h.proc.Signals(), os.Signal(ws.Signal()))
}

// spawnGoroutine starts a goroutine actor and returns the portal to it.
// The child is served as a process child is, over a link that makes an
// in-memory connection only for its first stream or context dialog (see
// localLink); it holds no goroutine while idle.
func (n *Nursery) spawnGoroutine(name string, cfg config) (*Portal, ActorInfo) {
	id := newActorID(name)
	nd := n.actor.node
	child := newActor(context.Background(), id, n.actor.id, cfg, nd)
	ch := newSession(n.actor, id, nil, true)
	ch.peerActor = child
	ch.wireCheck = cfg.wireCheck // the link's values follow the child's setting
	up := child.linkParent(nil, n.actor.id, n.actor)
	newLocalLink(ch, up).faults = faultsFor(cfg.faults, name)
	n.wg.Add(1)
	child.watchParent(up, &n.wg, &n.wg)
	// The portal derives its Info from the child (see Portal.Info): a
	// copy here would cost every spawn a tenth of its bytes.
	return &Portal{ch: ch, host: goroutineHost{}}, nd.infoOf(child)
}

// spawnSpec is what a process child learns from its parent in the
// handshake: who it is and how to behave. Its fields travel encoded. It
// carries every inherited option but those that stay in their process
// (LogOutput and LogHandler, TLS, BeforeCancel, OnTaskError: the child takes them from
// its own Run or ServeIfChild options) and the tree's secret and listen
// host, which the child learns from a pipe and its environment.
type spawnSpec struct {
	ID            ActorID
	Parent        ActorID
	Expose        []string
	LogLevel      slog.Level
	CancelTimeout time.Duration
	ExitGrace     time.Duration
	Window        int               // the flow-control window: items,
	WindowBytes   int               // and bytes
	WireCheck     bool              // for its goroutine actors' dialogs
	Faults        *transport.Faults // see InjectFaults
	// The defaults its own nurseries inherit.
	Hosting  Hosting
	Wire     Wire
	BindAddr string
	Binary   string
	// Where the registrar is, and the program's root.
	Registrar registrarRef
	Root      registrarRef
	// Registry says the tree keeps its actors in a [Registry], which the
	// child must be given too (see UseRegistry): Registrar is then empty.
	Registry bool
}

// offerCompression says whether a parent offers frame compression to a
// process child. S2 costs about 1 µs per KiB and halves the throughput of
// a local socket (measured: 64 KiB frames 1.3-1.6 GB/s plain, 0.7 GB/s
// compressed over a socketpair), so it pays only on a network: it is
// offered for TCP children bound beyond loopback. The child accepts
// whatever its parent offers.
func offerCompression(cfg config) bool {
	return cfg.wire == TCP && cfg.bindAddr != "" && !isLoopback(cfg.bindAddr)
}

// childHello is what a process child tells its parent in the handshake.
type childHello struct {
	PID  int
	Addr string // where it accepts peers
	// Lacks is, if not empty, the scheme of the address the child was told
	// to listen at, for which its main gave Run no PeerNetwork: it cannot
	// serve, and the parent refuses it.
	Lacks string
}

// lacksNetwork says whether listen, the address a process child was told
// to listen at, is one of a network other than TCP (see foreignScheme)
// that peers, the child's own network, is not; it returns that network's
// scheme.
func lacksNetwork(listen string, peers transport.Network) (string, bool) {
	if transport.HasScheme(peers, listen) {
		return "", false
	}
	return foreignScheme(listen)
}

// spawnProcess starts a process actor and completes the handshake, within
// ctx. A child whose handshake does not complete (ctx ended, the parent
// nursery was cancelled, the child died) is killed and reaped before
// spawnProcess returns: tractor's near-zombie rule.
//
// The child learns the host to listen on from its environment, and the
// tree's secret from a pipe it inherits (never its environment or command
// line, which /proc shows for as long as it runs; it does not inherit
// TRACTOR_SECRET either), and proves it knows the secret before the parent
// tells it anything else.
func (n *Nursery) spawnProcess(ctx context.Context, name string, cfg config) (*Portal, ActorInfo, error) {
	id := newActorID(name)
	// One bound for the whole start: the child's dial-back (TCP) and the
	// handshake, so a binary that never serves cannot hang the nursery.
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	// The tree's secret, which this process's listener holds: a Secret
	// given to a nursery or an actor cannot change it, which would cut the
	// child off from its tree, or, empty, open its listener to anyone.
	nd := n.actor.node
	secret := string(nd.tcp.Config.Secret)
	// The child reaches the registrar and the root, of this process
	// perhaps, through this process's listener: it opens now if it has
	// not yet (see node).
	addr, err := nd.listen()
	if err != nil {
		return nil, ActorInfo{}, err
	}
	registrar, root := nd.dir.ref(), cfg.root
	if registrar.Addr == "" {
		registrar.Addr = addr
	}
	if root.Addr == "" {
		root.Addr = addr
	}
	proc, nc, err := spawnproc.Start(hctx, spawnproc.Spec{
		Path: cfg.binary, Wire: cfg.wire, BindAddr: cfg.bindAddr,
		Env:      []string{envListen + "=" + listenHost(cfg.listenAddr, cfg.peers)},
		Unset:    []string{envSecret},
		Secret:   []byte(secret),
		OnListen: testHookChildListen,
		// The child logs JSON lines to its stderr, not a terminal; they
		// come back here as records for this tree's handler.
		Stderr: &logRelay{h: cfg.handler(), out: cfg.childStderr()},
	})
	if err != nil {
		return nil, ActorInfo{}, err
	}
	tcfg := transport.DefaultConfig()
	tcfg.Secret = []byte(secret)
	// The child accepts whatever its parent offers: the offer decides.
	tcfg.Compress = offerCompression(cfg)
	faults := faultsFor(cfg.faults, name)
	if faults != nil {
		nc = faults.Stream(nc).(net.Conn)
	}
	conn := transport.NewConn(nc, tcfg)
	spec := spawnSpec{
		ID: id, Parent: n.actor.id,
		LogLevel: cfg.logLevel, CancelTimeout: cfg.cancelTimeout, ExitGrace: cfg.exitGrace,
		Window: cfg.window.items, WindowBytes: cfg.window.bytes, WireCheck: cfg.wireCheck, Faults: cfg.faults,
		Hosting: cfg.hosting, Wire: cfg.wire, BindAddr: cfg.bindAddr, Binary: cfg.binary,
		Registrar: registrar, Root: root, Registry: cfg.registry != nil,
	}
	for _, ep := range cfg.expose {
		spec.Expose = append(spec.Expose, ep.Name())
	}
	var hello childHello
	_, err = conn.Answer(hctx, func(peer transport.Hello) (transport.Hello, error) {
		var err error
		if hello, err = decode[childHello](peer.Info); err != nil {
			return transport.Hello{}, err
		}
		if hello.PID != proc.Pid() {
			// Someone else dialled the listener first.
			return transport.Hello{}, fmt.Errorf("peer claims pid %d, not the child's", hello.PID)
		}
		if hello.Lacks != "" {
			return transport.Hello{}, fmt.Errorf("process actor %s cannot listen on its tree's network: its program's main gave Run no PeerNetwork for %q addresses (the option cannot travel from a parent): %w",
				id, hello.Lacks+":", ErrNoPeerNetwork)
		}
		return transport.Hello{Version: transport.ProtocolVersion, Compress: tcfg.Compress, Info: spec}, nil
	})
	if err != nil {
		conn.Close()
		proc.Kill()
		<-proc.Done()
		return nil, ActorInfo{}, fmt.Errorf("handshake with child process %d (exit: %v): %w", proc.Pid(), proc.ExitErr(), err)
	}
	if l := n.actor.debug(); l != nil {
		l.Debug("process actor started", slog.String("child", id.String()), slog.Int("pid", hello.PID))
	}
	var sc transport.Conn = conn
	if faults != nil {
		// The stream wrapper injected every fault but IgnoreCredit, which
		// acts on messages: only that one is added here, lest delays
		// and the cut apply twice.
		sc = transport.Faults{Seed: faults.Seed, IgnoreCredit: faults.IgnoreCredit, Log: faults.Log}.Conn(conn)
	}
	ch := newSession(n.actor, id, sc, true)
	host := processHost{proc: proc}
	ch.exited = func() *ActorDied { return host.deathOf(id, deathWait) }
	ch.start(&n.wg)
	info := ActorInfo{ID: id, Parent: n.actor.id, Hosting: Process, PID: hello.PID, Addr: hello.Addr}
	return &Portal{ch: ch, host: host, info: &info}, info, nil
}

// testHookChildListen, set by tests, is called with the address a TCP
// process actor will dial back, before the child starts.
var testHookChildListen func(addr net.Addr)

// listenHost is where a process actor listens: the host of addr, on a fresh
// port; a fresh address of peers if addr is one of its, or "" with peers.
func listenHost(addr string, peers transport.Network) string {
	if peers != nil && (addr == "" || transport.HasScheme(peers, addr)) {
		return peers.Scheme() + ":"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, "0")
}

// ServeIfChild returns at once unless this process was spawned as a
// process actor; in a child it connects to the parent, serves it until
// cancelled or disconnected, and exits the process (status 0 for a clean
// end). [Run] calls it first, so a program that starts with Run needs
// nothing else; call it yourself first in main (or TestMain) if anything
// runs before Run.
//
// Of opts, a process child uses those that cannot travel from its parent,
// because they hold its own process's connections, credentials or
// functions: [TLS], [LogOutput], [PeerNetwork], [UseRegistry] and the
// hooks ([BeforeCancel], [WrapLogHandler], [WrapChildStderr] and the
// like); the rest come from its parent. [Run] passes its own.
func ServeIfChild(opts ...Option) {
	if !spawnproc.IsChild() {
		return
	}
	code := serveChild(defaultConfig().with(opts))
	if f := beforeExit.Load(); f != nil {
		(*f)()
	}
	os.Exit(code)
}

// beforeExit, if set, runs in a process actor once it has ended, before
// the process exits. The tests set it to exit slowly, as a process built
// with -race does (it sleeps at exit), or to crash while exiting.
var beforeExit atomic.Pointer[func()]

// serveChild is a process child's whole life; it returns the exit status.
// A child disregards SIGINT: Ctrl-C in a terminal reaches the whole
// process group, and it is the root's to decide what it means for the
// tree. The signal is caught into a channel nobody reads (a full channel
// drops it) rather than ignored, because an ignored signal stays ignored
// in the programs the actor runs, and Ctrl-C must still stop those.
func serveChild(local config) int {
	ossignal.Notify(make(chan os.Signal, 1), syscall.SIGINT)
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	// First, before anything could start a program that inherits its
	// descriptor: the tree's secret, not theirs.
	key, err := spawnproc.ReadSecret()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tractor: child:", err)
		return 3
	}
	secret, listen := string(key), os.Getenv(envListen)
	os.Unsetenv(envListen)
	hello := childHello{PID: os.Getpid()}
	var nd *node
	if scheme, lacks := lacksNetwork(listen, local.peers); lacks {
		// Nothing to listen on: the parent, told so, refuses this child
		// with an error that names it, which it alone knows yet.
		hello.Lacks = scheme
	} else {
		nd, err = newNode(listen, secret, local.tls, local.peers)
		if err != nil {
			fmt.Fprintln(os.Stderr, "tractor: child:", err)
			return 3
		}
		defer nd.close()
		// At once: its parent is told the address, and the registrar, of
		// another process, records its actors with it.
		hello.Addr, err = nd.listen()
		if err != nil {
			fmt.Fprintln(os.Stderr, "tractor: child:", err)
			return 3
		}
	}
	nc, err := spawnproc.ConnectParent(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tractor: child:", err)
		return 3
	}
	tcfg := transport.DefaultConfig()
	tcfg.Secret = []byte(secret)
	conn := transport.NewConn(nc, tcfg)
	peer, err := conn.Handshake(ctx, transport.Hello{Version: transport.ProtocolVersion, Compress: true, Info: hello})
	if hello.Lacks != "" {
		// Refused by the parent, which reports why.
		err = fmt.Errorf("told to listen at a %s: address, for which main gave Run no PeerNetwork", hello.Lacks)
	}
	if err != nil {
		conn.Close()
		fmt.Fprintln(os.Stderr, "tractor: child handshake:", err)
		return 3
	}
	spec, err := decode[spawnSpec](peer.Info)
	if err != nil {
		conn.Close()
		fmt.Fprintln(os.Stderr, "tractor: child spawn spec:", err)
		return 3
	}
	cfg := defaultConfig()
	cfg.logHandler, cfg.tls, cfg.peers = local.logHandler, local.tls, local.peers
	cfg.beforeCancel, cfg.onTaskError = local.beforeCancel, local.onTaskError
	cfg.root = spec.Root
	cfg.secret, cfg.listenAddr = secret, listen
	switch {
	case spec.Registry && local.registry == nil:
		conn.Close()
		fmt.Fprintln(os.Stderr, "tractor: child:", spec.ID, "is of a tree that uses a Registry: give UseRegistry to Run in main")
		return 3
	case spec.Registry:
		cfg.registry = local.registry
		nd.dir = registryDirectory{r: local.registry, node: nd}
	default:
		nd.dir = &remoteDirectory{node: nd, at: spec.Registrar}
	}
	cfg.name = spec.ID.Name
	cfg.logLevel = spec.LogLevel
	cfg.cancelTimeout = spec.CancelTimeout
	if spec.ExitGrace > 0 {
		cfg.exitGrace = spec.ExitGrace
	}
	cfg.window = newFlowWindow(spec.Window, spec.WindowBytes)
	cfg.wireCheck = spec.WireCheck
	cfg.faults = spec.Faults
	cfg.hosting, cfg.wire, cfg.bindAddr, cfg.binary = spec.Hosting, spec.Wire, spec.BindAddr, spec.Binary
	var missing []string
	for _, name := range spec.Expose {
		if ep, ok := lookupEndpoint(name); ok {
			cfg.expose = append(cfg.expose, ep)
		} else {
			missing = append(missing, name)
		}
	}
	a := newActor(context.Background(), spec.ID, spec.Parent, cfg, nd)
	if len(missing) > 0 {
		a.logger().Warn("exposed endpoints unknown to this binary; calls to them will be refused", slog.Any("endpoints", missing))
	}
	a.serveParent(a.linkParent(conn, spec.Parent, nil))
	return 0
}
