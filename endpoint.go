package tractor

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/tractor-go/tractor/transport"
)

// mode is the kind of a dialog, fixed by the endpoint it calls.
type mode uint8

const (
	modeFunc   mode = iota + 1 // one result
	modeStream                 // a one-way stream from a remote generator
	modeCtx                    // started, optional two-way stream, result
)

func (m mode) String() string {
	switch m {
	case modeFunc:
		return "function"
	case modeStream:
		return "stream"
	case modeCtx:
		return "context"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Endpoint is a named remote entry point: a [*FuncEndpoint], a
// [*StreamEndpoint] or a [*CtxEndpoint]. Declare endpoints at package level
// so that every process built from the binary knows them.
type Endpoint interface {
	// Name is the endpoint's unique name, as it travels on the wire.
	Name() string
	mode() mode
	// serve runs the endpoint in a callee task; its result becomes the
	// dialog's return value.
	serve(c *Context, arg any) (any, error)
}

// endpoints is the process-wide registry of endpoint names: the one piece of
// global mutable state, written only while packages initialise.
var endpoints sync.Map // string -> Endpoint

func register(ep Endpoint) {
	if _, dup := endpoints.LoadOrStore(ep.Name(), ep); dup {
		panic(fmt.Sprintf("tractor: endpoint %q registered twice", ep.Name()))
	}
}

// mustCross panics, naming the endpoint's kind and name, the role of T
// ("argument", "result", "item") and the field at fault, unless values of
// T can cross a process faithfully (see [checkWireType]). Endpoint
// declarations call it, so a type no process could carry shows at
// start-up, as a duplicate name does.
func mustCross[T any](kind, name, role string) {
	if err := checkWireType[T](); err != nil {
		panic(fmt.Sprintf("tractor: %s %q: %s %v", kind, name, role, err))
	}
}

// checkWireType reports whether values of T cross a process faithfully:
// nil, or an error matching [transport.ErrEncode] that names T and the
// field at fault. It is computed once per type, so call sites that choose
// a type (a stream's item type, say) may call it each time.
func checkWireType[T any]() error {
	return transport.CheckType(reflect.TypeFor[T]())
}

func lookupEndpoint(name string) (Endpoint, bool) {
	ep, ok := endpoints.Load(name)
	if !ok {
		return nil, false
	}
	return ep.(Endpoint), true
}

// decode reads a payload as a T: directly when it already is one (the
// in-memory case), through [transport.Decode] otherwise.
func decode[T any](payload any) (T, error) {
	if _, raw := payload.(transport.Raw); !raw {
		if v, ok := payload.(T); ok {
			return v, nil
		}
	}
	return decodeSlow[T](payload)
}

// decodeSlow is decode's reflective path. It is kept out of line: inlined,
// its large frame would make every fresh task goroutine grow its stack.
//
//go:noinline
func decodeSlow[T any](payload any) (T, error) {
	var v T
	if err := transport.Decode(payload, &v); err != nil {
		return v, fmt.Errorf("%w: %w", ErrBadArgument, err)
	}
	return v, nil
}

func decodeArg[A any](name string, payload any) (A, error) {
	a, err := decode[A](payload)
	if err != nil {
		return a, fmt.Errorf("endpoint %q: argument: %w", name, err)
	}
	return a, nil
}

// FuncEndpoint is a remote function: one argument, one result.
type FuncEndpoint[A, R any] struct {
	name string
	fn   func(context.Context, A) (R, error)
}

// Func declares a remote function named name. It panics if the name is
// already taken, or if A or R cannot cross a process faithfully (a
// channel, func or unsafe pointer in it, an unexported field msgpack
// would drop, an interface with methods: see [transport.CheckType]):
// declare endpoints at package level so the mistake shows at start-up.
func Func[A, R any](name string, fn func(ctx context.Context, arg A) (R, error)) *FuncEndpoint[A, R] {
	mustCross[A]("Func", name, "argument")
	mustCross[R]("Func", name, "result")
	e := &FuncEndpoint[A, R]{name: name, fn: fn}
	register(e)
	return e
}

// Name implements [Endpoint].
func (e *FuncEndpoint[A, R]) Name() string { return e.name }
func (e *FuncEndpoint[A, R]) mode() mode   { return modeFunc }

func (e *FuncEndpoint[A, R]) serve(c *Context, payload any) (any, error) {
	a, err := decodeArg[A](e.name, payload)
	if err != nil {
		return nil, err
	}
	return e.fn(c, a)
}

// Call runs the function in the actor behind p and returns its result
// (tractor's Portal.run). If ctx ends first, the remote task is cancelled,
// Call waits a bounded time for it to acknowledge, and returns ctx's cause.
// A failure in the remote task is a [*RemoteError]. In an actor of this
// process the function runs on the caller's goroutine, as a task of that
// actor, for about the cost of a Go function call; the outcomes are the
// same, but Call returns only once the function has, as a Go function
// call would.
func (e *FuncEndpoint[A, R]) Call(ctx context.Context, p *Portal, arg A) (R, error) {
	mustCtx("Call", ctx)
	mustPortal("Call", p)
	if callee := p.ch.peerActor; callee != nil {
		return e.callInline(ctx, p.ch, callee, arg)
	}
	var zero R
	d, err := p.ch.open(ctx, e.name, modeFunc, arg)
	if err != nil {
		return zero, err
	}
	payload, err := d.result(ctx)
	if err != nil {
		return zero, callOutcome(ctx, err)
	}
	return e.decodeResult(payload)
}

// decodeResult decodes a call's result payload.
func (e *FuncEndpoint[A, R]) decodeResult(payload any) (R, error) {
	r, err := decode[R](payload)
	if err != nil {
		var zero R
		return zero, fmt.Errorf("endpoint %q: result: %w", e.name, err)
	}
	return r, nil
}

// callOutcome is the error of a call made with ctx whose dialog ended
// with err: when ctx ended and the task acknowledged, both, as ctx-bound
// calls say it and as the dialog's outcome is.
func callOutcome(ctx context.Context, err error) error {
	if err == ErrContextCancelled && ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), ErrContextCancelled)
	}
	return err
}

