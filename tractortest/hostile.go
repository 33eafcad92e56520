package tractortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"pgregory.net/rapid"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// The hostile payloads: each is a message that cannot travel between
// processes. Over a wire the dialog it belongs to (or the Send that carries
// it) must fail with an error matching tractor.ErrMessageTooLarge or
// tractor.ErrUnencodable, and nothing else may: not the connection, not
// the actor. Between goroutines values travel by reference, unencoded, so
// the same messages are delivered.
const (
	// oversized is just over the frame limit, and random: compression
	// gains nothing on it.
	oversized = "oversized"
	// compressible is 20 MiB of one byte: over the limit, though it
	// compresses to almost nothing.
	compressible = "compressible"
	// unencodable values hold a chan or a func.
	unencodableChan = "chan"
	unencodableFunc = "func"
)

// textKinds are the hostile payloads that are text, as an error's is.
var textKinds = []string{oversized, compressible}

// payloadKinds are all the hostile payloads.
var payloadKinds = []string{oversized, compressible, unencodableChan, unencodableFunc}

// chanHolder and funcHolder cannot be encoded for the wire.
type chanHolder struct{ C chan int }
type funcHolder struct{ F func() }

// The lengths of the hostile texts.
const (
	oversizedLen    = transport.DefaultMaxFrame + 1<<20
	compressibleLen = 20 << 20
)

// The hostile texts are made once per process, when first drawn: they
// are large, and strings, so sharing them is safe.
var (
	oversizedText = sync.OnceValue(func() string {
		b := make([]byte, oversizedLen)
		rand.NewChaCha8([32]byte{}).Read(b)
		return string(b)
	})
	compressibleText = sync.OnceValue(func() string { return strings.Repeat("z", compressibleLen) })
)

// hostileValue returns the hostile payload kind names.
func hostileValue(kind string) any {
	switch kind {
	case oversized:
		return oversizedText()
	case compressible:
		return compressibleText()
	case unencodableChan:
		return chanHolder{C: make(chan int)}
	case unencodableFunc:
		return funcHolder{F: func() {}}
	}
	panic("tractortest: unknown hostile payload " + kind)
}

// measure sums up a payload as it arrived, so that the far side can tell
// the near one what it received: a string's length, 1 for a holder whose
// chan or func arrived, 0 for anything else.
func measure(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case chanHolder:
		if v.C != nil {
			return 1
		}
	case funcHolder:
		if v.F != nil {
			return 1
		}
	}
	return 0
}

// hostileMeasure is the measure of the payload kind names, delivered.
func hostileMeasure(kind string) int {
	switch kind {
	case oversized:
		return oversizedLen
	case compressible:
		return compressibleLen
	}
	return 1
}

// hostileSentinel is the error a hostile payload of kind fails with over a
// wire, and the transport's error that a local refusal also matches.
func hostileSentinel(kind string) (sentinel, transportErr error) {
	if kind == unencodableChan || kind == unencodableFunc {
		return tractor.ErrUnencodable, transport.ErrEncode
	}
	return tractor.ErrMessageTooLarge, transport.ErrFrameTooLarge
}

// hostileArg is the argument of the hostile endpoints: what they do
// (Where), with which payload or method (Kind), and, for the argument
// position, the hostile payload itself.
type hostileArg struct {
	Where   string
	Kind    string
	Payload any
}

// panickyError is an error one of whose methods, named by its Method,
// panics: the runtime calls them to box the error for its caller.
type panickyError struct{ Method string }

func (e panickyError) Error() string {
	if e.Method == "Error" {
		panic("tractortest: a hostile Error method")
	}
	return "tractortest: an error with a hostile " + e.Method + " method"
}

func (e panickyError) Is(error) bool {
	if e.Method == "Is" {
		panic("tractortest: a hostile Is method")
	}
	return false
}

func (e panickyError) Unwrap() error {
	if e.Method == "Unwrap" {
		panic("tractortest: a hostile Unwrap method")
	}
	return nil
}

