// Package debuglock gives a whole actor tree one terminal, as tractor's
// debugger does: the root owns the terminal and lends it to one actor at a
// time, in the order they asked, so that a breakpoint or a post-mortem in
// any actor (goroutine or process, at any depth) gets a prompt of its own
// instead of a garbled screen.
//
// Give [Enable]'s options to [tractor.Run] in main; a process actor runs
// main too and takes its hooks from there (or from [tractor.ServeIfChild]).
// Then call [Breakpoint] anywhere in an actor. Wrap Run's ctx with
// [NotifyContext] so that Ctrl-C cancels the tree, except while an actor
// holds the terminal.
//
// The lock is a context dialog with the root (see [Acquire]): its Started
// value is the grant, the holder keeps the dialog open while it owns the
// terminal and closes its stream to release it, and the root releases it
// by itself when the holder's connection drops, so no crash can deadlock
// the tree. Nothing else writes on the prompt's line: the root's notes to
// the person at it (an actor waits for the terminal, Ctrl-C was ignored)
// travel to the holder on that dialog and print above its prompt, which
// is redrawn with what was typed so far, and the runtime's logs, with
// the lines a process child writes to its stderr, wait until the prompt
// is released (see [tractor.WrapLogHandler], [tractor.WrapChildStderr]).
// The prompt reads its line with the terminal in raw mode, with line
// editing and history; Ctrl-C there clears the line (quit cancels the
// actor), and the terminal's mode is put back between lines, for dlv and
// when the prompt ends. Without a terminal (the root's stdin
// is not one, as in CI), a breakpoint logs where it is and continues, and
// a post-mortem logs the error and its stack: nothing blocks.
package debuglock

import (
	"context"
	"fmt"
	"time"

	"github.com/tractor-go/tractor"
)

// ErrQuit is returned by [Breakpoint] when the user quit at the prompt:
// the actor is being cancelled. It matches wherever the error is relayed.
var ErrQuit = tractor.RegisterSentinel("debuglock.quit", quitError{})

// quitError is ErrQuit's type: a relayed ErrQuit names it as its type
// (a [tractor.RemoteError]'s Type), where errors.New's would read
// *errors.errorString, as if no sentinel had crossed.
type quitError struct{}

func (quitError) Error() string { return "debuglock: quit at the prompt" }

// DefaultWaitBound bounds how long supervision waits for the terminal to
// be released before it cancels a child.
const DefaultWaitBound = 10 * time.Minute

// Option configures [Enable].
type Option func(*options)

type options struct {
	postMortem bool
	waitBound  time.Duration
}

// PostMortem makes an actor enter the prompt when one of its tasks fails
// or panics, with the error and its stack, before the error propagates.
// A panic's prompt runs inside the deferred recovery, the panicking
// frames still on the goroutine's stack (a debugger attached then sees
// them, with their locals): where names the line that panicked, list
// shows its source, up and down walk its callers. For a returned error,
// where names the place it was made if it carries its frames (a method
// Callers() []uintptr, or StackTrace() of program counters, as
// github.com/pkg/errors has), else the endpoint's Go function.
func PostMortem() Option { return func(o *options) { o.postMortem = true } }

// WaitBound sets how long a nursery waits for the terminal to be free
// before it cancels a child (default [DefaultWaitBound]). It panics if d
// is not positive.
func WaitBound(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("debuglock: WaitBound(%v): the bound must be positive", d))
	}
	return func(o *options) { o.waitBound = d }
}

// Enable returns the options that give the tree one terminal: the root
// serves the lock, and nurseries wait (within a bound) for an actor that
// holds the terminal before cancelling children, as tractor's
// maybe_wait_for_debugger does; a nursery whose own actor holds it does
// not wait for itself. While a prompt is open, the runtime's logs wait:
// they are written once it is released.
func Enable(opts ...Option) []tractor.Option {
	o := options{waitBound: DefaultWaitBound}
	for _, opt := range opts {
		opt(&o)
	}
	out := []tractor.Option{
		tractor.Expose(acquireEP, waitEP),
		tractor.WrapLogHandler(holdLogs),
		tractor.WrapChildStderr(holdStderr),
		tractor.BeforeCancel(func(ctx context.Context, child tractor.ActorID) bool {
			// Held back only while the terminal was lent and came
			// back: a wait cut by its bound, or by ctx, does not hold
			// the cancel ladder back again.
			waited, err := waitFree(ctx, o.waitBound)
			return waited && err == nil
		}),
	}
	if o.postMortem {
		out = append(out, tractor.OnTaskError(postMortem))
	}
	return out
}
