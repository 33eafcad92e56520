// Introspection: what every actor tells about itself, and how a program
// (the tractor command's ps among them) gathers it for the whole tree.

package tractor

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// ActorState is a live actor as [Inspect] saw it: its registrar entry and
// what it was running when asked.
type ActorState struct {
	ActorInfo
	// Started is when the actor started, by its host's clock.
	Started time.Time
	// Dialogs counts the dialogs open on the actor's connections, on
	// either side: those it called, and those that called it.
	Dialogs int
	// Tasks counts the tasks running in the actor: those its peers'
	// dialogs started, and the function calls that run inline on their
	// callers' goroutines.
	Tasks int
	// Err says why the actor could not be asked (it ended since it was
	// listed, or cannot be reached); the fields above ActorInfo's are
	// zero then.
	Err error
}

// actorStats is what an actor tells about itself over the wire.
type actorStats struct {
	Started time.Time
	Dialogs int
	Tasks   int
}

// stats reports what a runs now.
func (a *Actor) stats() actorStats {
	return actorStats{
		Started: a.started,
		Dialogs: int(a.dialogs.Load()),
		Tasks:   int(a.tasks.Load() + a.inline.n.Load()&^gateClosed),
	}
}

// introspect is served by every actor, whatever it exposes (see builtin):
// a tool that found an actor through the registrar asks it for its stats.
var introspect = Func("tractor.introspect", func(ctx context.Context, _ bool) (actorStats, error) {
	a := CurrentActor(ctx)
	if a == nil {
		return actorStats{}, ErrNoActor
	}
	s := a.stats()
	// Leave this very call out: the task it is, and the dialog it came
	// over unless it runs inline.
	s.Tasks--
	if _, ok := ctx.(*Context); ok {
		s.Dialogs--
	}
	return s, nil
})

// builtin returns the endpoint named name if every actor serves it
// without exposing it.
func builtin(name string) (Endpoint, bool) {
	if name == introspect.name {
		return introspect, true
	}
	return nil, false
}

// maxInspecting bounds the actors [Inspect] asks at once.
const maxInspecting = 16

// Inspect returns the state of every actor the registrar knows, in the
// order of [Actors] (by name, then by age): its entry, and what it runs
// now, asked of the actor itself over a direct connection (see
// [FindActor]), as ps does. An actor that cannot be asked (it ended since
// the registrar listed it, or its process cannot be reached) has its
// state's Err set; Inspect fails only if the registrar cannot list them.
func Inspect(ctx context.Context) ([]ActorState, error) {
	infos, err := Actors(ctx)
	if err != nil {
		return nil, err
	}
	a := CurrentActor(ctx)
	states := make([]ActorState, len(infos))
	sem := make(chan struct{}, maxInspecting)
	var wg sync.WaitGroup
	for i, info := range infos {
		states[i].ActorInfo = info
		if info.ID.UID == a.id.UID {
			states[i].fill(a.stats(), nil)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			states[i].fill(ask(ctx, a, info))
		})
	}
	wg.Wait()
	return states, nil
}

// ask asks the actor info for its stats, on behalf of a.
func ask(ctx context.Context, a *Actor, info ActorInfo) (actorStats, error) {
	p, err := a.dial(ctx, info.Addr, info.ID.UID)
	if err == nil {
		var s actorStats
		if s, err = introspect.Call(ctx, p, true); err == nil {
			return s, nil
		}
	}
	return actorStats{}, fmt.Errorf("tractor: inspect actor %s at %s: %w", info.ID, info.Addr, err)
}

func (s *ActorState) fill(st actorStats, err error) {
	s.Started, s.Dialogs, s.Tasks, s.Err = st.Started, st.Dialogs, st.Tasks, err
}
