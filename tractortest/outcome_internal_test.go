package tractortest

import (
	"context"
	"errors"
	"testing"

	"github.com/tractor-go/tractor"
)

// TestCheckOutcome: the outcomes a dialog may and may not end with, by
// the runtime's semantics, for a worker live or ended and a caller that
// cancelled or not.
func TestCheckOutcome(t *testing.T) {
	worker := tractor.ActorID{Name: "worker-1", UID: "w1"}
	root := tractor.ActorID{Name: "root", UID: "r"}
	remote := func(code string, canceller tractor.ActorID, path ...tractor.ActorID) error {
		return &tractor.RemoteError{Actor: path[0], RelayPath: path, Code: code, Canceller: canceller, Message: code}
	}
	live := context.Background()
	cancelled, cancel := context.WithCancel(live)
	cancel()
	for _, c := range []struct {
		name  string
		ctx   context.Context
		ended bool
		err   error
		ok    bool
	}{
		{"endpoint error", live, false, remote("", tractor.ActorID{}, worker), true},
		{"panic", live, false, remote("panic", tractor.ActorID{}, worker), true},
		{"relayed from a grandchild", live, false, remote("", tractor.ActorID{}, root, worker), true},
		{"callee cancels itself", live, false, remote("context_cancelled", worker, worker), true},
		{"own cancellation, bare", cancelled, false, tractor.ErrContextCancelled, true},
		{"own cancellation, ctx's error", cancelled, false, context.Canceled, true},
		{"own cancellation, task's ctx error", cancelled, false, remote("canceled", tractor.ActorID{}, worker), true},
		{"ended worker gone", live, true, remote("actor_gone", tractor.ActorID{}, worker), true},

		{"not a RemoteError", live, false, errors.New("x"), false},
		{"from another actor", live, false, remote("", tractor.ActorID{}, root), false},
		{"empty relay path", live, false, &tractor.RemoteError{Actor: worker}, false},
		{"live worker gone", live, false, remote("actor_gone", tractor.ActorID{}, worker), false},
		{"live worker lacks the endpoint", live, false, remote("not_exposed", tractor.ActorID{}, worker), false},
		{"live worker does not know the endpoint", live, false, remote("unknown_endpoint", tractor.ActorID{}, worker), false},
		{"cancelled by nobody who asked", live, false, remote("context_cancelled", root, worker), false},
		{"ended worker, endpoint error", live, true, remote("", tractor.ActorID{}, worker), false},
		{"ended worker, cancelled", live, true, remote("context_cancelled", worker, worker), false},
	} {
		err := checkOutcome(c.ctx, worker, c.ended, c.err)
		if (err == nil) != c.ok {
			t.Errorf("%s: checkOutcome(%v) = %v; want ok %v", c.name, c.err, err, c.ok)
		}
	}
}
