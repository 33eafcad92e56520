// Package tractor is distributed structured concurrency for Go: a tree of
// actors that talk in typed dialogs, supervised by nurseries, where
// cancellation reaches every task of every actor. It brings the ideas of
// Python's tractor (actors on trio) to Go's channels and contexts.
//
// # Actors and nurseries
//
// [Run] starts the root actor and runs the program's body in it.
// [OpenNursery] spawns actors and returns only when every one has ended:
// daemon actors ([Nursery.StartActor]) serve their exposed endpoints until
// cancelled; one-shot actors ([Nursery.RunInActor]) run one function and
// end with its result. One child's failure cancels its siblings; errors
// reach the parent as [*RemoteError] values naming the actor they came
// from. Actors nest: an endpoint may open its own nursery.
//
// # Endpoints and dialogs
//
// Endpoints are typed and declared once at package level: [Func] (one
// result), [Stream] (a remote generator) and [Ctx] (a remote task that sends
// a first value with [Context.Started], may open a two-way [MsgStream], and
// ends with a result). The caller's side is as typed as the callee's: a
// call returns an R, a generator's stream is a MsgStream whose Receive
// returns its T (and whose All ranges over them), [First] and [OpenStream]
// are typed by the caller, and [FuncEndpoint.Result] and
// [CtxEndpoint.Result] return an R. A [Portal] reaches another actor; each
// call through it is a dialog with exactly one outcome: a result, an
// error, or a cancellation. An actor serves only the endpoints it was started with
// ([Expose]).
//
// # Cancellation
//
// Every blocking call takes a ctx, and cancelling a ctx reaches the remote
// task and everything below it: a dialog's end sends a cancel message, an
// actor's end cancels its tasks, a task's end cancels its nurseries, which
// cancel their children. As in tractor, a caller that cancels its own
// dialog gets [ErrContextCancelled] as the outcome, while a dialog cancelled
// by its callee or by a third party reaches the caller as an error.
//
// # Panics
//
// A panic in an actor task is recovered and treated exactly like an error
// returned by the task: it becomes a [*RemoteError] of type "panic" that
// carries the panic value and the panicking stack, matches [ErrPanic],
// cancels the task's siblings where supervision applies, and reaches the
// caller. The policy is the same in-process and across processes, where a
// panic cannot be re-raised. A panic in the body of Run or OpenNursery is
// the caller's own: the nursery cancels and awaits its children, then the
// panic continues.
//
// # Flow control
//
// Streams are flow-controlled per dialog with credit, as HTTP/2 and yamux
// windows are: a receiver grants its sender a window of items and of bytes
// (1024 and 4 MiB unless [Window] says otherwise), and more as it consumes
// them. A slow receiver therefore slows only its own sender, never another
// dialog on the same connection, no message is dropped, and a receiver
// that stops reading holds at most its window (plus one item, since one
// larger than the whole window still goes through alone).
//
// # Hosting and transports
//
// Goroutine actors ([Goroutine], the default) are in-process first: a
// function call to one runs on the caller's goroutine, as a task of the
// callee (its ctx is the callee's, joined with the caller's; the callee's
// end waits for it), and a generator streams through a bounded in-memory
// queue, with the outcomes a dialog would have. Only a context dialog
// makes an in-memory connection, which moves Go values without encoding;
// an idle goroutine actor holds no goroutine and about as much memory as
// a parked one. Values pass by reference, as over a Go channel: do not
// change one after sending it. [Spawn]([Process]) runs actors as this
// binary re-executed, reached over a socketpair ([Pipe]) or TCP ([TCP]):
// messages are framed and encoded with msgpack, and payloads decode
// lazily into the endpoint's types. The same code runs either way, but for
// the messages that cannot travel: one over the frame limit (16 MiB once
// encoded, however well it compresses) or one that msgpack cannot encode,
// such as a value holding a chan, fails only its call, its dialog or its
// Send, with an error matching [ErrMessageTooLarge] or [ErrUnencodable],
// where goroutine actors would pass the Go value as it is.
//
// # Under go test
//
// The package imports [testing] for one call, [testing.Testing], which
// chooses the default of [WireCheck]: off in production, where values
// between goroutine actors pass by reference, and on in a test binary,
// where they are encoded and decoded as between processes, so that a test
// with goroutine actors meets what process actors would: a copied map, a
// refused unencodable value, the frame limit. A program therefore behaves
// differently, by design, under go test and in production, in those
// respects and in cost. A test or benchmark that needs production's
// behaviour gives WireCheck(false) to Run, as a program may give
// WireCheck(true) to check its values outside tests; either way the
// setting reaches the whole tree, process actors' own goroutine actors
// included.
//
// # Discovery and several programs
//
// The root serves the tree's registrar (tractor's arbiter): every actor is
// registered with its process's listen address from the moment it starts
// until it ends. [FindActor] and [WaitForActor] return a portal that
// reaches an actor by name directly, never through its parent, and
// [Actors] lists them all. Another program joins the registrar by address
// ([Registrar]) and sees, and is seen by, the whole tree. Every connection
// between processes opens with an HMAC challenge on the tree's [Secret];
// [TLS] encrypts them. [OpenCluster] starts a set of workers of one kind,
// and [Map] runs a function over a slice of items in such a set, as
// errgroup or conc would over goroutines.
//
// # Logs
//
// The runtime logs with log/slog, each record carrying the actor's name
// and uid as the attributes "actor" and "uid". It is quiet by default
// (warnings and errors only); [LogLevel], or TRACTOR_LOG=debug in the
// environment, changes that, and children inherit the level. The records
// go to the program's own handler given with [LogHandler], or to
// [LogOutput] (default stderr): console lines when it is a terminal, JSON
// lines otherwise. A process child's records come back to its parent's
// handler, so the root's handler sees the whole tree's.
package tractor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"runtime/pprof"

	"github.com/tractor-go/tractor/spawnproc"
)