// Result waits for the result of the one-shot actor behind p, started with
// [Nursery.RunInActor] and e.Bind, and returns it. A failure is the
// actor's [*RemoteError], which the nursery also reports. Result fails
// with an error matching [ErrMisuse] if p is not a one-shot actor's portal
// or its actor runs another endpoint; if ctx ends before the result is
// in, it returns ctx's error.
func (e *FuncEndpoint[A, R]) Result(ctx context.Context, p *Portal) (R, error) {
	var zero R
	payload, err := p.awaitResult(ctx, e)
	if err != nil {
		return zero, err
	}
	r, err := decode[R](payload)
	if err != nil {
		return zero, fmt.Errorf("tractor: result of actor %s: %w", p.ch.peer, err)
	}
	return r, nil
}

// Bind pairs the function with an argument, for [Nursery.RunInActor].
func (e *FuncEndpoint[A, R]) Bind(arg A) Invocation {
	return Invocation{ep: e, arg: arg}
}

// Invocation is a function endpoint bound to its argument: the work of a
// one-shot actor. Make one with [FuncEndpoint.Bind].
type Invocation struct {
	ep  Endpoint
	arg any
}

// StreamEndpoint is a remote generator: one argument, then a one-way
// stream of T values to the caller.
type StreamEndpoint[A, T any] struct {
	name string
	fn   func(context.Context, A, func(T) error) error
}

// Stream declares a remote generator named name. fn sends each value with
// yield, which blocks while the caller's window is full and returns an error
// once the dialog is cancelled (or, for a value that cannot be sent, one
// matching [ErrMessageTooLarge] or [ErrUnencodable]); returning ends the
// stream. It panics if the name is already taken or if A or T cannot cross
// a process faithfully, as [Func] does.
func Stream[A, T any](name string, fn func(ctx context.Context, arg A, yield func(T) error) error) *StreamEndpoint[A, T] {
	mustCross[A]("Stream", name, "argument")
	mustCross[T]("Stream", name, "item")
	e := &StreamEndpoint[A, T]{name: name, fn: fn}
	register(e)
	return e
}

// Name implements [Endpoint].
func (e *StreamEndpoint[A, T]) Name() string { return e.name }
func (e *StreamEndpoint[A, T]) mode() mode   { return modeStream }

