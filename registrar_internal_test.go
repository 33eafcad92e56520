package tractor

import (
	"fmt"
	"testing"
)

// TestRegistrarNamesakes: actors of one name are found oldest first, and
// removing any of them, first, middle or last, leaves the others in order.
func TestRegistrarNamesakes(t *testing.T) {
	r := newRegistrar()
	ids := make([]ActorID, 5)
	for i := range ids {
		ids[i] = newActorID("sky")
		r.add(ActorInfo{ID: ids[i]}, nil)
	}
	r.add(ActorInfo{ID: newActorID("other")}, nil)
	for _, drop := range []int{2, 0, 4} {
		r.remove(ids[drop].UID)
	}
	r.remove(ids[2].UID) // twice: nothing happens
	got, _ := r.lookup("sky")
	if len(got) != 2 || got[0].ID != ids[1] || got[1].ID != ids[3] {
		t.Fatalf("lookup(sky) = %v, want [%v %v]", got, ids[1], ids[3])
	}
	r.remove(ids[1].UID)
	r.remove(ids[3].UID)
	if got, _ := r.lookup("sky"); len(got) != 0 {
		t.Fatalf("lookup(sky) after removing all = %v", got)
	}
	if _, ok := r.byName["sky"]; ok {
		t.Fatal("an empty name is still indexed")
	}
	if got, _ := r.lookup("other"); len(got) != 1 {
		t.Fatalf("lookup(other) = %v", got)
	}
}

// BenchmarkRegistrarNamesakes registers and removes one actor while n
// actors of the same name are registered, as a tree of many same-named
// one-shot actors does at every start and end. It should not grow with n.
// The baseline is the same add and delete on a plain map.
func BenchmarkRegistrarNamesakes(b *testing.B) {
	for _, n := range []int{10, 10_000, 100_000} {
		b.Run(fmt.Sprintf("baseline=map/namesakes=%d", n), func(b *testing.B) {
			m := make(map[string]ActorInfo, n+1)
			for range n {
				id := newActorID("sky")
				m[id.UID] = ActorInfo{ID: id}
			}
			id := newActorID("sky")
			for b.Loop() {
				m[id.UID] = ActorInfo{ID: id}
				delete(m, id.UID)
			}
		})
		b.Run(fmt.Sprintf("tractor=registrar/namesakes=%d", n), func(b *testing.B) {
			r := newRegistrar()
			for range n {
				r.add(ActorInfo{ID: newActorID("sky")}, nil)
			}
			id := newActorID("sky")
			for b.Loop() {
				r.add(ActorInfo{ID: id}, nil)
				r.remove(id.UID)
			}
		})
	}
}
