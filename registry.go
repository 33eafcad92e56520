package tractor

import (
	"context"
	"fmt"
)

// Registry is a directory of live actors that [Run] can use instead of the
// built-in registrar (see [UseRegistry]): a service the programs of a tree
// share, such as the NATS key-value registry of package natsreg, so that
// no program of the tree has to serve the others.
//
// Liveness is the implementation's: an entry lives while the program that
// registered it does, and disappears, in a bounded time, once that program
// has died without unregistering it (killed, or cut off). Methods are
// called concurrently.
type Registry interface {
	// Register records a live actor. info.Addr is where peers dial its
	// process; it is never empty.
	Register(ctx context.Context, info ActorInfo) error
	// Unregister removes the entry of the actor with that uid, if any.
	Unregister(ctx context.Context, uid string) error
	// Find returns the live entries of the actors named name, oldest
	// first; none is not an error.
	Find(ctx context.Context, name string) ([]ActorInfo, error)
	// Wait is Find that waits, until ctx ends, for at least one entry: it
	// watches for a registration rather than polls.
	Wait(ctx context.Context, name string) ([]ActorInfo, error)
	// List returns every live entry, sorted by name, then oldest first.
	List(ctx context.Context) ([]ActorInfo, error)
}

// UseRegistry makes [Run] keep its tree's directory in r instead of being
// the registrar of its tree or joining another's (see [Registrar], which
// it excludes): this program's actors register in r, and [FindActor],
// [WaitForActor] and [Actors] see every actor r holds, whichever program
// registered it. Actors are registered with the address of their
// process's listener, which opens at once (see [ListenAddr] for its host).
//
// A Registry holds connections, which cannot travel to a process actor:
// give the option to Run in main, which a process actor runs too, and the
// child uses its own, connected to the same registry. A process child
// whose parent uses a Registry refuses to start without one.
func UseRegistry(r Registry) Option {
	if r == nil {
		badOption("UseRegistry(nil)")
	}
	return optionFunc(func(c *config) { c.registry = r })
}

// registryDirectory is the directory of a process whose tree keeps its
// actors in a [Registry].
type registryDirectory struct {
	r    Registry
	node *node
}

// ref is empty: a process child reaches the registry by its own
// connection, not through this process.
func (registryDirectory) ref() registrarRef { return registrarRef{} }

// inProcess is false: every call is a request to a service, which ctx
// bounds.
func (registryDirectory) inProcess() bool { return false }

// register records info with the address a peer dials, opening this
// process's listener if it is not yet open: an entry without one could
// not be reached from another program.
func (d registryDirectory) register(ctx context.Context, info ActorInfo) error {
	if info.Addr == "" {
		addr, err := d.node.listen()
		if err != nil {
			return fmt.Errorf("%w: registering %s: %w", ErrRegistrar, info.ID, err)
		}
		info.Addr = addr
	}
	return d.wrap(d.r.Register(ctx, info))
}

// unregister is bounded like a remote registrar's: an actor's end waits
// no longer for it.
func (d registryDirectory) unregister(ctx context.Context, uid string) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	return d.wrap(d.r.Unregister(ctx, uid))
}

// suspect purges nothing: an entry one peer cannot reach may be reachable
// by others, and the Registry's own liveness removes the entries of a
// program that died.
func (registryDirectory) suspect(context.Context, ActorInfo) (bool, error) { return false, nil }

func (d registryDirectory) find(ctx context.Context, name string) ([]ActorInfo, error) {
	infos, err := d.r.Find(ctx, name)
	return infos, d.wrap(err)
}

func (d registryDirectory) wait(ctx context.Context, name string) ([]ActorInfo, error) {
	infos, err := d.r.Wait(ctx, name)
	return infos, d.wrap(err)
}

func (d registryDirectory) list(ctx context.Context) ([]ActorInfo, error) {
	infos, err := d.r.List(ctx)
	return infos, d.wrap(err)
}

// wrap makes a Registry's failure match [ErrRegistrar], as a built-in
// registrar's that cannot be reached does.
func (registryDirectory) wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrRegistrar, err)
}
