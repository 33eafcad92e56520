package debuglock_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.uber.org/goleak"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/debuglock"
	"github.com/tractor-go/tractor/tractortest"
)

const roleEnv = "DEBUGLOCK_TEST_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Unsetenv(roleEnv)
		os.Exit(programs[role]())
	}
	// A process actor: with the hooks, as main would give them to Run.
	tractortest.Setup(debuglock.Enable(debuglock.PostMortem())...)
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if debuggable.dir != "" {
			os.RemoveAll(debuggable.dir)
		}
		os.Exit(code)
	}))
}

var (
	// stopHere hits a breakpoint and reports how it ended.
	stopHere = tractor.Func("debuglocktest.stopHere", func(ctx context.Context, _ struct{}) (string, error) {
		if err := debuglock.Breakpoint(ctx); err != nil {
			return "", err
		}
		return "continued", nil
	})
	// kaboom fails.
	kaboom = tractor.Func("debuglocktest.kaboom", func(ctx context.Context, _ struct{}) (int, error) {
		return 0, errors.New("kaboom")
	})
	// pid returns the actor's process id.
	pid = tractor.Func("debuglocktest.pid", func(ctx context.Context, _ struct{}) (int, error) {
		return os.Getpid(), nil
	})
)

// programs are the test programs, run by re-executing the test binary.
var programs = map[string]func() int{
	"breakpoints": func() int { return program(3, "breakpoints") },
	"postmortem":  func() int { return program(1, "postmortem") },
	"idle":        func() int { return program(2, "idle") },
	"quit":        func() int { return program(1, "quit") },
	"abandoned":   func() int { return program(1, "abandoned") },
	"mixed":       mixed,
	"lonely": func() int {
		err := tractor.Run(context.Background(), func(ctx context.Context) error {
			fmt.Println("outside", debuglock.Breakpoint(context.Background()))
			fmt.Println("result root", debuglock.Breakpoint(ctx))
			return nil
		}, debuglock.Enable()...)
		fmt.Println("program ends:", err)
		return 0
	},
}

// mixed has the root, a goroutine actor and a process actor hit
// breakpoints at once: all take the same lock.
func mixed() int {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, nu *tractor.Nursery) error {
			defer nu.Cancel()
			g, err := nu.StartActor(ctx, "g0", tractor.Expose(stopHere))
			if err != nil {
				return err
			}
			p, err := nu.StartActor(ctx, "p0", tractor.Expose(stopHere), tractor.Spawn(tractor.Process))
			if err != nil {
				return err
			}
			var wg sync.WaitGroup
			for _, w := range []*tractor.Portal{g, p} {
				wg.Go(func() {
					res, err := stopHere.Call(ctx, w, struct{}{})
					fmt.Println("result", w.Actor().Name, res, err)
				})
			}
			fmt.Println("result root", debuglock.Breakpoint(ctx))
			wg.Wait()
			return nil
		})
	}, debuglock.Enable()...)
	fmt.Println("program ends:", err)
	if err != nil {
		return 1
	}
	return 0
}

// program runs a root with n process actors and then, per what: has them
// all hit breakpoints at once ("breakpoints"), has one fail under
// post-mortem ("postmortem"), or waits to be interrupted ("idle").
func program(n int, what string) int {
	return programIn(n, what, []tractor.Option{tractor.Spawn(tractor.Process)})
}

