package tractor

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// registry is the root actor's record of the live actors of its tree. Every
// actor adds itself when it starts and removes itself when it ends.
type registry struct {
	mu     sync.Mutex
	actors map[string]ActorID // by UID
}

func newRegistry() *registry { return &registry{actors: make(map[string]ActorID)} }

func (r *registry) add(id ActorID) {
	r.mu.Lock()
	r.actors[id.UID] = id
	r.mu.Unlock()
}

func (r *registry) remove(id ActorID) {
	r.mu.Lock()
	delete(r.actors, id.UID)
	r.mu.Unlock()
}

func (r *registry) list() []ActorID {
	r.mu.Lock()
	out := make([]ActorID, 0, len(r.actors))
	for _, id := range r.actors {
		out = append(out, id)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b ActorID) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.UID, b.UID)
	})
	return out
}

// LiveActors returns the actors of the current tree that have started and
// not yet ended, the root included, sorted by name. It returns nil outside
// [Run].
func LiveActors(ctx context.Context) []ActorID {
	a := CurrentActor(ctx)
	if a == nil {
		return nil
	}
	return a.reg.list()
}
