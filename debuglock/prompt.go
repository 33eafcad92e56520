package debuglock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"

	"github.com/tractor-go/tractor"
)

// Breakpoint pauses the calling task: it takes the tree's terminal (in
// turn with the other actors that want it) and runs a prompt there that
// shows where the task stopped, its stack, the goroutines of the process,
// and the actor; its dlv command hands the terminal to a real debugger,
// Delve, attached on this goroutine and frame. It returns nil when the
// user continues, and [ErrQuit] when the user quits, which cancels the
// actor. Without a terminal it logs where it is and returns nil at once;
// outside an actor it returns [tractor.ErrNoActor].
func Breakpoint(ctx context.Context) error {
	if ctx == nil {
		panic("debuglock: Breakpoint: nil context.Context")
	}
	where := caller(2)
	stack := debug.Stack()
	return session(ctx, func(out io.Writer) {
		fmt.Fprintf(out, "\ndebuglock: breakpoint in actor %s\n  at %s\n", describe(ctx), where)
	}, where, nil, stack)
}

// postMortem is the OnTaskError hook of [PostMortem]. A task that
// returns [ErrQuit] did not fail: the user quit at its prompt, and a
// second prompt about that would ask again what was just answered.
func postMortem(ctx context.Context, endpoint string, err error, stack []byte) {
	if errors.Is(err, ErrQuit) {
		return
	}
	stack = failureStack(endpoint, err, stack)
	where := fmt.Sprintf("task of endpoint %q", endpoint)
	if _, f, _, ok := failingFrame(stack); ok {
		where = f.String()
	}
	_ = session(ctx, func(out io.Writer) {
		fmt.Fprintf(out, "\ndebuglock: post-mortem in actor %s\n  endpoint %q failed: %v\n  at %s\n", describe(ctx), endpoint, err, where)
		newView(stack).stack(out)
	}, where, err, stack)
}

// session takes the terminal and runs the prompt, or logs without one:
// where, the failure (nil for a breakpoint) and the stack, so that the
// log says what the prompt would have.
func session(ctx context.Context, header func(io.Writer), where string, failure error, stack []byte) error {
	a := tractor.CurrentActor(ctx)
	if a == nil {
		return tractor.ErrNoActor
	}
	// Waiting for the terminal ends with the task's ctx; the prompt, once
	// it has the terminal, waits for the person at it.
	lease, err := Acquire(ctx)
	if err != nil {
		a.Logger().Warn("debuglock: no terminal lock; continuing", slog.Any("err", err), slog.String("at", where), slog.Any("failure", failure), tractor.StackAttr(stack))
		return nil
	}
	defer lease.Release()
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if !lease.Interactive() || err != nil {
		if tty != nil {
			tty.Close()
		}
		a.Logger().Warn("debuglock: no terminal; continuing", slog.String("at", where), slog.Any("failure", failure), tractor.StackAttr(stack))
		return nil
	}
	defer tty.Close()
	header(tty)
	fmt.Fprintf(tty, "  for a real debugger, type dlv (dlv attach %d, on this goroutine)\n", os.Getpid())
	err = prompt(a, tty, tty, lease.Notes(), where, stack)
	if errors.Is(err, ErrQuit) {
		quit(ctx, a, lease)
	}
	return err
}

