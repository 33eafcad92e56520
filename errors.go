package tractor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// Sentinel errors. Each is matchable with [errors.Is] on the error a caller
// gets, whether it was raised locally or boxed in a [*RemoteError] by another
// actor: a RemoteError carries a code for the library's own sentinels and its
// Is method maps the code back.
var (
	// ErrContextCancelled is the outcome of a dialog that was cancelled. A
	// caller that cancelled its own dialog gets it bare from Result (an
	// outcome, not a failure); a dialog cancelled by its callee or by a third
	// party reaches the caller as a *RemoteError that also matches it.
	ErrContextCancelled = errors.New("tractor: context cancelled")
	// ErrNotExposed is returned when a caller names an endpoint that the
	// target actor was not started with (see [Expose]).
	ErrNotExposed = errors.New("tractor: endpoint not exposed")
	// ErrUnknownEndpoint is returned when no endpoint of that name is
	// registered in the target actor's binary.
	ErrUnknownEndpoint = errors.New("tractor: unknown endpoint")
	// ErrBadArgument is returned when a payload cannot be decoded into the
	// endpoint's argument type, or into the caller's destination.
	ErrBadArgument = errors.New("tractor: bad argument")
	// ErrPanic is matched by the error of an actor task that panicked.
	ErrPanic = errors.New("tractor: panic in actor task")
	// ErrActorGone is matched when the connection to an actor was lost
	// before a dialog with it ended: the actor died or was torn down.
	ErrActorGone = errors.New("tractor: actor gone")
	// ErrActorDied is matched by a nursery's report of a child that ended
	// without being asked to: its process crashed, exited or was killed,
	// or its connection broke, before it acknowledged a cancellation. The
	// report names the actor and says how its process ended. It also
	// matches ErrActorGone; unlike the loss of an actor torn down by a
	// cancellation, a death is never taken for a consequence of one.
	ErrActorDied = fmt.Errorf("%w: it ended without being asked to", ErrActorGone)
	// ErrNoActor is returned when a ctx carries no actor: the call was made
	// outside [Run].
	ErrNoActor = errors.New("tractor: no actor in context (call inside tractor.Run)")
	// ErrNurseryClosed is returned by StartActor and RunInActor once the
	// nursery's body has returned or the nursery was cancelled.
	ErrNurseryClosed = errors.New("tractor: nursery closed")
	// ErrStreamClosed is returned by Send after this side closed its stream,
	// or after the peer ended the dialog.
	ErrStreamClosed = errors.New("tractor: stream closed")
	// ErrActorNotFound is matched by [FindActor]'s error when no live
	// actor of that name is registered, or none could be reached.
	ErrActorNotFound = errors.New("tractor: actor not found")
	// ErrRegistrar is matched when the registrar cannot be reached.
	ErrRegistrar = errors.New("tractor: registrar unreachable")
	// ErrMisuse is matched by errors of calls made on the wrong side or in
	// the wrong state, such as Started twice or OpenStream before Started.
	ErrMisuse = errors.New("tractor: invalid operation")
	// ErrNoPeerNetwork is matched when a process is to listen or dial at
	// an address of a network, such as "nats:…", that its main did not
	// give Run with [PeerNetwork]: a process actor's main among them,
	// since the option cannot travel from its parent. It matches
	// [ErrMisuse] too.
	ErrNoPeerNetwork = fmt.Errorf("%w: no PeerNetwork for the address", ErrMisuse)
	// ErrMessageTooLarge is matched when a message of a dialog (an
	// argument, a result or error, a Started value, a stream item) is,
	// encoded, over the connection's frame limit (16 MiB by default;
	// counted before compression, however well the message compresses).
	// It fails only the call, the dialog or the Send it belongs to: the
	// connection and both actors go on. Raised locally, the error also
	// matches [transport.ErrFrameTooLarge].
	ErrMessageTooLarge = errors.New("tractor: message too large")
	// ErrUnencodable is matched when a message of a dialog cannot be
	// encoded for the wire, such as a value holding a chan or a func. It
	// fails what ErrMessageTooLarge fails. Raised locally, the error also
	// matches [transport.ErrEncode]. Actors hosted on goroutines exchange
	// Go values by reference, so their messages fail this way (or for
	// their size) only under [WireCheck].
	ErrUnencodable = errors.New("tractor: message cannot be encoded")
)

// sentinel is an error that crosses actor boundaries under its code.
type sentinel struct {
	code string
	err  error
}

// sentinels lists, most specific first, the sentinels that cross actor
// boundaries: the library's own, then those registered with
// [RegisterSentinel]. An error that matches several gets the code of the
// first: a failure of the registrar that was reached through a lost
// connection is a registrar failure before it is a lost actor.
var sentinels atomic.Pointer[[]sentinel]

