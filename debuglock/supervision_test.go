package debuglock_test

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/debuglock"
)

// supHosting is a way the supervision programs host their actors.
type supHosting struct {
	name string
	opts []tractor.Option
}

var supHostings = []supHosting{
	{"goroutine", nil},
	{"pipe", []tractor.Option{tractor.Spawn(tractor.Process), tractor.Transport(tractor.Pipe)}},
	{"tcp", []tractor.Option{tractor.Spawn(tractor.Process), tractor.Transport(tractor.TCP)}},
}

// cancelStep is the programs' cancel timeout, and ladderTime how long a
// program waits, once an actor has ended, before it says that any cancel
// ladder started then has had time to end a process (two cancel
// timeouts, SIGTERM and its bound before SIGKILL): short, so that the
// tests do not wait long for what must not happen.
const (
	cancelStep = 200 * time.Millisecond
	ladderTime = 4*cancelStep + 2*time.Second
)

var (
	// nest runs stopHere in a one-shot grandchild w0 of the tree, from
	// a nursery of its own actor, and returns how that ended.
	nest = tractor.Func("debuglocktest.nest", func(ctx context.Context, _ struct{}) (string, error) {
		var res string
		err := tractor.OpenNursery(ctx, func(ctx context.Context, nu *tractor.Nursery) error {
			p, err := nu.RunInActor(ctx, "w0", stopHere.Bind(struct{}{}))
			if err != nil {
				return err
			}
			res, err = stopHere.Result(ctx, p)
			return err
		})
		return res, err
	})
)

// stubborn says it runs, and once cancelled takes the terminal anyway.
var stubborn = tractor.Func("debuglocktest.stubborn", func(ctx context.Context, _ struct{}) (string, error) {
	fmt.Println("stubborn runs")
	<-ctx.Done()
	if err := debuglock.Breakpoint(context.WithoutCancel(ctx)); err != nil {
		return "", err
	}
	return "continued", nil
})

func init() {
	for _, h := range supHostings[1:] {
		programs["stubborn-"+h.name] = func() int { return supervised("stubborn", h.opts) }
	}
	for _, h := range supHostings {
		for _, kind := range []string{"oneshots", "daemons", "cluster", "nested", "quit1", "quit2", "rootquit"} {
			programs[kind+"-"+h.name] = func() int { return supervised(kind, h.opts) }
		}
	}
}

