package tractor

import (
	"context"
	"errors"
	"fmt"

	"github.com/tractor-go/tractor/transport"
)

// FindActor returns a portal to a live actor named name, found through the
// tree's registrar (tractor's find_actor); with several of that name, the
// one registered first that can be reached. The portal connects straight
// to the actor, never through its parent: in memory if it lives in this
// process, over its process's listener otherwise. Dialogs through it have
// the same semantics as through a nursery's portal. The connection belongs
// to the calling actor, which reuses it for later lookups and closes it
// when it ends.
//
// With no such actor registered, the error matches [ErrActorNotFound]; an
// entry that neither this actor nor the registrar can reach is purged. If
// the registrar cannot be reached, the error matches [ErrRegistrar].
func FindActor(ctx context.Context, name string) (*Portal, error) {
	mustCtx("FindActor", ctx)
	a := CurrentActor(ctx)
	if a == nil {
		return nil, ErrNoActor
	}
	infos, err := a.node.dir.find(ctx, name)
	if err != nil {
		return nil, errorf("tractor: find actor %q: %w", name, err)
	}
	p, _, err := a.reach(ctx, infos)
	if err != nil {
		return nil, errorf("tractor: find actor %q: %w", name, err)
	}
	return p, nil
}

// WaitForActor is [FindActor] that waits, until ctx ends, for an actor
// named name to register (tractor's wait_for_actor).
func WaitForActor(ctx context.Context, name string) (*Portal, error) {
	mustCtx("WaitForActor", ctx)
	a := CurrentActor(ctx)
	if a == nil {
		return nil, ErrNoActor
	}
	for {
		infos, err := a.node.dir.wait(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, errorf("tractor: wait for actor %q: %w", name, err)
		}
		p, stale, err := a.reach(ctx, infos)
		if err == nil {
			return p, nil
		}
		if !stale {
			return nil, errorf("tractor: wait for actor %q: %w", name, err)
		}
		// Every entry was stale, and is purged now: wait again.
	}
}

// Actors returns every actor the registrar knows: those of this tree and of
// the programs that joined it, sorted by name, then by age.
func Actors(ctx context.Context) ([]ActorInfo, error) {
	mustCtx("Actors", ctx)
	a := CurrentActor(ctx)
	if a == nil {
		return nil, ErrNoActor
	}
	infos, err := a.node.dir.list(ctx)
	if err != nil {
		return nil, errorf("tractor: list actors: %w", err)
	}
	return infos, nil
}

// reach connects a to the first of infos it can reach, purging from the
// registrar those it finds gone too. stale says every entry was purged
// (or there were none).
func (a *Actor) reach(ctx context.Context, infos []ActorInfo) (p *Portal, stale bool, err error) {
	var errs []error
	stale = true
	for _, info := range infos {
		p, err := a.dial(ctx, info.Addr, info.ID.UID)
		if err == nil {
			p.info = &info // the registrar's entry: its parent too
			return p, false, nil
		}
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		errs = append(errs, fmt.Errorf("actor %s at %s: %w", info.ID, info.Addr, err))
		purged := false
		if errors.Is(err, transport.ErrNoListener) || errors.Is(err, errNoSuchActor) {
			// The registrar checks for itself before it purges.
			purged, _ = a.node.dir.suspect(ctx, info)
		}
		if !purged {
			stale = false
		}
	}
	if len(errs) == 0 {
		return nil, true, ErrActorNotFound
	}
	return nil, stale, fmt.Errorf("%w: %w", ErrActorNotFound, errors.Join(errs...))
}