// prompt reads commands until continue or quit, printing the root's
// notes above it as they come.
func prompt(a *tractor.Actor, in io.Reader, out io.Writer, notes <-chan string, where string, stack []byte) error {
	ps := fmt.Sprintf("(tractor %s) ", a.Name())
	lines := readLines(in, out, ps, ctrlCIgnored(a.ID()))
	defer lines.stop()
	v := newView(stack)
	for {
		line, err := lines.next(notes)
		if err != nil {
			fmt.Fprintln(out, "continue")
			return nil // the terminal went: carry on
		}
		name, flags := splitCommand(line)
		switch name {
		case "c", "continue":
			return nil
		case "q", "quit":
			fmt.Fprintf(out, "cancelling actor %s\n", a.ID())
			return ErrQuit // session cancels the actor (see quit)
		case "w", "where":
			v.where(out, where)
		case "s", "stack":
			v.stack(out)
		case "l", "list":
			v.list(out)
		case "u", "up":
			v.move(out, 1)
		case "d", "down":
			v.move(out, -1)
		case "goroutines", "gs":
			goroutinesCommand(out, flags, v.goid)
		case "g":
			fmt.Fprintf(out, "goroutines of actor %s (its tasks and what they started), in process %d:\n%s", a.ID(), os.Getpid(), actorGoroutines(a.ID().UID))
		case "G", "all":
			everyStack(out)
		case "dlv":
			// Delve lands on the frame shown here: the user's, or
			// where up and down moved.
			at, below := v.landing(where)
			delve(in, out, at, below)
		case "a", "actor":
			fmt.Fprintf(out, "actor %s uid %s pid %d parent %s\n", a.Name(), a.ID().UID, os.Getpid(), a.Parent())
		case "", "h", "help":
			fmt.Fprintln(out, "commands: where (w), stack (s), list (l), up (u), down (d), goroutines (gs; -a for their stacks), goroutines of this actor (g), every stack (G), actor (a), Delve attached here (dlv), continue (c), quit (q)")
		default:
			fmt.Fprintf(out, "unknown command %q; help (h) lists them\n", name)
		}
	}
}

// describe names the actor of ctx for a header.
func describe(ctx context.Context) string {
	a := tractor.CurrentActor(ctx)
	return fmt.Sprintf("%s (pid %d, parent %s)", a.ID(), os.Getpid(), a.Parent())
}

// caller returns "file:line (function)" of the frame skip levels up.
func caller(skip int) string {
	pc, file, line, ok := runtime.Caller(skip)
	if !ok {
		return "unknown location"
	}
	name := "?"
	if fn := runtime.FuncForPC(pc); fn != nil {
		name = fn.Name()
	}
	return fmt.Sprintf("%s:%d (%s)", file, line, name)
}

// actorGoroutines returns the goroutines of the process labelled with the
// actor's uid (see [tractor.LabelActor]): the goroutines running its tasks
// and those they started, grouped by stack as pprof prints them.
func actorGoroutines(uid string) string {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return err.Error()
	}
	want := fmt.Sprintf("%q:%q", tractor.LabelActor, uid)
	var out strings.Builder
	for _, rec := range strings.Split(buf.String(), "\n\n") {
		if strings.Contains(rec, want) {
			out.WriteString(trimInline(rec))
			out.WriteString("\n\n")
		}
	}
	return out.String()
}

// inlineFrame is the frame in which a function task called from this
// process starts: it runs on its caller's goroutine, whose frames below
// it belong to the caller (see tractor's inline.go).
const inlineFrame = "github.com/tractor-go/tractor.(*FuncEndpoint[...]).runInline+"

// trimInline cuts a goroutine's record after the frame where an inline
// task starts: what lies below is the caller's, not the actor's.
func trimInline(rec string) string {
	i := strings.Index(rec, inlineFrame)
	if i < 0 {
		return rec
	}
	end := strings.IndexByte(rec[i:], '\n')
	if end < 0 {
		return rec
	}
	return rec[:i+end] + "\n#\t(a call from another actor of this process: the frames below are the caller's)"
}

// allStacks returns the stacks of every goroutine of the process.
func allStacks() []byte {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// NotifyContext returns a copy of ctx that Ctrl-C (SIGINT) cancels, as
// signal.NotifyContext does, except while an actor holds the terminal:
// then the prompt keeps it, and the signal is reported and ignored. (While
// the prompt waits for a line the terminal is raw, and Ctrl-C is a key
// the prompt takes itself: it clears the line and says the same.) Use it
// for the ctx of [tractor.Run]; stop releases the signal.
func NotifyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-sigs:
				if srv.tellHolder(ctrlCIgnored) {
					continue
				}
				cancel(fmt.Errorf("debuglock: interrupted: %w", context.Canceled))
			case <-done:
				return
			}
		}
	})
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			wg.Wait()
			cancel(nil)
		})
	}
}