// supervised runs a root whose children stop at breakpoints, per kind:
// two one-shot actors w0 and w1 ("oneshots"), two daemons ("daemons"), a
// cluster of two (w-0, w-1, "cluster"); a one-shot w0 that is a
// grandchild, under a one-shot mid, whose nursery's body fails once the
// root gets SIGUSR1 ("nested"); a one-shot w0 ("quit1") or a
// grandchild w0 under a one-shot mid ("quit2"); the root at a
// breakpoint, and a one-shot w0 started once the root gets SIGUSR1
// ("rootquit"). The root prints how each
// ended, then, once a cancel ladder would have ended a process, says
// so; in the end it prints whether its error matches ErrQuit.
func supervised(kind string, hosting []tractor.Option) int {
	opts := append(debuglock.Enable(), tractor.CancelTimeout(cancelStep))
	opts = append(opts, hosting...)
	var (
		mu      sync.Mutex
		marks   []*time.Timer
		passing sync.WaitGroup
	)
	report := func(name string, err error) {
		fmt.Printf("ended %s: %v\n", name, err)
		// Not a synchronisation: a mark that the time a ladder would
		// have taken has passed, for the test to check what did not
		// happen in it.
		passing.Add(1)
		mark := time.AfterFunc(ladderTime, func() {
			defer passing.Done()
			fmt.Printf("ladder passed %s\n", name)
		})
		mu.Lock()
		marks = append(marks, mark)
		mu.Unlock()
	}
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		switch kind {
		case "cluster":
			return cluster(ctx, report)
		case "daemons":
			return daemons(ctx, report)
		}
		// The calls use Run's ctx, not the nursery's: the nursery's
		// cancellation must reach the actors only through supervision.
		out := ctx
		return tractor.OpenNursery(ctx, func(ctx context.Context, nu *tractor.Nursery) error {
			oneShot := func(name string, ep *tractor.FuncEndpoint[struct{}, string]) {
				p, err := nu.RunInActor(ctx, name, ep.Bind(struct{}{}))
				if err != nil {
					report(name, err)
					return
				}
				nu.Go(func(context.Context) error {
					_, err := ep.Result(out, p)
					report(name, err)
					return nil // the nursery has the one-shot's failure
				})
			}
			switch kind {
			case "oneshots":
				oneShot("w0", stopHere)
				oneShot("w1", stopHere)
			case "stubborn":
				// Cancelled by the body's failure, w0 stops at a
				// breakpoint after its cancellation.
				sig, stop := signal.NotifyContext(out, syscall.SIGUSR1)
				defer stop()
				oneShot("w0", stubborn)
				<-sig.Done()
				err := errors.New("kaboom")
				report("body", err)
				return err
			case "quit1":
				oneShot("w0", stopHere)
			case "quit2":
				oneShot("mid", nest)
			case "rootquit":
				sig, stop := signal.NotifyContext(out, syscall.SIGUSR1)
				defer stop()
				nu.Go(func(context.Context) error {
					<-sig.Done()
					oneShot("w0", stopHere)
					return nil
				})
				err := debuglock.Breakpoint(ctx)
				report("root", err)
				return err
			case "nested":
				sig, stop := signal.NotifyContext(out, syscall.SIGUSR1)
				defer stop()
				oneShot("mid", nest)
				<-sig.Done()
				err := errors.New("kaboom")
				report("body", err)
				return err
			}
			return nil
		})
	}, opts...)
	// A mark a test checks it has waited for before it let the program
	// end (it continued the last prompt after it): the marks not passed
	// yet are nobody's, and are dropped rather than waited for.
	mu.Lock()
	for _, mark := range marks {
		if mark.Stop() {
			passing.Done()
		}
	}
	mu.Unlock()
	passing.Wait()
	fmt.Println("program ends:", err)
	fmt.Println("quit matches:", errors.Is(err, debuglock.ErrQuit))
	if err != nil {
		return 1
	}
	return 0
}

// daemons has two daemons w0 and w1 stop at breakpoints, each called from
// a task of the nursery: the first call to fail fails the nursery.
func daemons(ctx context.Context, report func(string, error)) error {
	out := ctx
	return tractor.OpenNursery(ctx, func(ctx context.Context, nu *tractor.Nursery) error {
		defer nu.Cancel()
		var calls sync.WaitGroup
		for _, name := range []string{"w0", "w1"} {
			p, err := nu.StartActor(ctx, name, tractor.Expose(stopHere))
			if err != nil {
				return err
			}
			calls.Add(1)
			nu.Go(func(context.Context) error {
				defer calls.Done()
				_, err := stopHere.Call(out, p, struct{}{})
				report(name, err)
				return err
			})
		}
		calls.Wait()
		return nil
	})
}

// cluster has the two workers of a cluster stop at breakpoints; the
// cluster's body returns the first call's failure at once.
func cluster(ctx context.Context, report func(string, error)) error {
	out := ctx
	var calls sync.WaitGroup
	defer calls.Wait()
	return tractor.OpenCluster(ctx, "w", 2, func(ctx context.Context, workers []*tractor.Portal) error {
		errc := make(chan error, len(workers))
		for _, p := range workers {
			calls.Go(func() {
				_, err := stopHere.Call(out, p, struct{}{})
				report(p.Actor().Name, err)
				errc <- err
			})
		}
		for range workers {
			if err := <-errc; err != nil {
				return err
			}
		}
		return nil
	}, tractor.Expose(stopHere))
}

// seen waits until re matches anywhere in what the program printed, and
// returns the submatches; it does not move expect's mark.
func (tm *term) seen(re string) []string {
	tm.t.Helper()
	rx := regexp.MustCompile(re)
	var m []string
	tm.until(fmt.Sprintf("no %q", re), func(out string) bool {
		m = rx.FindStringSubmatch(out)
		return m != nil
	})
	return m
}