// The hostile endpoints, declared at package level so that every process
// of a test binary that imports tractortest knows them.
var (
	// hostileCall receives a hostile argument, returns a hostile result
	// or error, or fails with a panicky error; by default it returns "ok",
	// which is how the harness checks that a worker still serves.
	hostileCall = tractor.Func("tractortest.hostile.call", func(ctx context.Context, h hostileArg) (any, error) {
		switch h.Where {
		case "argument":
			return measure(h.Payload), nil
		case "result":
			return hostileValue(h.Kind), nil
		case "error":
			return nil, errors.New(hostileValue(h.Kind).(string))
		case "panicky error":
			return nil, panickyError{h.Kind}
		case "panic, panicky value":
			panic(panickyError{h.Kind})
		}
		return "ok", nil
	})
	// hostileCtx sends a hostile Started value, or counts (measures) the
	// items its caller streams to it until the end.
	hostileCtx = tractor.Ctx("tractortest.hostile.ctx", func(c *tractor.Context, h hostileArg) (int, error) {
		if h.Where == "started" {
			return 0, c.Started(hostileValue(h.Kind))
		}
		if err := c.Started(nil); err != nil {
			return 0, err
		}
		s, err := tractor.OpenStream[any, any](c)
		if err != nil {
			return 0, err
		}
		n := 0
		for {
			v, err := s.Receive(c)
			if err == io.EOF {
				return n, nil
			} else if err != nil {
				return n, err
			}
			n += measure(v)
		}
	})
	// hostileItems yields "a", then a hostile item, and returns what that
	// yield returned, as a generator does.
	hostileItems = tractor.Stream("tractortest.hostile.items", func(ctx context.Context, kind string, yield func(any) error) error {
		if err := yield("a"); err != nil {
			return err
		}
		return yield(hostileValue(kind))
	})
)

// position is where in a dialog a hostile payload goes.
type position struct {
	name string
	// endpoint carries the dialog; caller says the caller sends the
	// payload (refused locally over a wire), not the callee.
	endpoint tractor.Endpoint
	caller   bool
	// kinds are the payloads this position can carry.
	kinds []string
	// run has the dialog carry a payload of kind. It returns n, the
	// payload's measure as the far side got it, and err, the dialog's
	// error (or, for a stream item, the Send's), or a violation of what
	// the dialog must do besides.
	run func(ctx context.Context, p *tractor.Portal, kind string) (n int, err, violation error)
}

