package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// hugeLen is the size of the oversized payloads below: over the 16 MiB
// frame limit, as the report that found these failures used, and made of
// one repeated byte, so that it compresses to almost nothing.
const hugeLen = 20 << 20

// chanHolder cannot be encoded for the wire: it holds a chan.
type chanHolder struct{ C chan int }

// startedArg asks payloadStarted for a first value of N bytes; with Retry,
// a refused one is replaced by a small one.
type startedArg struct {
	N     int
	Retry bool
}

var (
	payloadLen = tractor.Func("test.payload.len", func(ctx context.Context, s string) (int, error) {
		return len(s), nil
	})
	payloadAnyArg = tractor.Func("test.payload.anyArg", func(ctx context.Context, v any) (int, error) {
		return 1, nil
	})
	payloadMake = tractor.Func("test.payload.make", func(ctx context.Context, n int) (string, error) {
		return strings.Repeat("r", n), nil
	})
	// payloadChanResult's result type is any: a chanHolder result type
	// would be refused when declared.
	payloadChanResult = tractor.Func("test.payload.chanResult", func(ctx context.Context, _ struct{}) (any, error) {
		return chanHolder{C: make(chan int)}, nil
	})
	payloadFail = tractor.Func("test.payload.fail", func(ctx context.Context, n int) (int, error) {
		return 0, errors.New(strings.Repeat("e", n))
	})
	// payloadStarted sends a first value of arg.N bytes and returns 1 if it
	// had to send a small one instead, 0 otherwise.
	payloadStarted = tractor.Ctx("test.payload.started", func(c *tractor.Context, arg startedArg) (int, error) {
		err := c.Started(strings.Repeat("s", arg.N))
		if err == nil {
			return 0, nil
		}
		if !arg.Retry || !errors.Is(err, tractor.ErrMessageTooLarge) {
			return 0, err
		}
		return 1, c.Started("small")
	})
	// payloadGen yields "a", then the bad item kind names, then "b", and
	// returns the error the bad item's yield gave, if any.
	payloadGen = tractor.Stream("test.payload.gen", func(ctx context.Context, kind string, yield func(any) error) error {
		if err := yield("a"); err != nil {
			return err
		}
		bad := badItem(kind)
		if err := yield(bad); err != nil {
			if err := yield("b"); err != nil {
				return err
			}
			return fmt.Errorf("yielding the %s item: %w", kind, err)
		}
		return yield("b")
	})
	// payloadSink counts the items its caller streams to it.
	payloadSink = tractor.Ctx("test.payload.sink", func(c *tractor.Context, _ struct{}) (int, error) {
		return receiveCount[any](c)
	})
)

// badItem is the payload a case names: "big" is over the frame limit,
// "chan" cannot be encoded.
func badItem(kind string) any {
	if kind == "big" {
		return strings.Repeat("i", hugeLen)
	}
	return chanHolder{C: make(chan int)}
}

var payloadEndpoints = eps(payloadLen, payloadAnyArg, payloadMake, payloadChanResult, payloadFail,
	payloadStarted, payloadGen, payloadSink)