// mark moves expect's mark to the end of what the program printed.
func (tm *term) mark() {
	tm.mu.Lock()
	tm.read = tm.out.Len()
	tm.mu.Unlock()
}

// usable checks that name's prompt answers a command.
func (tm *term) usable(name string) {
	tm.t.Helper()
	tm.seen(`\(tractor ` + name + `\) `)
	tm.mark()
	tm.send("actor\n")
	tm.expect(`actor ` + name + ` uid \w+ pid \d+`)
	tm.expect(`\(tractor ` + name + `\) `)
}

// unharmed fails the test if supervision cut a prompt short: a process
// terminated, a task cancelled while it waited for the terminal.
func (tm *term) unharmed() {
	tm.t.Helper()
	if n := tm.count(`terminating its process|did not acknowledge|acquiring the terminal`); n != 0 {
		tm.t.Fatalf("supervision did not wait for the terminal; the terminal shows:\n%s", tm.out.String())
	}
}

// first waits for the first prompt and the note that the other actor
// waits behind it, and returns the two names and the holder's pid.
func (tm *term) first() (holder, pid, waiter string) {
	tm.t.Helper()
	m := tm.seen(`breakpoint in actor (w-?\d)\[\w+\] \(pid (\d+),`)
	holder, pid = m[1], m[2]
	tm.seen(`\(tractor ` + holder + `\) `)
	waiter = tm.seen(`debuglock: (w-?\d)\[\w+\] \(pid \d+\) waits for the terminal`)[1]
	return holder, pid, waiter
}

// hostingsOf returns the hostings a test runs: under -short, not tcp.
func hostingsOf(process bool) []supHosting {
	var hs []supHosting
	for _, h := range supHostings {
		if process && h.name == "goroutine" || testing.Short() && h.name == "tcp" {
			continue
		}
		hs = append(hs, h)
	}
	return hs
}

// TestQuitWithQueuedSibling: quit at the prompt of one of two actors
// that stopped at breakpoints fails the nursery; supervision waits for
// the sibling queued behind it, whose prompt opens and stays usable past
// any cancel ladder, for one-shots, daemons and a cluster.
func TestQuitWithQueuedSibling(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"oneshots", "daemons", "cluster"} {
		for _, h := range hostingsOf(false) {
			t.Run(kind+"/"+h.name, func(t *testing.T) {
				t.Parallel()
				tm := startOnPty(t, kind+"-"+h.name)
				holder, _, waiter := tm.first()
				tm.send("q\n")
				tm.seen(`ended ` + holder + `: .*quit at the prompt`)
				tm.seen(`ladder passed ` + holder)
				tm.usable(waiter)
				tm.send("c\n")
				tm.seen(`ended ` + waiter + `: <nil>`)
				tm.seen(`program ends: .*quit at the prompt`)
				tm.seen(`quit matches: true`)
				tm.unharmed()
				if code := tm.wait(); code != 1 {
					t.Fatalf("program exited with %d; want 1 (quit)", code)
				}
			})
		}
	}
}

// TestOneShotHolderKilled: of two one-shot process actors at breakpoints,
// the holder is killed; the waiter's prompt opens and stays usable past
// any cancel ladder, and continues cleanly.
func TestOneShotHolderKilled(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"oneshots", "daemons"} {
		for _, h := range hostingsOf(true) {
			t.Run(kind+"/"+h.name, func(t *testing.T) {
				t.Parallel()
				tm := startOnPty(t, kind+"-"+h.name)
				holder, pid, waiter := tm.first()
				n, _ := strconv.Atoi(pid)
				if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				tm.seen(`ended ` + holder + `: .*`)
				tm.seen(`ladder passed ` + holder)
				tm.usable(waiter)
				tm.send("c\n")
				tm.seen(`ended ` + waiter + `: <nil>`)
				tm.seen(`program ends: .*` + holder)
				tm.unharmed()
				if code := tm.wait(); code != 1 {
					t.Fatalf("program exited with %d; want 1 (an actor died)", code)
				}
				t.Logf("the session:\n%s", transcript(tm))
			})
		}
	}
}

