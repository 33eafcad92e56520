package tractortest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
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
		{"live worker's protocol error", live, false, &tractor.RemoteError{Actor: worker, RelayPath: []tractor.ActorID{worker}, Type: "tractor.ProtocolError"}, false},
		{"ended worker, endpoint error", live, true, remote("", tractor.ActorID{}, worker), false},
		{"ended worker, cancelled", live, true, remote("context_cancelled", worker, worker), false},
	} {
		err := checkOutcome(c.ctx, worker, c.ended, c.err)
		if (err == nil) != c.ok {
			t.Errorf("%s: checkOutcome(%v) = %v; want ok %v", c.name, c.err, err, c.ok)
		}
	}
}

// TestCheckHostile: the outcomes a dialog that carried a hostile payload
// may and may not end with, over a wire or between goroutines, for a
// worker live or ended.
func TestCheckHostile(t *testing.T) {
	worker := tractor.ActorID{Name: "worker-1", UID: "w1"}
	at := func(name string) position {
		for _, p := range positions {
			if p.name == name {
				return p
			}
		}
		t.Fatalf("no position %q", name)
		return position{}
	}
	// refusedBy is the callee's refusal of its message, as its caller gets it.
	refusedBy := func(code, endpoint string) error {
		msg := fmt.Sprintf("tractor: result of endpoint %q not sent to actor root[r]: %s", endpoint, code)
		return &tractor.RemoteError{Actor: worker, RelayPath: []tractor.ActorID{worker}, Code: code, Message: msg}
	}
	// refusedHere is the caller's own refusal of its message.
	refusedHere := func(sentinel, transportErr error, endpoint string, actor tractor.ActorID, pad int) error {
		return fmt.Errorf("tractor: a message of endpoint %q not sent to actor %s%s: %w: %w",
			endpoint, actor, strings.Repeat(" ", pad), sentinel, transportErr)
	}
	gone := &tractor.RemoteError{Actor: worker, RelayPath: []tractor.ActorID{worker}, Code: "actor_gone", Message: "connection lost"}
	failed := &tractor.RemoteError{Actor: worker, RelayPath: []tractor.ActorID{worker}, Message: "boom"}
	live := context.Background()
	cancelled, cancel := context.WithCancel(live)
	cancel()
	call, toCallee := hostileCall.Name(), hostileCtx.Name()
	for _, c := range []struct {
		name        string
		ctx         context.Context
		wire, ended bool
		pos, kind   string
		n           int
		err         error
		ok          bool
	}{
		{"result refused by the callee", live, true, false, "result", compressible, 0, refusedBy("message_too_large", call), true},
		{"unencodable result refused by the callee", live, true, false, "result", unencodableChan, 0, refusedBy("unencodable", call), true},
		{"argument refused by the caller", live, true, false, "argument", oversized, 0, refusedHere(tractor.ErrMessageTooLarge, transport.ErrFrameTooLarge, call, worker, 0), true},
		{"stream item refused by the caller", live, true, false, "stream item to the callee", unencodableFunc, 0, refusedHere(tractor.ErrUnencodable, transport.ErrEncode, toCallee, worker, 0), true},
		{"delivered between goroutines", live, false, false, "result", compressible, compressibleLen, nil, true},
		{"error text delivered between goroutines", live, false, false, "error", oversized, oversizedLen, failed, true},
		{"own cancellation", cancelled, true, false, "result", compressible, 0, tractor.ErrContextCancelled, true},
		{"ended worker gone", live, true, true, "result", compressible, 0, gone, true},
		{"ended worker, argument refused first", live, true, true, "argument", compressible, 0, refusedHere(tractor.ErrMessageTooLarge, transport.ErrFrameTooLarge, call, worker, 0), true},
		{"ended worker, argument, gone", live, true, true, "argument", compressible, 0, gone, true},

		{"result refused as a lost actor", live, true, false, "result", compressible, 0, gone, false},
		{"result delivered over a wire", live, true, false, "result", compressible, compressibleLen, nil, false},
		{"result hung up on", live, true, false, "result", compressible, 0, failed, false},
		{"wrong sentinel", live, true, false, "result", unencodableChan, 0, refusedBy("message_too_large", call), false},
		{"refusal not naming the endpoint", live, true, false, "stream item from the callee", compressible, 0, refusedBy("message_too_large", call), false},
		{"caller's refusal boxed as the callee's", live, true, false, "argument", oversized, 0, refusedBy("message_too_large", call), false},
		{"caller's refusal not naming the actor", live, true, false, "argument", oversized, 0, refusedHere(tractor.ErrMessageTooLarge, transport.ErrFrameTooLarge, call, tractor.ActorID{Name: "other"}, 0), false},
		{"payload leaked into the refusal", live, true, false, "argument", oversized, 0, refusedHere(tractor.ErrMessageTooLarge, transport.ErrFrameTooLarge, call, worker, 5000), false},
		{"refused item delivered all the same", live, true, false, "stream item to the callee", unencodableChan, 1, refusedHere(tractor.ErrUnencodable, transport.ErrEncode, toCallee, worker, 0), false},
		{"refused between goroutines", live, false, false, "result", compressible, 0, refusedBy("message_too_large", call), false},
		{"error text refused between goroutines", live, false, false, "error", compressible, 0, refusedBy("message_too_large", call), false},
		{"truncated between goroutines", live, false, false, "started value", compressible, 5, nil, false},
		{"stream item cut short between goroutines", live, false, false, "stream item to the callee", unencodableChan, 0, nil, false},
		{"ended worker answered", live, true, true, "result", compressible, 0, refusedBy("message_too_large", call), false},
		{"ended worker, item refused naming another endpoint", live, true, true, "stream item to the callee", compressible, 0, refusedHere(tractor.ErrMessageTooLarge, transport.ErrFrameTooLarge, call, worker, 0), false},
	} {
		err := checkHostile(c.ctx, worker, c.wire, c.ended, at(c.pos), c.kind, c.n, c.err)
		if (err == nil) != c.ok {
			t.Errorf("%s: checkHostile(%.200v) = %v; want ok %v", c.name, c.err, err, c.ok)
		}
	}
}