func init() {
	sentinels.Store(&[]sentinel{
		{"context_cancelled", ErrContextCancelled},
		{"not_exposed", ErrNotExposed},
		{"unknown_endpoint", ErrUnknownEndpoint},
		{"bad_argument", ErrBadArgument},
		{"panic", ErrPanic},
		{"message_too_large", ErrMessageTooLarge},
		{"unencodable", ErrUnencodable},
		{"no_actor", ErrNoActor},
		{"nursery_closed", ErrNurseryClosed},
		{"stream_closed", ErrStreamClosed},
		{"actor_not_found", ErrActorNotFound},
		{"registrar", ErrRegistrar},
		{"lagged", ErrLagged},
		{"actor_died", ErrActorDied}, // before actor_gone, which it matches too
		{"actor_gone", ErrActorGone},
		{"no_peer_network", ErrNoPeerNetwork}, // before misuse, which it matches too
		{"misuse", ErrMisuse},
		{"canceled", context.Canceled},
		{"deadline_exceeded", context.DeadlineExceeded},
	})
	registerStandard()
}

// sentinelsMu serialises RegisterSentinel's copy-on-write of sentinels.
var sentinelsMu sync.Mutex

// RegisterSentinel makes err, a sentinel error of another package, match
// with [errors.Is] wherever it is relayed, as the library's own sentinels
// do: an error wrapping it that a task returns reaches the caller as a
// [*RemoteError] carrying code, which every process of the tree maps
// back to err. Call it where err is declared, at package initialisation
// (as endpoints are declared), so that every process built from the binary
// knows the code; name the code after the package ("debuglock.quit").
// RegisterSentinel returns err. It panics if code or err is already
// registered, or either is empty.
func RegisterSentinel(code string, err error) error {
	if code == "" || err == nil {
		panic(fmt.Sprintf("tractor: RegisterSentinel(%q, %v): the code and the error must be given", code, err))
	}
	sentinelsMu.Lock()
	defer sentinelsMu.Unlock()
	old := *sentinels.Load()
	for _, s := range old {
		if s.code == code || s.err == err {
			panic(fmt.Sprintf("tractor: RegisterSentinel(%q, %v): already registered as %q, %v", code, err, s.code, s.err))
		}
	}
	if _, ok := loadTypes().byCode[code]; ok {
		panic(fmt.Sprintf("tractor: RegisterSentinel(%q, %v): the code is already registered for an error type", code, err))
	}
	list := append(old[:len(old):len(old)], sentinel{code, err})
	sentinels.Store(&list)
	return err
}

func codeOf(err error) string {
	for _, s := range *sentinels.Load() {
		if errors.Is(err, s.err) {
			return s.code
		}
	}
	return ""
}

// RemoteError is an error that happened in another actor, boxed with where
// it came from. Every error a dialog or a nursery reports on behalf of a peer
// is a *RemoteError; use [errors.As] to read it and [errors.Is] to match
// sentinels through it. In the process where the error happened, Unwrap
// returns the original error, so that errors.Is and errors.As reach its
// whole chain; in another process they reach the sentinels registered with
// [RegisterSentinel] and the values of the types registered with
// [RegisterError] (the library registers the standard ones: io.EOF,
// context.Canceled, fs.ErrNotExist and its kin, *fs.PathError...).
// Another error crosses as its text and type name. A joined error
// (errors.Join, a nursery's errors of several children) crosses as a
// tree: each of its members is a *RemoteError of its own, in Errors.
type RemoteError struct {
	// Actor is the actor in which the error first happened.
	Actor ActorID
	// Type is the Go type of the original error (as %T prints it), or
	// "panic" for a recovered panic.
	Type string
	// Message is the original error's text.
	Message string
	// Stack is the stack of the failing task in the source actor: for a
	// panic, where it panicked; for an error, where the task returned it.
	Stack string
	// RelayPath lists the actors the error passed through, the source first
	// and the last actor to forward it last.
	RelayPath []ActorID
	// Canceller is the actor that asked for the cancellation, for an error
	// that matches ErrContextCancelled.
	Canceller ActorID
	// Code names the sentinel the error matches, if any: the library's
	// own, or one registered with [RegisterSentinel].
	Code string
	// TypeCode names the error type, registered with [RegisterError],
	// of the value the error carries in Fields, if any.
	TypeCode string `msgpack:",omitempty"`
	// Fields are the exported fields of that value, by name, as they
	// cross the wire; where the error arrives, the value is rebuilt from
	// them and Unwrap returns it.
	Fields map[string]any `msgpack:",omitempty"`
	// Errors are the members of a joined error, each boxed with its own
	// actor, type, code and value. A tree is at most 32 deep and holds
	// at most 256 errors; the text of the members past that stays in
	// Message.
	Errors []*RemoteError `msgpack:",omitempty"`
	// Died says how the actor's process ended, for the report of a death
	// (see [ActorDied]); errors.As reads it through the RemoteError.
	Died *ActorDied

	// value is the original error, in the process where it happened, or
	// the value rebuilt from Fields.
	value error
}