// Run starts the root actor (tractor's open_root_actor), runs body in it and
// returns body's error once the root has ended. body's ctx carries the root
// actor ([CurrentActor]) and is cancelled when ctx is, which cancels the
// whole tree.
//
// The root listens for peers ([ListenAddr]) and serves the tree's
// registrar, through which any actor finds another by name ([FindActor],
// [WaitForActor], [Actors]); with [Registrar], it joins another program's
// registrar instead, and fails if that cannot be reached in bounded time.
// Without either option, the listener opens on first need: when a process
// actor is spawned or an address is asked for ([Actor.Addr],
// [Portal.Info], [Actors]). A tree of goroutine actors opens no socket,
// and so runs inside a testing/synctest bubble, its timeouts in virtual
// time.
//
// In a process spawned as an actor ([Process] hosting), Run does not run
// body: it serves the parent and exits the process (see [ServeIfChild]).
// Call it first in main.
func Run(ctx context.Context, body func(ctx context.Context) error, opts ...Option) (err error) {
	mustCtx("Run", ctx)
	if body == nil {
		panic("tractor: Run: nil body")
	}
	ServeIfChild(opts...)
	cfg := defaultConfig().with(opts)
	if cfg.secret == "" {
		cfg.secret = os.Getenv(envSecret)
	}
	if cfg.secret == "" {
		cfg.secret = randomSecret()
	}
	if len(cfg.secret) > spawnproc.MaxSecret {
		// Process actors could not be handed it.
		return errorf("tractor: root actor: a Secret of %d bytes: at most %d: %w", len(cfg.secret), spawnproc.MaxSecret, ErrMisuse)
	}
	if cfg.registrarAddr == "" && cfg.registry == nil {
		cfg.registrarAddr = os.Getenv(envRegistrar)
	}
	if cfg.registrarAddr != "" && cfg.registry != nil {
		return errorf("tractor: root actor: Registrar(%q) and UseRegistry: %w", cfg.registrarAddr, ErrMisuse)
	}
	nd, err := newNode(cfg.listenAddr, cfg.secret, cfg.tls, cfg.peers)
	if err != nil {
		return errorf("tractor: root actor: %w", err)
	}
	defer nd.close()
	if cfg.listenAddr != "" || cfg.registrarAddr != "" || cfg.registry != nil {
		// Asked for, or needed at once: the registrar of another program
		// records this process's actors with the address to dial. Others
		// open the listener on first need (see node).
		if _, err := nd.listen(); err != nil {
			return errorf("tractor: root actor: %w", err)
		}
	}
	id := newActorID(cfg.name)
	switch {
	case cfg.registry != nil:
		nd.dir = registryDirectory{r: cfg.registry, node: nd}
	case cfg.registrarAddr == "":
		nd.served = newRegistrar()
		nd.dir = localDirectory{r: nd.served, at: registrarRef{Addr: nd.listening(), UID: id.UID}, node: nd}
		cfg.expose = append(cfg.expose, registrarEndpoints...)
	default:
		nd.dir = &remoteDirectory{node: nd, at: registrarRef{Addr: cfg.registrarAddr}}
	}
	cfg.root = registrarRef{Addr: nd.listening(), UID: id.UID}
	root := newActor(ctx, id, ActorID{}, cfg, nd)
	registered := false
	defer func() {
		root.cancel(nil)
		root.inline.closeAndWait()
		if registered {
			root.unregister()
		}
		root.closePeers()
		root.end()
	}()
	rctx, cancel := context.WithTimeout(ctx, dialTimeout)
	err = nd.dir.register(rctx, ActorInfo{ID: id, Hosting: Process, PID: os.Getpid(), Addr: nd.listening()})
	cancel()
	if err != nil {
		return errorf("tractor: root actor %s: joining the registrar: %w", id, err)
	}
	registered = true
	// The body runs labelled as the root's, as every goroutine running
	// an actor's tasks is (an inline call restores them), and gets its
	// own labels back after.
	pprof.Do(root.ctx, pprof.Labels(LabelActor, id.UID, "tractor.name", id.Name), func(ctx context.Context) {
		err = body(ctx)
	})
	return err
}

// Root returns a portal to the root of this program's tree: the actor that
// called [Run] in the program's first process. Tools that need one place
// for the whole tree, such as a terminal lock, reach it so.
func Root(ctx context.Context) (*Portal, error) {
	mustCtx("Root", ctx)
	a := CurrentActor(ctx)
	if a == nil {
		return nil, ErrNoActor
	}
	p, err := a.dial(ctx, a.cfg.root.Addr, a.cfg.root.UID)
	if err != nil {
		return nil, errorf("tractor: reaching the root: %w", err)
	}
	return p, nil
}

// randomSecret draws a tree secret that only the tree's processes learn.
func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