// programIn is program with its actors hosted per hosting.
func programIn(n int, what string, hosting []tractor.Option) int {
	ctx, stop := debuglock.NotifyContext(context.Background())
	defer stop()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		// The calls use Run's ctx, not the nursery's: a killed actor
		// cancels the nursery, and its siblings' calls must go on to
		// their prompts, which supervision waits for before cancelling
		// them.
		return tractor.OpenNursery(ctx, func(_ context.Context, nu *tractor.Nursery) error {
			defer nu.Cancel()
			var ps []*tractor.Portal
			var pids []string
			for i := range n {
				p, err := nu.StartActor(ctx, fmt.Sprintf("w%d", i), tractor.Expose(stopHere, kaboom, pid))
				if err != nil {
					return err
				}
				id, err := pid.Call(ctx, p, struct{}{})
				if err != nil {
					return err
				}
				ps = append(ps, p)
				pids = append(pids, strconv.Itoa(id))
			}
			fmt.Println("pids", strings.Join(pids, " "))
			switch what {
			case "breakpoints":
				var wg sync.WaitGroup
				for _, p := range ps {
					wg.Go(func() {
						res, err := stopHere.Call(ctx, p, struct{}{})
						fmt.Println("result", p.Actor().Name, res, err)
					})
				}
				wg.Wait()
			case "postmortem":
				_, err := kaboom.Call(ctx, ps[0], struct{}{})
				fmt.Println("propagated:", err)
			case "quit":
				res, err := stopHere.Call(ctx, ps[0], struct{}{})
				fmt.Println("result", res, err)
			case "abandoned":
				// The caller gives up on w0 while it is at its prompt
				// (the test signals SIGUSR1 once it sees the prompt),
				// then stops at a breakpoint of its own.
				cctx, cancel := signal.NotifyContext(ctx, syscall.SIGUSR1)
				res, err := stopHere.Call(cctx, ps[0], struct{}{})
				cancel()
				fmt.Println("result", res, err)
				fmt.Println("result root", debuglock.Breakpoint(ctx))
			case "idle":
				fmt.Println("idle")
				<-ctx.Done()
			}
			return nil
		})
	}, append(debuglock.Enable(debuglock.PostMortem()), hosting...)...)
	fmt.Println("program ends:", err)
	if err != nil {
		return 1
	}
	return 0
}

// term is a program running on a pseudo-terminal, and what it printed.
type term struct {
	t   *testing.T
	cmd *exec.Cmd
	pty *os.File

	mu   sync.Mutex
	out  bytes.Buffer
	grew chan struct{} // closed (and replaced) when out grows
	read int           // how much of out expect has consumed
	done chan struct{}
}

func startOnPty(t *testing.T, role string) *term {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	return runOnPty(t, cmd)
}

// runOnPty starts cmd on a pseudo-terminal of its own.
func runOnPty(t *testing.T, cmd *exec.Cmd) *term {
	t.Helper()
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	tm := &term{t: t, cmd: cmd, pty: f, grew: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(tm.done)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			close(tm.grew)
			tm.grew = make(chan struct{})
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		f.Close()
		<-tm.done
	})
	return tm
}

// until waits, up to 20 s, for what the program printed to satisfy ok,
// which runs with tm.mu held each time the output grows; what says what
// was awaited, if it never comes.
func (tm *term) until(what string, ok func(out string) bool) {
	tm.t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		tm.mu.Lock()
		out, grew := tm.out.String(), tm.grew
		done := ok(out)
		tm.mu.Unlock()
		if done {
			return
		}
		select {
		case <-grew:
		case <-deadline.C:
			tm.t.Fatalf("%s within 20s; the terminal shows:\n%s", what, out)
		}
	}
}

// expect waits for re to match what the program printed since the last
// match, and returns the submatches.
func (tm *term) expect(re string) []string {
	tm.t.Helper()
	rx := regexp.MustCompile(re)
	var m []string
	tm.until(fmt.Sprintf("no %q", re), func(out string) bool {
		rest := out[tm.read:]
		loc := rx.FindStringSubmatchIndex(rest)
		if loc == nil {
			return false
		}
		m = rx.FindStringSubmatch(rest)
		tm.read += loc[1]
		return true
	})
	return m
}

// waiters waits until n actors have been told to wait for the terminal
// and returns their names, in the order the root queued them.
func (tm *term) waiters(n int) []string {
	tm.t.Helper()
	rx := regexp.MustCompile(`debuglock: (w\d)\[\w+\] \(pid \d+\) waits for the terminal`)
	var names []string
	tm.until(fmt.Sprintf("not %d waiters", n), func(out string) bool {
		all := rx.FindAllStringSubmatch(out, -1)
		if len(all) < n {
			return false
		}
		for _, m := range all[:n] {
			names = append(names, m[1])
		}
		return true
	})
	return names
}