// positions lists every message of a dialog that can carry a payload.
var positions = []position{
	{"argument", hostileCall, true, payloadKinds, func(ctx context.Context, p *tractor.Portal, kind string) (int, error, error) {
		n, err := hostileCall.Call(ctx, p, hostileArg{Where: "argument", Payload: hostileValue(kind)})
		m, _ := n.(int)
		return m, err, nil
	}},
	{"result", hostileCall, false, payloadKinds, func(ctx context.Context, p *tractor.Portal, kind string) (int, error, error) {
		v, err := hostileCall.Call(ctx, p, hostileArg{Where: "result", Kind: kind})
		return measure(v), err, nil
	}},
	{"error", hostileCall, false, textKinds, func(ctx context.Context, p *tractor.Portal, kind string) (int, error, error) {
		_, err := hostileCall.Call(ctx, p, hostileArg{Where: "error", Kind: kind})
		var re *tractor.RemoteError
		if err == nil {
			return 0, nil, errors.New("the endpoint's error reached its caller as a success")
		}
		if errors.As(err, &re) {
			return len(re.Message), err, nil
		}
		return 0, err, nil
	}},
	{"started value", hostileCtx, false, payloadKinds, func(ctx context.Context, p *tractor.Portal, kind string) (int, error, error) {
		c, err := hostileCtx.Open(ctx, p, hostileArg{Where: "started", Kind: kind})
		if err != nil {
			return 0, err, nil
		}
		first, err := tractor.First[any](c)
		if err != nil {
			return 0, nil, fmt.Errorf("first value: %w", err)
		}
		if _, err := hostileCtx.Result(ctx, c); err != nil {
			return 0, err, nil
		}
		return measure(first), nil, nil
	}},
	{"stream item from the callee", hostileItems, false, payloadKinds, func(ctx context.Context, p *tractor.Portal, kind string) (int, error, error) {
		s, err := hostileItems.Open(ctx, p, kind)
		if err != nil {
			return 0, err, nil
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
		if err == io.EOF {
			err = nil
		}
		switch {
		case len(items) > 0 && items[0] != "a":
			return 0, err, fmt.Errorf("first item %.20q, want \"a\"", items[0])
		case len(items) > 2:
			return 0, err, fmt.Errorf("%d items, want at most 2", len(items))
		case len(items) == 2:
			return measure(items[1]), err, nil
		}
		return 0, err, nil
	}},
	{"stream item to the callee", hostileCtx, true, payloadKinds, func(ctx context.Context, p *tractor.Portal, kind string) (int, error, error) {
		c, err := hostileCtx.Open(ctx, p, hostileArg{Where: "items"})
		if err != nil {
			return 0, err, nil
		}
		defer c.Cancel()
		s, err := tractor.OpenStream[any, any](c)
		if err != nil {
			return 0, err, nil // the dialog was cancelled
		}
		if err := s.Send(ctx, "a"); err != nil {
			return 0, err, nil
		}
		refused := s.Send(ctx, hostileValue(kind))
		if refused != nil && !refusal(refused) {
			return 0, refused, nil
		}
		// A refused item fails its Send only: the stream goes on.
		if err := s.Send(ctx, "b"); err != nil {
			return 0, err, nil
		}
		n, err := hostileCtx.Result(ctx, c)
		if err != nil {
			return 0, err, nil
		}
		// The callee measured "a" and "b" besides the hostile item.
		return n - 2, refused, nil
	}},
}

// refusal reports whether err is a local refusal of a message: it matches
// one of the payload sentinels and is not a *tractor.RemoteError.
func refusal(err error) bool {
	var re *tractor.RemoteError
	return (errors.Is(err, tractor.ErrMessageTooLarge) || errors.Is(err, tractor.ErrUnencodable)) && !errors.As(err, &re)
}

// HostilePayloads returns a [Case] whose dialogs each carry one message
// that cannot travel between processes: drawn among an argument, a result,
// an error's text, a Started value, and a stream item from the callee or
// to it; and among a payload over the 16 MiB frame limit (random, so that
// it does not compress), 20 MiB of one byte (over the limit, though it
// compresses to almost nothing), and a value holding a chan or a func.
//
// Over a wire (process hosting), such a dialog must end in one outcome,
// within the step bound: an error matching tractor.ErrMessageTooLarge or
// tractor.ErrUnencodable, never tractor.ErrActorGone, naming the endpoint
// and the actor, without the payload in its text; boxed by the worker for
// a message the worker sent, local (not a *tractor.RemoteError) for one
// the caller sent, whose refused stream item fails that Send only. Between
// goroutines the message is delivered, whole. Either way the worker then
// serves its next dialog on the same portal.
//
// Its payloads are tens of MiB: draw it as one case among others, as
// [Config.Hostile] does, not weighted up.
func HostilePayloads() Case { return hostilePayloads{} }

type hostilePayloads struct{}

func (hostilePayloads) endpoints() []tractor.Endpoint {
	return []tractor.Endpoint{hostileCall, hostileCtx, hostileItems}
}

// GoString names the case in the steps rapid prints.
func (hostilePayloads) GoString() string { return "hostile payload" }

func (hostilePayloads) run(t *rapid.T, ctx context.Context, w *Worker) error {
	pos := rapid.SampledFrom(positions).Draw(t, "hostile message")
	kind := rapid.SampledFrom(pos.kinds).Draw(t, "hostile payload")
	n, err, violation := pos.run(ctx, w.Portal, kind)
	if violation != nil {
		return fmt.Errorf("%s %s of %s: %w", kind, pos.name, w.Portal.Actor(), violation)
	}
	if err := checkHostile(ctx, w.Portal.Actor(), w.encodes, w.Ended, pos, kind, n, err); err != nil {
		return fmt.Errorf("%s %s of %s: %w", kind, pos.name, w.Portal.Actor(), err)
	}
	return probe(ctx, w)
}

// checkHostile checks the outcome of a dialog with actor, over a wire or
// between goroutines, ended or not, that carried a hostile payload of kind
// at pos: n is the payload's measure as the far side got it, err the
// dialog's error.
func checkHostile(ctx context.Context, actor tractor.ActorID, wire, ended bool, pos position, kind string, n int, err error) error {
	sentinel, transportErr := hostileSentinel(kind)
	ownCancel := ctx.Err() != nil && err != nil && (errors.Is(err, ctx.Err()) || errors.Is(err, tractor.ErrContextCancelled))
	switch {
	case ownCancel:
		return nil
	case wire && pos.caller && (!ended || refusal(err)):
		// Refused before anything was written: an ended worker's
		// dialog may fail so too, as the message could not go anyway.
		if err == nil {
			return fmt.Errorf("delivered over a wire (the far side measured %d)", n)
		}
		if !errors.Is(err, transportErr) {
			return fmt.Errorf("refused locally with %.300v, which does not match %v", err, transportErr)
		}
		if err := checkRefused(err, sentinel, pos.endpoint.Name(), actor); err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("refused, yet the far side measured %d", n)
		}
		return nil
	case ended:
		return checkOutcome(ctx, actor, true, err)
	case wire:
		// Refused by the worker, which tells the caller: the dialog's
		// one outcome.
		if err == nil {
			return fmt.Errorf("delivered over a wire (the far side measured %d)", n)
		}
		if err := checkOutcome(ctx, actor, false, err); err != nil {
			return err
		}
		return checkRefused(err, sentinel, pos.endpoint.Name(), actor)
	case pos.name == "error":
		// Between goroutines: the error, whole, boxed by the worker.
		if err := checkOutcome(ctx, actor, false, err); err != nil {
			return err
		}
		if errors.Is(err, sentinel) {
			return fmt.Errorf("error text refused between goroutines: %.300v", err)
		}
	case err != nil:
		if ctx.Err() != nil {
			// Cancelled, and said so by the worker.
			return checkOutcome(ctx, actor, false, err)
		}
		return fmt.Errorf("failed between goroutines: %.300v", err)
	}
	if want := hostileMeasure(kind); n != want {
		return fmt.Errorf("the far side measured %d, want %d", n, want)
	}
	return nil
}

