package tractor

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// ActorInfo is what the registrar knows of a live actor: who it is, how it
// is hosted, and where its process accepts peers.
type ActorInfo struct {
	ID     ActorID
	Parent ActorID // zero for a root
	// Hosting is how the actor runs: [Goroutine] for an actor living in
	// another actor's process, [Process] for a process actor and for the
	// root of a program.
	Hosting Hosting
	PID     int
	// Addr is the host:port of the listener of the actor's process, where
	// peers that found it connect.
	Addr string
}

// registrar is the tree's directory of live actors (tractor's arbiter). The
// root of the first program serves it; every actor is registered when it
// starts and unregistered when it ends. Entries registered over a
// connection disappear with that connection, so a program that dies without
// unregistering leaves nothing stale behind; the rest is purged when a peer
// finds an entry unreachable and the registrar, checking, does too.
type registrar struct {
	mu      sync.Mutex
	seq     uint64
	entries map[string]regEntry   // by uid
	byName  map[string]*list.List // uids, in the order they registered
	changed chan struct{}         // closed at the next registration; made when a lookup asks for it
	sources map[*session]map[string]bool
}

type regEntry struct {
	info   ActorInfo
	seq    uint64
	source *session // the connection it was registered over; nil if local
	// named is the entry's place among the actors of its name, so that
	// removing one of many same-named actors (a million one-shot workers
	// called "sky") takes constant time, not a scan of its namesakes.
	named *list.Element
}

func newRegistrar() *registrar {
	return &registrar{
		entries: make(map[string]regEntry),
		byName:  make(map[string]*list.List),
		sources: make(map[*session]map[string]bool),
	}
}

// add records info, registered over source (nil for an actor of the
// registrar's own process).
func (r *registrar) add(info ActorInfo, source *session) {
	r.mu.Lock()
	if old, ok := r.entries[info.ID.UID]; ok {
		r.removeLocked(old.info.ID.UID)
	}
	r.seq++
	named := r.byName[info.ID.Name]
	if named == nil {
		named = list.New()
		r.byName[info.ID.Name] = named
	}
	r.entries[info.ID.UID] = regEntry{info: info, seq: r.seq, source: source, named: named.PushBack(info.ID.UID)}
	watch := false
	if source != nil {
		set := r.sources[source]
		if set == nil {
			set = make(map[string]bool)
			r.sources[source] = set
			watch = true
		}
		set[info.ID.UID] = true
	}
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
	r.mu.Unlock()
	if watch {
		source.onGone(func() { r.purgeSource(source) })
	}
}

func (r *registrar) remove(uid string) {
	r.mu.Lock()
	r.removeLocked(uid)
	r.mu.Unlock()
}

func (r *registrar) removeLocked(uid string) {
	e, ok := r.entries[uid]
	if !ok {
		return
	}
	delete(r.entries, uid)
	name := e.info.ID.Name
	if named := r.byName[name]; named != nil {
		named.Remove(e.named)
		if named.Len() == 0 {
			delete(r.byName, name)
		}
	}
	if e.source != nil {
		delete(r.sources[e.source], uid)
	}
}

// purgeSource forgets every actor registered over a connection that ended.
func (r *registrar) purgeSource(source *session) {
	r.mu.Lock()
	for uid := range r.sources[source] {
		r.removeLocked(uid)
	}
	delete(r.sources, source)
	r.mu.Unlock()
}

// lookup returns the actors named name, oldest first, and a channel closed
// at the next registration.
func (r *registrar) lookup(name string) ([]ActorInfo, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	named := r.byName[name]
	if named == nil {
		return nil, r.changed
	}
	out := make([]ActorInfo, 0, named.Len())
	for el := named.Front(); el != nil; el = el.Next() {
		out = append(out, r.entries[el.Value.(string)].info)
	}
	return out, r.changed
}