// count counts the matches of re in everything the program printed.
func (tm *term) count(re string) int {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return len(regexp.MustCompile(re).FindAllString(tm.out.String(), -1))
}

// promptTurns returns the names of the actors that prompted, in order,
// each once per turn: an actor's prompt after a command or redrawn under
// a note is the same turn.
func (tm *term) promptTurns() []string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	var turns []string
	for _, m := range regexp.MustCompile(`\(tractor (\w+)\) `).FindAllStringSubmatch(tm.out.String(), -1) {
		if len(turns) == 0 || turns[len(turns)-1] != m[1] {
			turns = append(turns, m[1])
		}
	}
	return turns
}

func (tm *term) send(s string) {
	if _, err := tm.pty.Write([]byte(s)); err != nil {
		tm.t.Fatal(err)
	}
}

// wait waits for the program to exit and returns its exit code.
func (tm *term) wait() int {
	tm.t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- tm.cmd.Wait() }()
	select {
	case err := <-errc:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			tm.t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		tm.t.Fatal("program did not exit within 20s")
	}
	return -1
}

func gone(pids ...string) bool {
	for _, p := range pids {
		n, _ := strconv.Atoi(p)
		if syscall.Kill(n, 0) == nil {
			return false
		}
	}
	return true
}

// TestBreakpointsInTurn: three process actors hit breakpoints at once;
// the first to ask gets the prompt, the others wait in the order they
// asked and get it one after the other as each continues.
func TestBreakpointsInTurn(t *testing.T) {
	t.Parallel()
	tm := startOnPty(t, "breakpoints")
	tm.expect(`pids \d+ \d+ \d+`)
	first := tm.expect(`debuglock: breakpoint in actor (w\d)\[`)[1]
	tm.expect(`dlv attach \d+`)
	tm.expect(`\(tractor ` + first + `\) `)
	// The two others queue behind it, in the order they asked.
	q := tm.waiters(2)
	w1, w2 := q[0], q[1]
	tm.send("where\n")
	tm.expect(`debuglock_test.go:\d+ \(github.com/tractor-go/tractor/debuglock_test\.init`)
	tm.send("actor\n")
	tm.expect(`actor ` + first + ` uid \w+ pid \d+ parent root`)
	tm.send("c\n")
	tm.expect(`debuglock: breakpoint in actor ` + w1 + `\[`)
	tm.expect(`\(tractor ` + w1 + `\) `)
	tm.send("c\n")
	tm.expect(`debuglock: breakpoint in actor ` + w2 + `\[`)
	tm.expect(`\(tractor ` + w2 + `\) `)
	tm.send("c\n")
	tm.expect(`program ends: <nil>`)
	if n := tm.count(`result w\d continued <nil>`); n != 3 {
		t.Fatalf("%d breakpoints continued, want 3", n)
	}
	if code := tm.wait(); code != 0 {
		t.Fatalf("program exited with %d", code)
	}
}