func (e *StreamEndpoint[A, T]) serve(c *Context, payload any) (any, error) {
	a, err := decodeArg[A](e.name, payload)
	if err != nil {
		return nil, err
	}
	return nil, e.fn(c, a, func(v T) error { return c.d.send(c, v) })
}

// Open starts the generator in the actor behind p and returns the stream of
// its values (tractor's Portal.open_stream_from), the caller's end of a
// one-way stream: Receive and All return each as a T, and io.EOF once the
// generator has returned; its send type is [NoSend], so Send does not
// compile. Close the stream
// when done: closing early cancels the remote generator. A [Window] among
// opts sets the stream's flow-control window instead of this actor's. The
// generator of an actor of this process streams through memory, each
// item going unboxed from its yield to Receive; the outcomes are
// those of a dialog. Under [WireCheck] it streams through a dialog, its
// items encoded as a process actor's are.
func (e *StreamEndpoint[A, T]) Open(ctx context.Context, p *Portal, arg A, opts ...DialogOption) (*MsgStream[NoSend, T], error) {
	mustCtx("Open", ctx)
	mustPortal("Open", p)
	if callee := p.ch.peerActor; callee != nil && !testHookDialogStreams && !p.ch.wireCheck {
		// Under WireCheck, a dialog over an encoding in-memory
		// connection: its values are those a process actor's would be.
		return e.openLocal(ctx, p.ch, callee, arg, opts)
	}
	d, err := p.ch.open(ctx, e.name, modeStream, arg, opts...)
	if err != nil {
		return nil, err
	}
	return &MsgStream[NoSend, T]{d: d, oneWay: true}, nil
}

// CtxEndpoint is a remote task paired with its caller (tractor's
// @context): it sends a first value with [Context.Started], may open a
// two-way [MsgStream] ([OpenStream]), and ends with a result of type R.
type CtxEndpoint[A, R any] struct {
	name string
	fn   func(*Context, A) (R, error)
}

// Ctx declares a context endpoint named name. It panics if the name is
// already taken or if A or R cannot cross a process faithfully, as [Func]
// does.
func Ctx[A, R any](name string, fn func(c *Context, arg A) (R, error)) *CtxEndpoint[A, R] {
	mustCross[A]("Ctx", name, "argument")
	mustCross[R]("Ctx", name, "result")
	e := &CtxEndpoint[A, R]{name: name, fn: fn}
	register(e)
	return e
}

// Name implements [Endpoint].
func (e *CtxEndpoint[A, R]) Name() string { return e.name }
func (e *CtxEndpoint[A, R]) mode() mode   { return modeCtx }

func (e *CtxEndpoint[A, R]) serve(c *Context, payload any) (any, error) {
	a, err := decodeArg[A](e.name, payload)
	if err != nil {
		return nil, err
	}
	return e.fn(c, a)
}

// Open starts the task in the actor behind p and waits for its first value
// (tractor's Portal.open_context): read it with [First]. The
// returned Context must be ended with [CtxEndpoint.Result] or [Context.Cancel];
// cancelling ctx cancels the remote task. A [Window] among opts sets the
// flow-control window with which this side receives the dialog's stream,
// instead of this actor's; the callee receives with its actor's.
func (e *CtxEndpoint[A, R]) Open(ctx context.Context, p *Portal, arg A, opts ...DialogOption) (*Context, error) {
	mustCtx("Open", ctx)
	mustPortal("Open", p)
	d, err := p.ch.open(ctx, e.name, modeCtx, arg, opts...)
	if err != nil {
		return nil, err
	}
	c := &Context{d: d}
	if err := c.awaitStarted(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Result waits for the outcome of c, a dialog opened with e.Open, and
// returns the callee's result. Stream items still in flight are
// discarded. Only the caller calls it, and it ends the dialog.
//
// The outcomes, after tractor: the callee's return value (nil error); the
// callee's failure, a [*RemoteError]; if this side cancelled the dialog
// ([Context.Cancel], or the ctx given to Open ended) and the callee
// acknowledged, [ErrContextCancelled] itself: an expected outcome, not a
// failure; if the callee cancelled itself or its actor was cancelled by
// anyone, a *RemoteError that matches ErrContextCancelled and names the
// canceller.
func (e *CtxEndpoint[A, R]) Result(ctx context.Context, c *Context) (R, error) {
	var r R
	err := c.result(ctx, &r)
	return r, err
}
