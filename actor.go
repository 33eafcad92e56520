package tractor

import (
	"context"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// LabelActor is the pprof label that marks the goroutines running an
// actor's tasks (and the goroutines they start) with the actor's UID.
const LabelActor = "tractor.actor"

// ActorID names an actor: the name it was given and a unique id drawn when
// it started. Names may repeat within a tree; UIDs do not.
type ActorID struct {
	Name string
	UID  string
}

// String returns "name[uid-prefix]", short enough for logs and errors.
func (id ActorID) String() string {
	uid := id.UID
	if len(uid) > 8 {
		uid = uid[:8]
	}
	return id.Name + "[" + uid + "]"
}

func newActorID(name string) ActorID {
	var b [8]byte
	u := rand.Uint64()
	for i := range b {
		b[i] = byte(u >> (8 * i))
	}
	return ActorID{Name: name, UID: hex.EncodeToString(b[:])}
}

// Actor is one actor of the tree: a set of exposed endpoints served to its
// parent (and, for the root, the program's body), with its own lifetime.
// Get the current one with [CurrentActor].
type Actor struct {
	id     ActorID
	parent ActorID // zero for the root
	cfg    config
	node   *node

	// exposed indexes cfg.expose by name when it is long; a few are
	// scanned (see exposes).
	exposed map[string]Endpoint
	// log is the actor's logger, made on first use (see logger): most
	// actors of a quiet tree never write a line, and a logger with the
	// actor's fields costs half a KiB.
	log atomic.Pointer[slog.Logger]

	// ctx is the actor's lifetime: every task it runs derives from it, and
	// cancelling it (with a *cancelCause naming who asked) tears it down.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// labels carries the pprof labels of the actor's goroutines, made
	// when its first task runs.
	labelsOnce sync.Once
	labels     context.Context

	// Connections with peers other than the parent: those this actor
	// dialled (found through the registrar), kept by the peer's uid for
	// reuse, and those peers dialled to reach it. The actor owns them and
	// closes them when it ends. The maps are made on first use: most
	// actors only ever talk to their parent.
	peerMu      sync.Mutex
	peers       map[*session]struct{}
	dialled     map[string]*session
	dialing     map[string]chan struct{} // by uid: closed when that dial ends
	peersClosed bool
	peerWG      sync.WaitGroup

	// toParent is the connection to the parent, once linkParent made it.
	toParent atomic.Pointer[session]

	// inline counts the tasks that callers in this process run without a
	// dialog: functions on their callers' goroutines (see callInline),
	// generators streaming through memory (see openLocal).
	inline taskGate

	// An actor that serves a parent winds down once, on its first
	// cancellation (see watchParent): ended is marked done once it has
	// wound down, lostParent says that the parent went first.
	ended       atomic.Pointer[sync.WaitGroup]
	lostParent  atomic.Bool
	windingDown atomic.Bool

	// What introspection reports (see stats): when the actor started, the
	// dialogs open on its connections, either side, and the tasks its
	// peers' dialogs run in it (inline tasks are counted by inline).
	started time.Time
	dialogs atomic.Int64
	tasks   atomic.Int64
}

type actorKey struct{}

// newActor makes an actor whose lifetime derives from parent and records it
// in its process's node. The caller must call a.end once the actor has
// stopped.
func newActor(parent context.Context, id, parentID ActorID, cfg config, nd *node) *Actor {
	a := &Actor{id: id, parent: parentID, cfg: cfg, node: nd, started: time.Now()}
	if len(cfg.expose) > maxScannedEndpoints {
		a.exposed = make(map[string]Endpoint, len(cfg.expose))
		for _, ep := range cfg.expose {
			a.exposed[ep.Name()] = ep
		}
	}
	ctx, cancel := context.WithCancelCause(parent)
	a.ctx = context.WithValue(ctx, actorKey{}, a)
	a.cancel = cancel
	nd.add(a)
	if l := a.debug(); l != nil {
		l.Debug("actor started", slog.String("parent", a.parent.String()))
	}
	return a
}

// goroutineLabels returns the pprof labels of the actor's goroutines.
func (a *Actor) goroutineLabels() context.Context {
	a.labelsOnce.Do(func() {
		a.labels = pprof.WithLabels(context.Background(), pprof.Labels(LabelActor, a.id.UID, "tractor.name", a.id.Name))
	})
	return a.labels
}

// end releases the actor's resources once everything it ran has returned.
func (a *Actor) end() {
	a.cancel(nil)
	a.node.remove(a)
	if l := a.debug(); l != nil {
		l.Debug("actor ended")
	}
}

// unregister takes the actor out of the registrar as it ends, before its
// parent learns it has: once a portal's CancelActor returns, discovery no
// longer finds the actor.
func (a *Actor) unregister() {
	if err := a.unregisterUID(a.id.UID); err != nil {
		a.logger().Warn("actor not unregistered", slog.Any("err", err))
	}
}

// unregisterUID takes the actor uid out of the registrar; a registrar
// elsewhere is waited for within the bound of a dial, and asked however
// late (see [session.detach]).
func (a *Actor) unregisterUID(uid string) error {
	return a.node.dir.unregister(context.Background(), uid)
}

// CurrentActor returns the actor whose task ctx belongs to, or nil outside
// [Run].
func CurrentActor(ctx context.Context) *Actor {
	a, _ := ctx.Value(actorKey{}).(*Actor)
	return a
}

// callerKey is the ctx key under which a task's ctx holds its caller.
type callerKey struct{}

// Caller returns the actor that called the task ctx belongs to: the peer
// of a function, generator or context task, within the task and whatever
// it derives from its ctx. It returns false outside a task.
func Caller(ctx context.Context) (ActorID, bool) {
	id, ok := ctx.Value(callerKey{}).(ActorID)
	return id, ok
}

// ID returns the actor's name and unique id.
func (a *Actor) ID() ActorID { return a.id }

// Name returns the actor's name.
func (a *Actor) Name() string { return a.id.Name }

// Addr returns the host:port on which the actor's process accepts peers:
// for a root, the address other programs give to [Registrar]. The
// listener opens on first need, so Addr may open it; it returns "" if it
// cannot (the error is logged).
func (a *Actor) Addr() string { return a.node.resolve(ActorInfo{}).Addr }

// Parent returns the id of the actor's parent; it is zero for the root.
func (a *Actor) Parent() ActorID { return a.parent }

// Logger returns the actor's logger: every record carries the actor's
// name and uid as the attributes "actor" and "uid", and goes, at the level
// set with [LogLevel], to the handler given with [LogHandler] or the
// output given with [LogOutput].
func (a *Actor) Logger() *slog.Logger { return a.logger() }

// logger returns the actor's logger, making it on first use.
func (a *Actor) logger() *slog.Logger {
	if l := a.log.Load(); l != nil {
		return l
	}
	l := slog.New(a.cfg.handler().WithAttrs([]slog.Attr{
		slog.String("actor", a.id.Name), slog.String("uid", a.id.UID)}))
	if a.log.CompareAndSwap(nil, l) {
		return l
	}
	return a.log.Load()
}

// debug returns the logger for a debug record, or nil when the actor's
// level leaves debug records out: without making the logger, so that an
// actor's routine steps cost nothing in a quiet tree. A caller writes
//
//	if l := a.debug(); l != nil {
//		l.Debug("...", ...)
//	}
//
// so that not even the attributes are built when nothing is logged.
func (a *Actor) debug() *slog.Logger {
	if a.cfg.logLevel > slog.LevelDebug {
		return nil
	}
	return a.logger()
}

// maxScannedEndpoints is how many exposed endpoints an actor looks up by
// scanning them, without a map: a map costs an idle actor a few hundred
// bytes, and finding one of a few names by comparing them is as fast.
const maxScannedEndpoints = 8

// exposes says whether the actor serves the endpoint named name, and
// returns it.
func (a *Actor) exposes(name string) (Endpoint, bool) {
	if a.exposed != nil {
		if ep, ok := a.exposed[name]; ok {
			return ep, true
		}
		return builtin(name)
	}
	for _, ep := range a.cfg.expose {
		if ep.Name() == name {
			return ep, true
		}
	}
	return builtin(name)
}

// CancelSoon starts the actor's cancellation and returns at once, so it can
// be called from synchronous code (a callback, a signal handler, a
// debugger). Every task of the actor is cancelled, each with the actor
// itself as canceller, and the actor ends once they have returned.
func (a *Actor) CancelSoon() {
	a.cancelBy(a.id, "CancelSoon")
}

// cancelBy cancels the actor on behalf of the actor by.
func (a *Actor) cancelBy(by ActorID, reason string) {
	if l := a.debug(); l != nil {
		l.Debug("actor cancel requested", slog.String("by", by.String()), slog.String("reason", reason))
	}
	a.cancel(&cancelCause{by: by, reason: reason})
	a.startWindDown()
}

// startWindDown winds a cancelled actor that serves a parent down, from a
// goroutine of its own, unless that has begun.
func (a *Actor) startWindDown() {
	if a.ended.Load() != nil && a.windingDown.CompareAndSwap(false, true) {
		go a.windDown()
	}
}

// lookup resolves an endpoint a peer asked for, checking that this actor
// exposes it.
func (a *Actor) lookup(name string) (Endpoint, error) {
	if ep, ok := a.exposes(name); ok {
		return ep, nil
	}
	if _, ok := lookupEndpoint(name); !ok {
		return nil, &endpointError{name: name, actor: a.id, err: ErrUnknownEndpoint}
	}
	return nil, &endpointError{name: name, actor: a.id, err: ErrNotExposed}
}

// endpointError names the endpoint and the actor a lookup failed in.
type endpointError struct {
	name  string
	actor ActorID
	err   error
}

func (e *endpointError) Error() string {
	return "endpoint " + `"` + e.name + `"` + " in actor " + e.actor.String() + ": " + e.err.Error()
}

func (e *endpointError) Unwrap() error { return e.err }

// linkParent makes conn the actor's connection to its parent, which
// serveParent serves; parentActor is the parent itself if it lives in this
// process, else nil. It is made before the actor runs: a call from a
// parent in this process runs inline, and may come first.
func (a *Actor) linkParent(conn transport.Conn, parent ActorID, parentActor *Actor) *session {
	ch := newSession(a, parent, conn, false)
	ch.peerActor = parentActor
	a.toParent.Store(ch)
	return ch
}

// serveParent serves the actor's parent over its connection until the
// actor is cancelled or the parent goes away, then winds down (see
// watchParent). A process child runs it, and exits once it returns.
func (a *Actor) serveParent(ch *session) {
	var wg, ended sync.WaitGroup
	ended.Add(1)
	a.watchParent(ch, &wg, &ended)
	ended.Wait()
	wg.Wait()
}

// watchParent serves the actor's parent over ch, from a goroutine of wg
// if its connection needs a reader, and arranges for the actor to wind
// down, then call ended.Done, once it is cancelled or the parent goes
// away. An idle goroutine actor thus costs no goroutine.
//
// Winding down: every task returns (each cancelled through its ctx), the
// actor leaves the registry, and the connection closes, which is how the
// parent learns the actor has ended. An actor that ends because it was
// cancelled (by its parent, or by itself with CancelSoon) says so in its
// last message, a stop for dialog 0: its nursery takes an end without it
// for a death.
func (a *Actor) watchParent(ch *session, wg, ended *sync.WaitGroup) {
	ch.onGone(a.parentGone)
	a.ended.Store(ended)
	if a.ctx.Err() != nil {
		a.startWindDown() // cancelled already, before it could start it
	}
	ch.start(wg)
}

// parentGone cancels the actor once the connection to its parent has
// ended, unless the actor ended it.
func (a *Actor) parentGone() {
	if a.ctx.Err() == nil {
		a.lostParent.Store(true)
		a.cancelBy(a.id, "parent connection lost")
	}
}

// windDown ends a cancelled actor that serves a parent (see watchParent).
func (a *Actor) windDown() {
	ch := a.toParent.Load()
	ch.drain()
	a.inline.closeAndWait()
	a.unregister()
	a.closePeers()
	a.end()
	if !a.lostParent.Load() {
		ch.sendStop()
	}
	ch.close()
	a.ended.Load().Done()
}

// cancelHere cancels the actor on behalf of by and, if nothing of it
// runs and the registrar is in this process (so that nothing of the
// wind-down waits), winds it down on the calling goroutine rather than in
// one the cancellation would start: an idle actor then ends at the cost
// of a function call. With a task running (maybe the caller's own goroutine
// is in one, or waits for one) the wind-down, which waits for them, runs
// from the cancellation as always.
func (a *Actor) cancelHere(by ActorID, reason string) {
	here := a.ended.Load() != nil && a.node.dir.inProcess() && a.idle() && a.windingDown.CompareAndSwap(false, true)
	a.cancelBy(by, reason)
	if here {
		a.windDown()
	}
}

// idle says whether no task of the actor runs: no inline task, no dialog
// with its parent or a peer.
func (a *Actor) idle() bool {
	if a.inline.n.Load() != 0 {
		return false
	}
	if up := a.toParent.Load(); up == nil || !up.quiet() {
		return false
	}
	a.peerMu.Lock()
	defer a.peerMu.Unlock()
	return len(a.peers) == 0
}