// TestRootAndGoroutineActors: the root's own breakpoint and a goroutine
// actor's take the same lock as a process actor's, one prompt at a time.
func TestRootAndGoroutineActors(t *testing.T) {
	t.Parallel()
	tm := startOnPty(t, "mixed")
	seen := map[string]bool{}
	for range 3 {
		name := tm.expect(`debuglock: breakpoint in actor (\w+)\[`)[1]
		tm.expect(`\(tractor ` + name + `\) `)
		if seen[name] {
			t.Fatalf("%s prompted twice", name)
		}
		seen[name] = true
		if turns := tm.promptTurns(); len(turns) != len(seen) {
			t.Fatalf("prompts in turns %v: two prompts at once", turns)
		}
		if name == "g0" {
			// The goroutines of this actor: its task, stopped in
			// Breakpoint, and not the root's body, in the same process.
			tm.send("g\n")
			out := tm.expect(`(?s)goroutines of actor g0\[\w+\].*?\(tractor g0\) `)[0]
			if !strings.Contains(out, "debuglock.Breakpoint") || strings.Contains(out, "debuglock_test.mixed") {
				t.Fatalf("goroutines of g0:\n%s", out)
			}
		}
		tm.send("c\n")
	}
	tm.expect(`program ends: <nil>`)
	if !seen["root"] || !seen["g0"] || !seen["p0"] || tm.count(`continued <nil>`) != 2 || tm.count(`result root <nil>`) != 1 {
		t.Fatalf("prompts for %v; the terminal shows:\n%s", seen, tm.out.String())
	}
	if code := tm.wait(); code != 0 {
		t.Fatalf("program exited with %d", code)
	}
}

// TestHolderKilled: the actor at the prompt is killed; the root releases
// the lock by itself and the next waiter gets the prompt.
func TestHolderKilled(t *testing.T) {
	t.Parallel()
	tm := startOnPty(t, "breakpoints")
	tm.expect(`pids \d+ \d+ \d+`)
	m := tm.expect(`debuglock: breakpoint in actor (w\d)\[\w+\] \(pid (\d+),`)
	holder, holderPID := m[1], m[2]
	q := tm.waiters(2)
	next, last := q[0], q[1]
	n, _ := strconv.Atoi(holderPID)
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tm.expect(`debuglock: breakpoint in actor ` + next + `\[`)
	tm.expect(`\(tractor ` + next + `\) `)
	tm.send("c\n")
	// The killed actor fails the tree; supervision waits for the last
	// one's prompt before cancelling it.
	tm.expect(`\(tractor ` + last + `\) `)
	tm.send("c\n")
	tm.expect(`program ends: .*` + holder)
	if code := tm.wait(); code != 1 {
		t.Fatalf("program exited with %d; want 1 (an actor died)", code)
	}
}

// TestPostMortem: a failing task enters the prompt with its error before
// the error propagates; continuing lets it propagate.
func TestPostMortem(t *testing.T) {
	t.Parallel()
	tm := startOnPty(t, "postmortem")
	tm.expect(`pids \d+`)
	tm.expect(`debuglock: post-mortem in actor w0\[`)
	tm.expect(`endpoint "debuglocktest.kaboom" failed: kaboom`)
	tm.expect(`\(tractor w0\) `)
	tm.send("s\n")
	tm.expect(`goroutine \d+`)
	tm.send("c\n")
	tm.expect(`propagated: .*kaboom`)
	if code := tm.wait(); code != 0 {
		t.Fatalf("program exited with %d", code)
	}
}

// TestQuit: quit at a breakpoint cancels the actor, and is not taken for
// a failure: no post-mortem prompt follows it.
func TestQuit(t *testing.T) {
	t.Parallel()
	tm := startOnPty(t, "quit")
	tm.expect(`\(tractor w0\) `)
	tm.send("q\n")
	tm.expect(`cancelling actor w0\[`)
	tm.expect(`result  `)
	tm.expect(`program ends: `)
	tm.wait()
	if n := tm.count(`post-mortem|no terminal lock`); n != 0 {
		t.Fatalf("quit was taken for a failure (%d post-mortems); the terminal shows:\n%s", n, tm.out.String())
	}
}