// payloadCases each send one message that cannot go on a wire, over the
// limit or not encodable, from the callee or from the caller. Over a wire,
// only that dialog or that Send fails, with an error matching the
// sentinel and naming the endpoint and the actor; the actor keeps serving
// on the same connection. On goroutines, values travel without encoding,
// so the same messages are delivered.
var payloadCases = []struct {
	name string
	fn   func(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool)
}{
	{"OversizedResult", func(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool) {
		got, err := payloadMake.Call(ctx, p, hugeLen)
		if !wire {
			if err != nil || len(got) != hugeLen {
				t.Fatalf("Call = %d bytes, %v; want %d bytes", len(got), err, hugeLen)
			}
			return
		}
		checkRefusedRemote(t, err, tractor.ErrMessageTooLarge, payloadMake.Name(), p)
	}},
	{"UnencodableResult", func(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool) {
		got, err := payloadChanResult.Call(ctx, p, struct{}{})
		if !wire {
			if h, ok := got.(chanHolder); err != nil || !ok || h.C == nil {
				t.Fatalf("Call = %+v, %v; want the chan", got, err)
			}
			return
		}
		checkRefusedRemote(t, err, tractor.ErrUnencodable, payloadChanResult.Name(), p)
	}},
	{"HugeErrorText", func(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool) {
		_, err := payloadFail.Call(ctx, p, hugeLen)
		if !wire {
			if re := asRemote(t, err); len(re.Message) != hugeLen {
				t.Fatalf("error text of %d bytes, want %d", len(re.Message), hugeLen)
			}
			return
		}
		checkRefusedRemote(t, err, tractor.ErrMessageTooLarge, payloadFail.Name(), p)
	}},
	{"OversizedStarted", func(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool) {
		c, err := payloadStarted.Open(ctx, p, startedArg{N: hugeLen})
		if !wire {
			var first string
			if err == nil {
				first, err = tractor.First[string](c)
			}
			if err != nil || len(first) != hugeLen {
				t.Fatalf("Open: %v; first value of %d bytes, want %d", err, len(first), hugeLen)
			}
			if r, err := payloadStarted.Result(ctx, c); r != 0 || err != nil {
				t.Fatalf("Result = %d, %v; want 0", r, err)
			}
			return
		}
		checkRefusedRemote(t, err, tractor.ErrMessageTooLarge, payloadStarted.Name(), p)
	}},
	{"OversizedStartedRetried", func(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool) {
		// A refused Started counts as no call: the task sends another.
		c, err := payloadStarted.Open(ctx, p, startedArg{N: hugeLen, Retry: true})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		first, err := tractor.First[string](c)
		if err != nil {
			t.Fatal(err)
		}
		r, err := payloadStarted.Result(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if wire && (first != "small" || r != 1) {
			t.Fatalf("first value %.10q, result %d; want the small retry, 1", first, r)
		}
		if !wire && (len(first) != hugeLen || r != 0) {
			t.Fatalf("first value of %d bytes, result %d; want %d bytes, 0", len(first), r, hugeLen)
		}
	}},
	{"OversizedStreamItemFromCallee", func(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool) {
		checkCalleeItem(t, ctx, p, wire, "big", tractor.ErrMessageTooLarge)
	}},
	{"UnencodableStreamItemFromCallee", func(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool) {
		checkCalleeItem(t, ctx, p, wire, "chan", tractor.ErrUnencodable)
	}},
	{"OversizedStreamItemFromCaller", func(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool) {
		checkCallerItem(t, ctx, p, wire, "big", tractor.ErrMessageTooLarge, transport.ErrFrameTooLarge)
	}},
	{"UnencodableStreamItemFromCaller", func(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool) {
		checkCallerItem(t, ctx, p, wire, "chan", tractor.ErrUnencodable, transport.ErrEncode)
	}},
	{"OversizedCompressibleArgument", func(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool) {
		n, err := payloadLen.Call(ctx, p, strings.Repeat("a", hugeLen))
		if !wire {
			if err != nil || n != hugeLen {
				t.Fatalf("Call = %d, %v; want %d", n, err, hugeLen)
			}
			return
		}
		checkRefusedLocal(t, err, tractor.ErrMessageTooLarge, transport.ErrFrameTooLarge, payloadLen.Name(), p)
	}},
	{"UnencodableArgument", func(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool) {
		n, err := payloadAnyArg.Call(ctx, p, chanHolder{C: make(chan int)})
		if !wire {
			if err != nil || n != 1 {
				t.Fatalf("Call = %d, %v; want 1", n, err)
			}
			return
		}
		checkRefusedLocal(t, err, tractor.ErrUnencodable, transport.ErrEncode, payloadAnyArg.Name(), p)
	}},
}

// TestUnsendablePayloads runs payloadCases over every hosting, each in a
// worker of its own, and checks after each that the worker still serves
// calls on the same portal: its actor and its connection survived.
func TestUnsendablePayloads(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			wire := !h.byRef()
			for _, c := range payloadCases {
				t.Run(c.name, func(t *testing.T) {
					withWorker(t, h, payloadEndpoints, func(ctx context.Context, p *tractor.Portal) {
						// Bound the case well inside the tree's bound, so
						// that a dialog that never ends fails it by name.
						cctx, cancel := context.WithTimeout(ctx, testTimeout/2)
						defer cancel()
						c.fn(t, cctx, p, wire)
						if n, err := payloadLen.Call(ctx, p, "ok"); n != 2 || err != nil {
							t.Fatalf("the next call on the same portal = %d, %v; want 2", n, err)
						}
					})
				})
			}
		})
	}
}