// wait returns the actors named name once there is at least one.
func (r *registrar) wait(ctx context.Context, name string) ([]ActorInfo, error) {
	for {
		infos, changed := r.lookup(name)
		if len(infos) > 0 {
			return infos, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// verify checks, from the registrar's own process, an entry a peer could
// not reach, and purges it only if the registrar cannot reach it either
// (nothing listens there, or the process no longer hosts the actor): one
// peer's broken route must not hide a live actor from everyone. It says
// whether the entry was purged.
func (r *registrar) verify(ctx context.Context, self *Actor, info ActorInfo) bool {
	r.mu.Lock()
	_, known := r.entries[info.ID.UID]
	r.mu.Unlock()
	if !known {
		return true
	}
	var err error
	if self.node.local(info.Addr) {
		// This process's own: reachable while it hosts it.
		if self.node.actor(info.ID.UID) == nil {
			err = self.node.noSuchActor(info.ID.UID)
		}
	} else {
		var conn transport.Conn
		if conn, _, err = self.node.dialPeer(ctx, self, info.Addr, info.ID.UID); err == nil {
			conn.Close()
		}
	}
	if err == nil {
		return false
	}
	if !errors.Is(err, transport.ErrNoListener) && !errors.Is(err, errNoSuchActor) {
		return false
	}
	if l := self.debug(); l != nil {
		l.Debug("registrar: purging an actor nobody can reach", slog.Any("err", err), slog.String("peer", info.ID.String()))
	}
	r.remove(info.ID.UID)
	return true
}

// list returns every entry, sorted by name, then by registration.
func (r *registrar) list() []ActorInfo {
	r.mu.Lock()
	es := make([]regEntry, 0, len(r.entries))
	for _, e := range r.entries {
		es = append(es, e)
	}
	r.mu.Unlock()
	slices.SortFunc(es, func(a, b regEntry) int {
		if c := strings.Compare(a.info.ID.Name, b.info.ID.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	out := make([]ActorInfo, len(es))
	for i, e := range es {
		out[i] = e.info
	}
	return out
}

// The registrar's endpoints, served by the root that hosts it to the
// processes that joined it.
var (
	regAdd = Func("tractor.registrar.register", func(ctx context.Context, info ActorInfo) (bool, error) {
		r, source, err := servedRegistrar(ctx)
		if err != nil {
			return false, err
		}
		if source != nil && info.Addr == "" {
			// "" marks an actor of the registrar's own process (see
			// node.local): another process's would be taken for one.
			return false, errorf("tractor: register actor %s from %s: empty Addr: %w", info.ID, source.peer, ErrBadArgument)
		}
		r.add(info, source)
		return true, nil
	})
	regRemove = Func("tractor.registrar.unregister", func(ctx context.Context, uid string) (bool, error) {
		r, _, err := servedRegistrar(ctx)
		if err != nil {
			return false, err
		}
		r.remove(uid)
		return true, nil
	})
	regFind = Func("tractor.registrar.find", func(ctx context.Context, name string) ([]ActorInfo, error) {
		r, _, err := servedRegistrar(ctx)
		if err != nil {
			return nil, err
		}
		infos, _ := r.lookup(name)
		return CurrentActor(ctx).node.resolveAll(infos), nil
	})
	regWait = Func("tractor.registrar.wait", func(ctx context.Context, name string) ([]ActorInfo, error) {
		r, _, err := servedRegistrar(ctx)
		if err != nil {
			return nil, err
		}
		infos, err := r.wait(ctx, name)
		return CurrentActor(ctx).node.resolveAll(infos), err
	})
	regSuspect = Func("tractor.registrar.suspect", func(ctx context.Context, info ActorInfo) (bool, error) {
		r, _, err := servedRegistrar(ctx)
		if err != nil {
			return false, err
		}
		return r.verify(ctx, CurrentActor(ctx), info), nil
	})
	regList = Func("tractor.registrar.list", func(ctx context.Context, _ bool) ([]ActorInfo, error) {
		r, _, err := servedRegistrar(ctx)
		if err != nil {
			return nil, err
		}
		return CurrentActor(ctx).node.resolveAll(r.list()), nil
	})
)

// registrarEndpoints are exposed by a root that serves the registrar.
var registrarEndpoints = []Endpoint{regAdd, regRemove, regFind, regWait, regSuspect, regList}

// servedRegistrar returns the registrar the task's actor serves, and the
// connection the task's call came over (nil for a call from this process,
// which runs inline: its actors leave the registrar as they end).
func servedRegistrar(ctx context.Context) (*registrar, *session, error) {
	a := CurrentActor(ctx)
	if a == nil || a.node.served == nil {
		return nil, nil, errorf("tractor: this actor does not serve the registrar: %w", ErrMisuse)
	}
	var source *session
	if c, ok := ctx.(*Context); ok {
		source = c.d.ch
	}
	return a.node.served, source, nil
}

// directory is how a process reaches the registrar: directly if it serves
// it, through a peer connection of its main actor otherwise.
type directory interface {
	register(ctx context.Context, info ActorInfo) error
	unregister(ctx context.Context, uid string) error
	// suspect reports an entry a peer could not reach; the registrar
	// purges it if it cannot reach it either, and says whether it did.
	suspect(ctx context.Context, info ActorInfo) (bool, error)
	find(ctx context.Context, name string) ([]ActorInfo, error)
	wait(ctx context.Context, name string) ([]ActorInfo, error)
	list(ctx context.Context) ([]ActorInfo, error)
	// ref says where the registrar is, for a process actor to reach it.
	ref() registrarRef
	// inProcess says whether this process serves the registrar: then
	// every call is a map's work, answered at once, which no ctx bounds.
	inProcess() bool
}

// localDirectory is the registrar of this very process.
type localDirectory struct {
	r    *registrar
	at   registrarRef
	node *node
}

func (d localDirectory) suspect(ctx context.Context, info ActorInfo) (bool, error) {
	return d.r.verify(ctx, d.node.main(), info), nil
}

func (d localDirectory) ref() registrarRef { return d.at }
func (localDirectory) inProcess() bool     { return true }

func (d localDirectory) register(_ context.Context, info ActorInfo) error {
	d.r.add(info, nil)
	return nil
}

func (d localDirectory) unregister(_ context.Context, uid string) error {
	d.r.remove(uid)
	return nil
}

func (d localDirectory) find(_ context.Context, name string) ([]ActorInfo, error) {
	infos, _ := d.r.lookup(name)
	return infos, nil
}

func (d localDirectory) wait(ctx context.Context, name string) ([]ActorInfo, error) {
	return d.r.wait(ctx, name)
}

// list hands the entries out, to [Actors]: with this process's address.
func (d localDirectory) list(context.Context) ([]ActorInfo, error) {
	return d.node.resolveAll(d.r.list()), nil
}

// remoteDirectory reaches the registrar of another process, over a peer
// connection of the node's main actor.
type remoteDirectory struct {
	node *node

	mu   sync.Mutex
	at   registrarRef         // its UID is learned on the first connection
	mine map[string]ActorInfo // registered from this process, not since unregistered
	conn *session             // the connection to the registrar last used
}

// reconnectBackoff bounds the pause between attempts to reach a registrar
// whose connection was lost.
const reconnectBackoff = 5 * time.Second

func (*remoteDirectory) inProcess() bool { return false }

func (d *remoteDirectory) ref() registrarRef {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.at
}

// registrarRef says where the registrar is: the address of its process and
// the uid of the actor serving it ("" until a joining program learns it).
type registrarRef struct {
	Addr string
	UID  string
}

// portal returns a portal to the registrar over the main actor's
// connection. On a new connection after a lost one, it first registers
// again what this process had registered: the registrar forgot it with
// the old connection.
func (d *remoteDirectory) portal(ctx context.Context) (*Portal, error) {
	at := d.ref()
	p, err := d.node.main().dial(ctx, at.Addr, at.UID)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %w", ErrRegistrar, at.Addr, err)
	}
	d.mu.Lock()
	if at.UID == "" {
		d.at.UID = p.Actor().UID
	}
	fresh, again := p.ch != d.conn, d.conn != nil
	if fresh {
		d.conn = p.ch
	}
	var redo []ActorInfo
	if fresh && again {
		for _, info := range d.mine {
			redo = append(redo, info)
		}
	}
	d.mu.Unlock()
	if fresh {
		p.ch.onGone(func() { d.lost(p.ch) })
	}
	if len(redo) > 0 {
		err := detached(ctx, p, func(ctx context.Context) error {
			for _, info := range redo {
				if err := d.add(ctx, p, info); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%w at %s: registering again: %w", ErrRegistrar, at.Addr, err)
		}
	}
	return p, nil
}

// lost starts reconnecting once the connection to the registrar ends while
// the process goes on, so its actors are found again without waiting for
// it to need the registrar.
func (d *remoteDirectory) lost(ch *session) {
	a := d.node.main()
	if a == nil || a.ctx.Err() != nil {
		return // the process is ending
	}
	d.node.spawn(func() {
		reconnect(a.ctx, func(ctx context.Context) error {
			_, err := d.portal(ctx)
			return err
		})
	})
}

// reconnect calls try until it succeeds or ctx ends, pausing before each
// call: 50 ms first, then twice the last pause, up to reconnectBackoff.
func reconnect(ctx context.Context, try func(context.Context) error) {
	pause := 50 * time.Millisecond
	for {
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		if try(ctx) == nil {
			return
		}
		pause = min(2*pause, reconnectBackoff)
	}
}

// remoteCall calls ep in the registrar. A call the registrar could not
// answer because it went away (its connection was lost, or it cancelled
// the call as it ended) fails with [ErrRegistrar], like one that could not
// reach it.
func remoteCall[A, R any](ctx context.Context, d *remoteDirectory, ep *FuncEndpoint[A, R], arg A) (R, error) {
	p, err := d.portal(ctx)
	if err != nil {
		var zero R
		return zero, err
	}
	r, err := ep.Call(ctx, p, arg)
	return r, d.lostErr(ctx, err)
}

// lostErr makes a call's failure because the registrar went away match
// [ErrRegistrar].
func (d *remoteDirectory) lostErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() == nil && (errors.Is(err, ErrActorGone) || errors.Is(err, ErrContextCancelled)) {
		err = fmt.Errorf("%w at %s: %w", ErrRegistrar, d.ref().Addr, err)
	}
	return err
}

// detached makes call, a request to the registrar through p, detached
// (see [session.detach]): it is made whatever ctx, which bounds only the
// wait for it. Registrations and their ends go so: one dropped because a
// deadline expired on a loaded machine would leave an actor unlisted, or
// listed after it ended. p is a wire connection (the registrar is another
// process's actor), so call runs in a goroutine of its own.
func detached(ctx context.Context, p *Portal, call func(ctx context.Context) error) error {
	var err error
	done := p.ch.detach(func(ctx context.Context) { err = call(ctx) })
	select {
	case <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// add registers info through p. The registrar runs each call as a task of
// its own, so an unregistration made meanwhile may have overtaken it: then
// it unregisters again, and no entry outlives its actor.
func (d *remoteDirectory) add(ctx context.Context, p *Portal, info ActorInfo) error {
	if _, err := regAdd.Call(ctx, p, info); err != nil {
		return err
	}
	d.mu.Lock()
	_, mine := d.mine[info.ID.UID]
	d.mu.Unlock()
	if !mine {
		_, err := regRemove.Call(ctx, p, info.ID.UID)
		return err
	}
	return nil
}

func (d *remoteDirectory) register(ctx context.Context, info ActorInfo) error {
	d.remember(info.ID.UID, &info)
	p, err := d.portal(ctx)
	if err != nil {
		return err
	}
	return d.lostErr(ctx, detached(ctx, p, func(ctx context.Context) error { return d.add(ctx, p, info) }))
}

func (d *remoteDirectory) unregister(ctx context.Context, uid string) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout) // an actor's end waits no longer for it
	defer cancel()
	d.remember(uid, nil)
	p, err := d.portal(ctx)
	if err != nil {
		return err
	}
	return d.lostErr(ctx, detached(ctx, p, func(ctx context.Context) error {
		_, err := regRemove.Call(ctx, p, uid)
		return err
	}))
}

// remember records a registration (info) or its end (nil), to be made
// again on a new connection.
func (d *remoteDirectory) remember(uid string, info *ActorInfo) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if info == nil {
		delete(d.mine, uid)
		return
	}
	if d.mine == nil {
		d.mine = make(map[string]ActorInfo)
	}
	d.mine[uid] = *info
}

func (d *remoteDirectory) suspect(ctx context.Context, info ActorInfo) (bool, error) {
	return remoteCall(ctx, d, regSuspect, info)
}

func (d *remoteDirectory) find(ctx context.Context, name string) ([]ActorInfo, error) {
	return remoteCall(ctx, d, regFind, name)
}

func (d *remoteDirectory) wait(ctx context.Context, name string) ([]ActorInfo, error) {
	return remoteCall(ctx, d, regWait, name)
}

func (d *remoteDirectory) list(ctx context.Context) ([]ActorInfo, error) {
	return remoteCall(ctx, d, regList, true)
}
