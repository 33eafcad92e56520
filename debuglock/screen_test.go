package debuglock_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/debuglock"
)

// warnWithStack logs a warning with its stack, as the runtime's warnings
// about a failure do.
var warnWithStack = tractor.Func("debuglocktest.warnWithStack", func(ctx context.Context, msg string) (struct{}, error) {
	tractor.CurrentActor(ctx).Logger().Warn(msg, tractor.StackAttr(debug.Stack()))
	return struct{}{}, nil
})

// rawStderr writes line to the actor's stderr as it is, not as a log
// record, as a panic's output or a user's fmt.Fprintln(os.Stderr) does.
var rawStderr = tractor.Func("debuglocktest.rawStderr", func(ctx context.Context, line string) (struct{}, error) {
	fmt.Fprintln(os.Stderr, line)
	return struct{}{}, nil
})

func init() {
	for _, h := range supHostings {
		programs["logs-"+h.name] = func() int { return logsWhilePrompting(h.opts, h.name != "goroutine") }
		programs["breakpoints-"+h.name] = func() int { return programIn(3, "breakpoints", h.opts) }
		programs["postmortem-"+h.name] = func() int { return programIn(1, "postmortem", h.opts) }
	}
}

// screenHostings returns the hostings a screen test runs over: those of
// supHostings, without tcp under -short (it hosts actors in processes as
// pipe does: rows in tractor's helpers_test.go drops it alike), and
// without the goroutine one for a case about a process (its death, its
// stderr).
func screenHostings(processes bool) []supHosting {
	var hs []supHosting
	for _, h := range supHostings {
		if (h.name == "tcp" && testing.Short()) || (h.name == "goroutine" && processes) {
			continue
		}
		hs = append(hs, h)
	}
	return hs
}

// logsWhilePrompting has w0 stop at a breakpoint; once the test sees its
// prompt (and signals SIGUSR1), an actor w1 logs a warning and ends (and,
// if raw, an actor w2 in a process of its own writes a raw line to its
// stderr and ends), and the root stops at a breakpoint too, which queues
// it behind w0 with a note to w0's screen.
func logsWhilePrompting(hosting []tractor.Option, raw bool) int {
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
			// The nursery ends once its actors have ended, a process
			// actor's stderr relayed: the warning has reached the root's
			// handler, the raw line its stderr's wrapper.
			err = tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				if _, err := n.RunInActor(ctx, "w1", warnWithStack.Bind("look here"), tractor.Expose(warnWithStack)); err != nil {
					return err
				}
				if raw {
					_, err := n.RunInActor(ctx, "w2", rawStderr.Bind("a raw line on stderr"), tractor.Expose(rawStderr))
					return err
				}
				return nil
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
	}, append(debuglock.Enable(), hosting...)...)
	fmt.Println("program ends:", err)
	if err != nil {
		return 1
	}
	return 0
}

// clearPrompt is how the prompt's line is cleared to print a note above
// it: x/term's Terminal moves back to the line's start and erases it.
const clearPrompt = `(\x1b\[\d+D)?\x1b\[K`

// promptLine is what may follow a prompt on its line: nothing yet, what
// the person typed (as edited: the cursor moved back, what it passed
// blanked), then Enter or the line being cleared to print a note above
// it, or the test program's own "result" lines, printed to its stdout,
// which no lock holds.
var promptLine = regexp.MustCompile(`^(([a-z ]|\x1b\[\d+D)*(` + clearPrompt + `|\r?\n)|result |$)`)

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
	tm.expect(clearPrompt + note + `\r?\n\(tractor ` + name + `\) `)
}

// endsClean waits for the program to end well, and checks that nothing
// was written on a prompt's line meanwhile, and that the prompts, which
// read in raw mode, left the terminal in line mode.
func (tm *term) endsClean() {
	tm.t.Helper()
	tm.expect(`program ends: <nil>`)
	if bad := tm.garbled(); len(bad) > 0 {
		tm.t.Fatalf("prompt lines written over: %v", bad)
	}
	if code := tm.wait(); code != 0 {
		tm.t.Fatalf("program exited with %d", code)
	}
	if !tm.lineMode() {
		tm.t.Fatal("the terminal was left raw")
	}
}

// TestWaitingNoteAbovePrompt: the note that another actor waits for the
// terminal is printed above the holder's prompt, which is redrawn, never
// on the prompt's line.
func TestWaitingNoteAbovePrompt(t *testing.T) {
	t.Parallel()
	for _, h := range screenHostings(false) {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			tm := startOnPty(t, "breakpoints-"+h.name)
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
		})
	}
}

