package pubsub

import (
	"slices"
	"testing"
)

func drain(r *ring[int]) []int {
	var out []int
	for {
		v, ok := r.pop()
		if !ok {
			return out
		}
		out = append(out, v)
	}
}

func TestRing(t *testing.T) {
	r := ring[int]{max: 40}
	dropped := 0
	for i := range 100 {
		if old, ok := r.push(i); ok && old == i-40 {
			dropped++
		}
	}
	if dropped != 60 || r.len() != 40 || len(r.buf) != 40 {
		t.Fatalf("dropped %d, len %d, buffer %d", dropped, r.len(), len(r.buf))
	}
	r.keep(func(v int) bool { return v%2 == 0 })
	want := []int{}
	for v := 60; v < 100; v += 2 {
		want = append(want, v)
	}
	if got := drain(&r); !slices.Equal(got, want) {
		t.Fatalf("after keep: %v", got)
	}
	// Interleaved pushes and pops across the wrap keep the order.
	next, expect := 0, 0
	for range 30 {
		for range 3 {
			r.push(next)
			next++
		}
		for range 2 {
			v, _ := r.pop()
			if v != expect {
				t.Fatalf("popped %d, want %d", v, expect)
			}
			expect++
		}
	}
	if r.len() > 40 {
		t.Fatalf("len %d beyond max", r.len())
	}
}