// TestNestedHolder: a grandchild holds the terminal when the body of the
// root's nursery fails: the nursery waits before it cancels the parent,
// and the grandchild's prompt stays usable past any cancel ladder.
func TestNestedHolder(t *testing.T) {
	t.Parallel()
	for _, h := range hostingsOf(false) {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			tm := startOnPty(t, "nested-"+h.name)
			tm.seen(`\(tractor w0\) `)
			tm.cmd.Process.Signal(syscall.SIGUSR1)
			tm.seen(`ended body: kaboom`)
			tm.seen(`ladder passed body`)
			tm.usable("w0")
			tm.send("c\n")
			tm.seen(`ended mid: `)
			tm.seen(`program ends: .*kaboom`)
			tm.unharmed()
			if code := tm.wait(); code != 1 {
				t.Fatalf("program exited with %d; want 1 (the body failed)", code)
			}
		})
	}
}

// TestQuitCrossesActors: quit at the prompt of a child, or of a
// grandchild, reaches the root as an error matching ErrQuit.
func TestQuitCrossesActors(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"quit1", "quit2"} {
		for _, h := range hostingsOf(false) {
			t.Run(kind+"/"+h.name, func(t *testing.T) {
				t.Parallel()
				tm := startOnPty(t, kind+"-"+h.name)
				tm.seen(`\(tractor w0\) `)
				tm.send("q\n")
				tm.seen(`program ends: `)
				tm.seen(`quit matches: (true|false)`)
				if tm.count(`quit matches: true`) != 1 {
					t.Fatalf("the root's error does not match ErrQuit; the terminal shows:\n%s", tm.out.String())
				}
				tm.wait()
			})
		}
	}
}

// TestLadderWaitsForTheTerminal: a process actor that takes the terminal
// once cancelled is not terminated by the cancel ladder while its prompt
// is open.
func TestLadderWaitsForTheTerminal(t *testing.T) {
	t.Parallel()
	for _, h := range hostingsOf(true) {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			tm := startOnPty(t, "stubborn-"+h.name)
			tm.seen(`stubborn runs`)
			tm.cmd.Process.Signal(syscall.SIGUSR1)
			tm.seen(`\(tractor w0\) `)
			tm.seen(`ladder passed body`)
			tm.usable("w0")
			tm.send("c\n")
			tm.seen(`program ends: .*kaboom`)
			if n := tm.count(`terminating its process`); n != 0 {
				t.Fatalf("the ladder terminated the actor at its prompt; the terminal shows:\n%s", tm.out.String())
			}
			if code := tm.wait(); code != 1 {
				t.Fatalf("program exited with %d; want 1 (the body failed)", code)
			}
		})
	}
}

// TestQuitAtTheRoot: quit at the root's prompt, with a child queued
// behind it, cancels the tree, but the child's prompt opens first and
// is usable: the root's own cancellation does not end the lock it
// serves, nor is its release taken for its going away.
func TestQuitAtTheRoot(t *testing.T) {
	t.Parallel()
	for _, h := range hostingsOf(false) {
		t.Run(h.name, func(t *testing.T) {
			t.Parallel()
			tm := startOnPty(t, "rootquit-"+h.name)
			tm.seen(`\(tractor root\) `)
			tm.cmd.Process.Signal(syscall.SIGUSR1)
			tm.seen(`debuglock: w0\[\w+\] \(pid \d+\) waits for the terminal; root\[\w+\] has it`)
			tm.send("q\n")
			tm.usable("w0")
			tm.send("c\n")
			tm.seen(`ended root: .*quit at the prompt`)
			tm.seen(`program ends: .*quit at the prompt`)
			tm.seen(`quit matches: (true|false)`)
			tm.unharmed()
			if tm.count(`quit matches: true`) != 1 || tm.count(`went away`) != 0 {
				t.Fatalf("want the root's error to match ErrQuit, and no holder that went away; the terminal shows:\n%s", tm.out.String())
			}
			if code := tm.wait(); code != 1 {
				t.Fatalf("program exited with %d; want 1 (quit)", code)
			}
		})
	}
}