// TestNoteKeepsTypedInput: a note that comes while the person is typing
// a command is printed above the prompt, which is redrawn with what was
// typed so far; the rest typed after it completes the same command.
func TestNoteKeepsTypedInput(t *testing.T) {
	t.Parallel()
	for _, h := range screenHostings(false) {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			tm := startOnPty(t, "logs-"+h.name)
			tm.expect(`\(tractor w0\) `)
			tm.send("lis")
			tm.expect(`^lis`)
			tm.cmd.Process.Signal(syscall.SIGUSR1) // the root queues: a note
			tm.noteAbove(`debuglock: root\[\w+\] \(pid \d+\) waits for the terminal; w0\[\w+\] has it`, "w0")
			tm.expect(`^lis`) // redrawn
			tm.send("t\n")
			tm.expect(`^t\r?\n`)
			tm.expect(`=> +\d+\t`) // list ran
			tm.expect(`\(tractor w0\) `)
			tm.send("c\n")
			tm.expect(`\(tractor root\) `)
			tm.send("c\n")
			tm.endsClean()
		})
	}
}

// TestLogsWaitForThePrompt: a warning logged by another actor, and a raw
// line a process actor writes to its stderr, while a prompt is open do
// not reach the terminal until the prompt is released; then they do, the
// warning as a console line with its stack as lines.
func TestLogsWaitForThePrompt(t *testing.T) {
	t.Parallel()
	for _, h := range screenHostings(false) {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			tm := startOnPty(t, "logs-"+h.name)
			tm.expect(`\(tractor w0\) `)
			tm.cmd.Process.Signal(syscall.SIGUSR1)
			// The root asks for the terminal after w1's warning reached
			// its handler: once its note shows, the warning would have
			// too.
			tm.noteAbove(`debuglock: root\[\w+\] \(pid \d+\) waits for the terminal; w0\[\w+\] has it`, "w0")
			if n := tm.count(`look here|a raw line`); n != 0 {
				t.Fatalf("written while w0 prompted; the terminal shows:\n%s", tm.out.String())
			}
			tm.send("c\n")
			// w1 and w2 run at once: the warning and the raw line come
			// in either order, on lines of their own.
			if h.name != "goroutine" {
				tm.until("no raw line", func(out string) bool {
					return regexp.MustCompile(`\na raw line on stderr\r?\n`).MatchString(out[tm.read:])
				})
			}
			tm.expect(`\d\d:\d\d:\d\d\.\d{3} WRN look here actor=w1 uid=\w+\r?\n  stack:\r?\n    goroutine \d+ \[running\]:\r?\n`)
			tm.expect(`\(tractor root\) `)
			tm.send("c\n")
			tm.endsClean()
			if n := tm.count(`"msg"|\\n`); n != 0 {
				t.Fatalf("JSON on the terminal:\n%s", tm.out.String())
			}
		})
	}
}

// TestCtrlCNoticeAbovePrompt: Ctrl-C typed at a prompt clears the line
// being typed, and the notice that it was ignored is printed above the
// prompt, which is redrawn; the prompt goes on.
func TestCtrlCNoticeAbovePrompt(t *testing.T) {
	t.Parallel()
	for _, h := range screenHostings(false) {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			tm := startOnPty(t, "postmortem-"+h.name)
			tm.expect(`\(tractor w0\) `)
			tm.send("lis")
			tm.expect(`^lis`)
			tm.send("\x03")
			tm.noteAbove(`debuglock: Ctrl-C ignored: actor w0\[\w+\] holds the terminal; quit \(q\) at its prompt cancels it`, "w0")
			tm.send("c\n") // "c", not "lisc": the line was cleared
			tm.expect(`propagated: .*kaboom`)
			tm.endsClean()
		})
	}
}

// TestHolderKilledLeavesItsLine: when the holder dies at its prompt, the
// root says so on a line of its own, and what was held back (the
// runtime's warnings about the death) follows it, not on the dead
// prompt's line. The terminal's mode, which the dead prompt left raw, is
// put back: once the program ends, the terminal is in line mode again.
func TestHolderKilledLeavesItsLine(t *testing.T) {
	t.Parallel()
	for _, h := range screenHostings(true) {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			tm := startOnPty(t, "breakpoints-"+h.name)
			tm.expect(`pids \d+ \d+ \d+`)
			m := tm.expect(`debuglock: breakpoint in actor (w\d)\[\w+\] \(pid (\d+),`)
			holder, holderPID := m[1], m[2]
			tm.expect(`\(tractor ` + holder + `\) `)
			q := tm.waiters(2)
			n, _ := strconv.Atoi(holderPID)
			if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			tm.expect(`\ndebuglock: ` + holder + `\[\w+\] went away holding the terminal\r?\n`)
			tm.expect(`\(tractor ` + q[0] + `\) `)
			if bad := tm.garbled(); len(bad) > 0 {
				t.Fatalf("prompt lines written over: %v", bad)
			}
			tm.send("c\n")
			tm.expect(`\(tractor ` + q[1] + `\) `)
			tm.send("c\n")
			tm.expect(`program ends: `)
			tm.wait()
			if !tm.lineMode() {
				t.Fatal("the terminal was left raw")
			}
		})
	}
}

// lineMode says whether the program's terminal is in line (canonical)
// mode, as the tests start it, and not raw.
func (tm *term) lineMode() bool {
	tm.t.Helper()
	st, err := unix.IoctlGetTermios(int(tm.pty.Fd()), unix.TCGETS)
	if err != nil {
		tm.t.Fatal(err)
	}
	return st.Lflag&unix.ICANON != 0
}
