package debuglock_test

import (
	"context"
	"fmt"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/debuglock"
)

// warnWithStack logs a warning with its stack, as the runtime's warnings
// about a failure do.
var warnWithStack = tractor.Func("debuglocktest.warnWithStack", func(ctx context.Context, msg string) (struct{}, error) {
	tractor.CurrentActor(ctx).Logger().Warn(msg, tractor.StackAttr(debug.Stack()))
	return struct{}{}, nil
})

func init() { programs["logs"] = logsWhilePrompting }

// logsWhilePrompting has w0 stop at a breakpoint; once the test sees its
// prompt (and signals SIGUSR1), a process actor w1 logs a warning and
// ends, and the root stops at a breakpoint too, which queues it behind
// w0 with a note to w0's screen.
func logsWhilePrompting() int {
	ctx, stop := debuglock.NotifyContext(context.Background())
	defer stop()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(_ context.Context, nu *tractor.Nursery) error {
			defer nu.Cancel()
			p, err := nu.StartActor(ctx, "w0", tractor.Expose(stopHere))
			if err != nil {
				return err
			}
			usr1, cancel := signal.NotifyContext(ctx, syscall.SIGUSR1)
			defer cancel()
			var (
				wg      sync.WaitGroup
				res     string
				callErr error
			)
			wg.Go(func() {
				// Printed after the root's prompt: the program's own
				// output would be on the prompt's line.
				res, callErr = stopHere.Call(ctx, p, struct{}{})
			})
			<-usr1.Done()
			// The nursery ends once w1's process is reaped, its stderr
			// relayed: the warning has reached the root's handler.
			err = tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				_, err := n.RunInActor(ctx, "w1", warnWithStack.Bind("look here"), tractor.Expose(warnWithStack))
				return err
			})
			if err != nil {
				return err
			}
			rootErr := debuglock.Breakpoint(ctx)
			wg.Wait()
			fmt.Println("result", res, callErr)
			fmt.Println("result root", rootErr)
			return nil
		})
	}, append(debuglock.Enable(), tractor.Spawn(tractor.Process))...)
	fmt.Println("program ends:", err)
	if err != nil {
		return 1
	}
	return 0
}

// promptLine is what may follow a prompt on its line: nothing yet, what
// the person typed, the prompt being cleared ("\r\033[K", after the
// terminal's echo of ^C) to print a note above it, or the test program's
// own "result" lines, printed to its stdout, which no lock holds.
var promptLine = regexp.MustCompile(`^((\^C)?\r\x1b\[K|[a-z]*\r?\n|result |$)`)

// garbled returns the prompt lines that something else was written on.
func (tm *term) garbled() []string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	out := tm.out.String()
	var bad []string
	for _, loc := range regexp.MustCompile(`\(tractor \w+\) `).FindAllStringIndex(out, -1) {
		rest := out[loc[1]:]
		if !promptLine.MatchString(rest) {
			end := len(rest)
			if i := regexp.MustCompile(`\r?\n`).FindStringIndex(rest); i != nil {
				end = i[0]
			}
			bad = append(bad, fmt.Sprintf("%q", out[loc[0]:loc[1]+end]))
		}
	}
	return bad
}

// noteAbove waits for note, printed above name's prompt, which it
// redraws: the prompt's line cleared, the note, the prompt again.
func (tm *term) noteAbove(note, name string) {
	tm.t.Helper()
	tm.expect(`\r\x1b\[K` + note + `\r?\n\(tractor ` + name + `\) `)
}

// endsClean waits for the program to end well, and checks that nothing
// was written on a prompt's line meanwhile.
func (tm *term) endsClean() {
	tm.t.Helper()
	tm.expect(`program ends: <nil>`)
	if bad := tm.garbled(); len(bad) > 0 {
		tm.t.Fatalf("prompt lines written over: %v", bad)
	}
	if code := tm.wait(); code != 0 {
		tm.t.Fatalf("program exited with %d", code)
	}
}

// TestWaitingNoteAbovePrompt: the note that another actor waits for the
// terminal is printed above the holder's prompt, which is redrawn, never
// on the prompt's line.
func TestWaitingNoteAbovePrompt(t *testing.T) {
	tm := startOnPty(t, "breakpoints")
	first := tm.expect(`debuglock: breakpoint in actor (w\d)\[`)[1]
	tm.expect(`\(tractor ` + first + `\) `)
	for range 2 {
		tm.noteAbove(`debuglock: w\d\[\w+\] \(pid \d+\) waits for the terminal; `+first+`\[\w+\] has it`, first)
	}
	tm.send("c\n")
	for range 2 {
		tm.expect(`\(tractor w\d\) `)
		tm.send("c\n")
	}
	tm.endsClean()
}

// TestLogsWaitForThePrompt: a warning logged by another process actor
// while a prompt is open does not reach the terminal until the prompt is
// released; then it does, as a console line with its stack as lines.
func TestLogsWaitForThePrompt(t *testing.T) {
	tm := startOnPty(t, "logs")
	tm.expect(`\(tractor w0\) `)
	tm.cmd.Process.Signal(syscall.SIGUSR1)
	// The root asks for the terminal after w1's warning reached its
	// handler: once its note shows, the warning would have too.
	tm.noteAbove(`debuglock: root\[\w+\] \(pid \d+\) waits for the terminal; w0\[\w+\] has it`, "w0")
	if n := tm.count(`look here`); n != 0 {
		t.Fatalf("the warning was written while w0 prompted; the terminal shows:\n%s", tm.out.String())
	}
	tm.send("c\n")
	tm.expect(`\r?\n\d\d:\d\d:\d\d\.\d{3} WRN look here actor=w1 uid=\w+\r?\n  stack:\r?\n    goroutine \d+ \[running\]:\r?\n`)
	tm.expect(`\(tractor root\) `)
	tm.send("c\n")
	tm.endsClean()
	if n := tm.count(`"msg"|\\n`); n != 0 {
		t.Fatalf("JSON on the terminal:\n%s", tm.out.String())
	}
}

// TestCtrlCNoticeAbovePrompt: the notice that Ctrl-C was ignored is
// printed above the holder's prompt, which is redrawn.
func TestCtrlCNoticeAbovePrompt(t *testing.T) {
	tm := startOnPty(t, "postmortem")
	tm.expect(`\(tractor w0\) `)
	tm.send("\x03")
	tm.noteAbove(`debuglock: Ctrl-C ignored: actor w0\[\w+\] holds the terminal`, "w0")
	tm.send("c\n")
	tm.expect(`propagated: .*kaboom`)
	tm.endsClean()
}

// TestHolderKilledLeavesItsLine: when the holder dies at its prompt, the
// root says so on a line of its own, and what was held back (the
// runtime's warnings about the death) follows it, not on the dead
// prompt's line.
func TestHolderKilledLeavesItsLine(t *testing.T) {
	tm := startOnPty(t, "breakpoints")
	tm.expect(`pids \d+ \d+ \d+`)
	m := tm.expect(`debuglock: breakpoint in actor (w\d)\[\w+\] \(pid (\d+),`)
	holder, holderPID := m[1], m[2]
	tm.expect(`\(tractor ` + holder + `\) `)
	next := tm.waiters(2)[0]
	n, _ := strconv.Atoi(holderPID)
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tm.expect(`\ndebuglock: ` + holder + `\[\w+\] went away holding the terminal\r?\n`)
	tm.expect(`\(tractor ` + next + `\) `)
	if bad := tm.garbled(); len(bad) > 0 {
		t.Fatalf("prompt lines written over: %v", bad)
	}
}