// Error reports the source actor, the actors the error passed through,
// and the message; the original type is left to the Type field.
func (e *RemoteError) Error() string {
	var b strings.Builder
	b.WriteString("actor ")
	b.WriteString(e.Actor.String())
	if len(e.RelayPath) > 1 {
		b.WriteString(" (via ")
		for i, hop := range e.RelayPath[1:] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(hop.String())
		}
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}

// As sets target, a **ActorDied, to how the actor's process ended, if the
// error reports a death.
func (e *RemoteError) As(target any) bool {
	if d, ok := target.(**ActorDied); ok && e.Died != nil {
		*d = e.Died
		return true
	}
	return false
}

// errorf is fmt.Errorf for the library's own errors, whose texts start
// with "tractor: ": an error it wraps says its words without repeating
// that prefix ("tractor: start actor "x": nursery closed", not "…:
// tractor: nursery closed"), so that a chain names the library once.
// The result unwraps as fmt.Errorf's does.
func errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "tractor: "); ok {
		msg = "tractor: " + strings.ReplaceAll(rest, ": tractor: ", ": ")
	}
	return &libError{msg: msg, err: err}
}

// libError is an error of errorf: its own text, and the chain it wraps.
type libError struct {
	msg string
	err error
}

func (e *libError) Error() string { return e.msg }

func (e *libError) Unwrap() error { return e.err }

// Is reports whether target is the library sentinel named by e's code.
func (e *RemoteError) Is(target error) bool {
	if e.Code == "" {
		return false
	}
	for _, s := range *sentinels.Load() {
		if s.code == e.Code {
			return errors.Is(s.err, target)
		}
	}
	return false
}

// Unwrap returns the original error, in the process where it happened,
// or the value of a registered error type rebuilt from Fields; then the
// members of a joined error.
func (e *RemoteError) Unwrap() []error {
	if e.value == nil && len(e.Errors) == 0 {
		return nil
	}
	errs := make([]error, 0, 1+len(e.Errors))
	if e.value != nil {
		errs = append(errs, e.value)
	}
	for _, m := range e.Errors {
		errs = append(errs, m)
	}
	return errs
}

// boxError turns err, returned by a task of actor self, into the payload of
// an error message. An error that already came from another actor keeps its
// source and gains self on its relay path; anything else is boxed with self
// as its source and the current stack, and a joined error as a tree whose
// members are boxed the same way (see boxTree).
func boxError(err error, self ActorID) RemoteError {
	out := boxTree(err, self, true)
	fitTree(&out)
	return out
}

// boxPanic turns a recovered panic value into the payload of an error
// message, with the stack of the panicking goroutine.
func boxPanic(v any, stack []byte, self ActorID) RemoteError {
	return RemoteError{
		Actor:     self,
		Type:      "panic",
		Message:   fmt.Sprintf("panic: %v", v),
		Stack:     string(stack),
		RelayPath: []ActorID{self},
		Code:      "panic",
	}
}

// mustCtx panics, naming the call, if ctx is nil: a programmer's error,
// as it is to the standard library, reported where it was made rather than
// as a nil dereference deep in the runtime.
func mustCtx(call string, ctx context.Context) {
	if ctx == nil {
		panic("tractor: " + call + ": nil context.Context (use context.Background or context.TODO)")
	}
}

// mustPortal panics, naming the call, if p is nil or was not made by the
// runtime (a Portal comes from StartActor, RunInActor or FindActor).
func mustPortal(call string, p *Portal) {
	if p == nil || p.ch == nil {
		panic("tractor: " + call + ": nil *Portal (or one not made by the runtime)")
	}
}

// cancelCause is the cause of a task's or an actor's cancellation: who asked.
type cancelCause struct {
	by     ActorID
	reason string
}

func (c *cancelCause) Error() string {
	return fmt.Sprintf("tractor: context cancelled by actor %s (%s)", c.by, c.reason)
}

// Is makes a cancelCause match ErrContextCancelled and context.Canceled.
func (c *cancelCause) Is(target error) bool {
	return target == ErrContextCancelled || target == context.Canceled
}

// isCancellation reports whether err says only that something was cancelled
// (locally or remotely) or went away because of it. A death is not.
func isCancellation(err error) bool {
	if errors.Is(err, ErrActorDied) {
		return false
	}
	return errors.Is(err, ErrContextCancelled) || errors.Is(err, context.Canceled) ||
		errors.Is(err, ErrActorGone)
}