// checkRefused checks the error of a message refused for its payload: it
// matches sentinel, does not read as a lost actor, names the endpoint and
// the actor, and does not carry the payload in its text.
func checkRefused(err, sentinel error, endpoint string, actor tractor.ActorID) error {
	msg := err.Error()
	switch {
	case !errors.Is(err, sentinel):
		return fmt.Errorf("refused with %.300v, which does not match %v", err, sentinel)
	case errors.Is(err, tractor.ErrActorGone):
		return fmt.Errorf("refused with %.300v, which reads as a lost actor", err)
	case len(msg) > 4096:
		return fmt.Errorf("refused with an error of %d bytes: the payload leaked into it", len(msg))
	case !strings.Contains(msg, endpoint) || !strings.Contains(msg, actor.String()):
		return fmt.Errorf("refused with %q, which does not name endpoint %q and actor %s", msg, endpoint, actor)
	}
	return nil
}

// probe checks that a live worker still serves a dialog on the same
// portal, after the step's own: within the step bound, not cut short by a
// cancellation the step drew.
func probe(ctx context.Context, w *Worker) error {
	if w.Ended {
		return nil
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), StepTimeout)
	defer cancel()
	if v, err := hostileCall.Call(pctx, w.Portal, hostileArg{}); err != nil || v != "ok" {
		return fmt.Errorf("the next dialog with %s: %v, %.300v; want ok", w.Portal.Actor(), v, err)
	}
	return nil
}

// slowExitGraces are the exit graces a hostile run draws among (see
// [Config.Hostile]): far below the milliseconds a process takes to exit
// after its actor ended, and the default (0).
var slowExitGraces = []time.Duration{time.Nanosecond, 100 * time.Microsecond, 0}

// HostileEndpoints returns a [Case] whose dialogs each run an endpoint
// that fails in a way the runtime must survive: it returns an error, or
// panics with one, whose Error, Is or Unwrap method panics (the runtime
// calls them to box the error for the caller). The dialog must end with a
// *tractor.RemoteError from the worker matching tractor.ErrPanic, and the
// worker serve its next dialog, whatever its hosting.
func HostileEndpoints() Case { return hostileEndpoints{} }

type hostileEndpoints struct{}

func (hostileEndpoints) endpoints() []tractor.Endpoint { return []tractor.Endpoint{hostileCall} }

// GoString names the case in the steps rapid prints.
func (hostileEndpoints) GoString() string { return "hostile endpoint" }

func (hostileEndpoints) run(t *rapid.T, ctx context.Context, w *Worker) error {
	where := rapid.SampledFrom([]string{"panicky error", "panic, panicky value"}).Draw(t, "hostile endpoint")
	method := rapid.SampledFrom([]string{"Error", "Is", "Unwrap"}).Draw(t, "panicking method")
	_, err := hostileCall.Call(ctx, w.Portal, hostileArg{Where: where, Kind: method})
	if err == nil {
		return fmt.Errorf("%s (%s) of %s: no error", where, method, w.Portal.Actor())
	}
	if err := outcomeError(ctx, w, err); err != nil {
		return fmt.Errorf("%s (%s): %w", where, method, err)
	}
	cancelled := ctx.Err() != nil && (errors.Is(err, ctx.Err()) || errors.Is(err, tractor.ErrContextCancelled))
	if !w.Ended && !cancelled && !errors.Is(err, tractor.ErrPanic) {
		return fmt.Errorf("%s (%s) of %s: %.300v, which does not match ErrPanic", where, method, w.Portal.Actor(), err)
	}
	return probe(ctx, w)
}

// GoString names the position in the steps rapid prints.
func (p position) GoString() string { return p.name }

// hostileCase is the case [Config.Hostile] adds: a hostile payload or a
// hostile endpoint, drawn each time.
type hostileCase struct{}

func (hostileCase) endpoints() []tractor.Endpoint { return hostilePayloads{}.endpoints() }

// GoString names the case in the steps rapid prints.
func (hostileCase) GoString() string { return "hostile dialog" }

func (hostileCase) run(t *rapid.T, ctx context.Context, w *Worker) error {
	c := rapid.SampledFrom([]Case{hostilePayloads{}, hostileEndpoints{}}).Draw(t, "hostile case")
	return c.run(t, ctx, w)
}