// checkRefusedRemote checks the error of a dialog whose callee could not
// send a message: boxed by the callee, matching sentinel, naming the
// endpoint and the callee, and not a lost actor.
func checkRefusedRemote(t *testing.T, err, sentinel error, endpoint string, p *tractor.Portal) {
	t.Helper()
	checkRefused(t, err, sentinel, endpoint, p)
	if re := asRemote(t, err); re.Actor != p.Actor() {
		t.Errorf("error from actor %s, want the callee %s", re.Actor, p.Actor())
	}
}

// checkRefusedLocal checks the error of a message the caller could not
// send: a local error, not a *RemoteError, matching both the library's
// sentinel and the transport's.
func checkRefusedLocal(t *testing.T, err, sentinel, transportErr error, endpoint string, p *tractor.Portal) {
	t.Helper()
	checkRefused(t, err, sentinel, endpoint, p)
	if !errors.Is(err, transportErr) {
		t.Errorf("error %v does not match %v", err, transportErr)
	}
	var re *tractor.RemoteError
	if errors.As(err, &re) {
		t.Errorf("a local failure reads as one from actor %s: %v", re.Actor, err)
	}
}

func checkRefused(t *testing.T, err, sentinel error, endpoint string, p *tractor.Portal) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatalf("no error, want one matching %v", sentinel)
	case !errors.Is(err, sentinel):
		t.Fatalf("error %.500v does not match %v", err, sentinel)
	case errors.Is(err, tractor.ErrActorGone):
		t.Fatalf("error %v reads as a lost actor", err)
	case len(err.Error()) > 4096:
		t.Fatalf("error text of %d bytes: the payload leaked into it", len(err.Error()))
	}
	if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("%q", endpoint)) || !strings.Contains(msg, p.Actor().String()) {
		t.Errorf("error %q does not name endpoint %q and actor %s", msg, endpoint, p.Actor())
	}
}

// checkCalleeItem: a generator's item that cannot be sent fails its
// yield, the stream goes on, and the generator's returning that error is
// the outcome the caller receives.
func checkCalleeItem(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool, kind string, sentinel error) {
	s, err := payloadGen.Open(ctx, p, kind)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var items []any
	for {
		var v any
		if v, err = s.Receive(ctx); err != nil {
			break
		}
		items = append(items, v)
	}
	want := []any{"a", "b"}
	if !wire {
		want = []any{"a", badItem(kind), "b"}
		if err != io.EOF {
			t.Fatalf("stream ended with %v, want io.EOF", err)
		}
	} else {
		checkRefusedRemote(t, err, sentinel, payloadGen.Name(), p)
	}
	if len(items) != len(want) || items[0] != "a" || items[len(items)-1] != "b" {
		t.Fatalf("received %d items, want %d: a, [the bad one,] b", len(items), len(want))
	}
}

// checkCallerItem: a caller's stream item that cannot be sent fails that
// Send only, locally; the stream goes on.
func checkCallerItem(t *testing.T, ctx context.Context, p *tractor.Portal, wire bool, kind string, sentinel, transportErr error) {
	c, err := payloadSink.Open(ctx, p, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := tractor.OpenStream[any, any](c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// A refused item keeps its credit: after more of them than any
	// window holds, the next Send still goes. (Unencodable items fail
	// fast; 20 MiB ones are sent once.)
	repeats := 1
	if kind == "chan" {
		repeats = 4096
	}
	bad := badItem(kind)
	for range repeats {
		err = s.Send(ctx, bad)
		if wire {
			checkRefusedLocal(t, err, sentinel, transportErr, payloadSink.Name(), p)
		} else if err != nil {
			t.Fatalf("Send of the %s item: %v", kind, err)
		}
	}
	want := 2
	if !wire {
		want += repeats
	}
	if err := s.Send(ctx, "b"); err != nil {
		t.Fatalf("Send after the %s item: %v", kind, err)
	}
	if n, err := payloadSink.Result(ctx, c); n != want || err != nil {
		t.Fatalf("callee counted %d items, %v; want %d", n, err, want)
	}
}