// TestPromptOutlivesItsCtx: a task whose ctx ends while it is at the
// prompt keeps the terminal until the user continues: nobody else gets a
// prompt on the same terminal meanwhile.
func TestPromptOutlivesItsCtx(t *testing.T) {
	t.Parallel()
	tm := startOnPty(t, "abandoned")
	tm.expect(`\(tractor w0\) `)
	tm.cmd.Process.Signal(syscall.SIGUSR1) // the caller gives up
	tm.expect(`result  .*`)
	// The root, at its breakpoint now, queues behind w0 rather than
	// prompt: the lock says so when it queues it.
	tm.expect(`debuglock: root\[\w+\] \(pid \d+\) waits for the terminal; w0\[\w+\] has it`)
	if n := tm.count(`breakpoint in actor root`); n != 0 {
		t.Fatalf("the root prompted while w0 was at its prompt; the terminal shows:\n%s", tm.out.String())
	}
	tm.send("c\n")
	tm.expect(`\(tractor root\) `)
	tm.send("c\n")
	tm.expect(`result root <nil>`)
	tm.expect(`program ends: <nil>`)
	if code := tm.wait(); code != 0 {
		t.Fatalf("program exited with %d", code)
	}
}

// TestLonelyRoot: the root stops at a breakpoint before it has any
// child; outside an actor Breakpoint says so at once.
func TestLonelyRoot(t *testing.T) {
	t.Parallel()
	tm := startOnPty(t, "lonely")
	tm.expect(`outside .*no actor`)
	tm.expect(`\(tractor root\) `)
	tm.send("c\n")
	tm.expect(`result root <nil>`)
	tm.expect(`program ends: <nil>`)
	tm.wait()
}

// TestCtrlCWhileLocked: Ctrl-C while an actor holds the terminal does not
// tear the tree down; the prompt keeps the terminal.
func TestCtrlCWhileLocked(t *testing.T) {
	t.Parallel()
	tm := startOnPty(t, "postmortem")
	tm.expect(`\(tractor w0\) `)
	tm.send("\x03")
	tm.expect(`Ctrl-C ignored: actor w0\[\w+\] holds the terminal`)
	tm.send("\n") // a fresh prompt line: the prompt is still there
	tm.expect(`\(tractor w0\) `)
	tm.send("c\n")
	tm.expect(`propagated: .*kaboom`)
	tm.expect(`program ends: <nil>`)
	if code := tm.wait(); code != 0 {
		t.Fatalf("program exited with %d", code)
	}
}

// TestCtrlCWhileUnlocked: Ctrl-C with nobody at a prompt cancels the
// tree cleanly; nothing is left running.
func TestCtrlCWhileUnlocked(t *testing.T) {
	t.Parallel()
	tm := startOnPty(t, "idle")
	pids := strings.Fields(tm.expect(`pids (\d+ \d+)`)[1])
	tm.expect(`idle`)
	tm.send("\x03")
	tm.expect(`program ends: context canceled`)
	tm.wait()
	// Run returned only after its actor processes were reaped: none is
	// left, not even as a zombie, once the program has exited.
	if !gone(pids...) {
		t.Fatalf("actor processes %v still exist after Ctrl-C", pids)
	}
}

// TestNoTerminal: without a terminal breakpoints log where they are and
// continue, and post-mortem logs; nothing blocks.
func TestNoTerminal(t *testing.T) {
	t.Parallel()
	for _, role := range []string{"breakpoints", "postmortem"} {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), roleEnv+"="+role)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if ctx.Err() != nil {
				t.Fatalf("blocked without a terminal:\n%s\n%s", out, stderr.String())
			}
			if err != nil {
				t.Fatalf("%v:\n%s\n%s", err, out, stderr.String())
			}
			if !strings.Contains(stderr.String(), "debuglock: no terminal; continuing") {
				t.Fatalf("nothing logged:\n%s", stderr.String())
			}
			if role == "breakpoints" && strings.Count(string(out), "continued <nil>") != 3 {
				t.Fatalf("breakpoints did not all continue:\n%s", out)
			}
			if role == "postmortem" && !strings.Contains(string(out), "propagated:") {
				t.Fatalf("error did not propagate:\n%s", out)
			}
			if role == "postmortem" && !strings.Contains(stderr.String(), `"failure":"kaboom"`) {
				t.Fatalf("post-mortem did not log the error:\n%s", stderr.String())
			}
		})
	}
}

var _ = io.EOF
