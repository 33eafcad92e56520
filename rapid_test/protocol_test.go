package rapid_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
)

var (
	square = tractor.Func("rapid.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
	fail   = tractor.Func("rapid.fail", func(ctx context.Context, msg string) (int, error) {
		return 0, errors.New(msg)
	})
	boom = tractor.Func("rapid.panic", func(ctx context.Context, msg string) (int, error) { panic(msg) })
	nap  = tractor.Func("rapid.nap", func(ctx context.Context, d time.Duration) (int, error) {
		select {
		case <-time.After(d):
			return 1, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	count = tractor.Stream("rapid.count", func(ctx context.Context, n int, yield func(int) error) error {
		for i := range n {
			if err := yield(i); err != nil {
				return err
			}
		}
		return nil
	})
	// echo sends back every item of its two-way stream and returns how
	// many; with selfCancel it cancels its own dialog after Started.
	echo = tractor.Ctx("rapid.echo", func(c *tractor.Context, selfCancel bool) (int, error) {
		if err := c.Started("ready"); err != nil {
			return 0, err
		}
		if selfCancel {
			c.Cancel()
			<-c.Done()
			return 0, c.Err()
		}
		s, err := tractor.OpenStream[int, int](c)
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
			if err := s.Send(c, v); err != nil {
				return n, err
			}
			n++
		}
	})
	// grow opens a nursery of k actors, each busy with a call that runs
	// until cancelled, cancels the nursery, and reports how many of the
	// calls ended by cancellation and how many of the actors are left.
	grow = tractor.Func("rapid.grow", func(ctx context.Context, a growArgs) (growReport, error) {
		k := a.K
		var r growReport
		var mu sync.Mutex
		var names []string
		err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			var wg sync.WaitGroup
			if k < 0 {
				// Cancel the nursery while its children are still
				// connecting: each start fails or its actor is cancelled.
				for i := range -k {
					wg.Go(func() {
						if p, err := n.StartActor(ctx, "leaf-"+strconv.Itoa(i), tractor.Expose(nap)); err == nil {
							mu.Lock()
							names = append(names, p.Actor().UID)
							mu.Unlock()
						}
					})
				}
				n.Cancel()
				wg.Wait()
				return nil
			}
			for i := range k {
				p, err := n.StartActor(ctx, "leaf-"+strconv.Itoa(i), tractor.Expose(nap))
				if err != nil {
					return err
				}
				names = append(names, p.Actor().UID)
				wg.Go(func() {
					// Cancelled, or refused because its actor was already
					// ending: either way the nursery's cancellation.
					_, err := nap.Call(n.Context(), p, time.Hour)
					if errors.Is(err, tractor.ErrContextCancelled) || errors.Is(err, context.Canceled) ||
						errors.Is(err, tractor.ErrActorGone) {
						mu.Lock()
						r.Cancelled++
						mu.Unlock()
					}
				})
			}
			n.Cancel()
			wg.Wait()
			return nil
		})
		if err != nil {
			return r, err
		}
		if a.ByName {
			for i := range max(k, -k) {
				_, err := tractor.FindActor(ctx, "leaf-"+strconv.Itoa(i))
				if err == nil {
					r.Left++
				} else if !errors.Is(err, tractor.ErrActorNotFound) {
					return r, err
				}
			}
			return r, nil
		}
		infos, err := tractor.Actors(ctx)
		if err != nil {
			return r, err
		}
		for _, in := range infos {
			if slices.Contains(names, in.ID.UID) {
				r.Left++
			}
		}
		return r, nil
	})
)

// growArgs asks grow for K leaves (-K: cancelled while they connect).
// ByName has it look for the leaves left by their names (FindActor)
// rather than in the list of every actor (tractor.Actors), which gives
// addresses and so opens this process's peer listener: in a synctest
// bubble that stalls the clock (see tractortest's Config.Bubble). A leaf
// that FindActor reaches is left; one that is registered but gone is
// purged by the lookup unseen, which the list (the other rows) catches.
type growArgs struct {
	K      int
	ByName bool
}

type growReport struct{ Cancelled, Left int }

var (
	// relay answers each item x of its two-way stream with x%3 copies of
	// x, and returns the sum of the items it received: after Limit items,
	// at once, without waiting for the caller's close (unlimited if
	// Limit < 0). Its first value is Limit.
	relay = tractor.Ctx("rapid.relay", func(c *tractor.Context, limit int) (int, error) {
		if err := c.Started(limit); err != nil {
			return 0, err
		}
		s, err := tractor.OpenStream[int, int](c)
		if err != nil {
			return 0, err
		}
		sum := 0
		for n := 0; limit < 0 || n < limit; n++ {
			x, err := s.Receive(c)
			if err == io.EOF {
				break
			} else if err != nil {
				return sum, err
			}
			sum += x
			for range x % 3 {
				if err := s.Send(c, x); err != nil {
					return sum, err
				}
			}
		}
		return sum, nil
	})
	// relayModel is relay's behaviour, for tractortest.Context.
	relayModel = tractortest.CtxModel[int, int, int, int, int]{
		Started: func(limit int) int { return limit },
		Replies: func(limit int, sent []int) ([]int, bool) {
			var items []int
			for _, x := range sent {
				for range x % 3 {
					items = append(items, x)
				}
			}
			return items, limit >= 0 && len(sent) >= limit
		},
		Result: func(limit int, sent []int) int {
			sum := 0
			for _, x := range sent {
				sum += x
			}
			return sum
		},
	}
	// brood starts k process actors of its own and gives their pids as
	// its first value, then waits for its cancellation or its actor's
	// death. With k < 0 it starts -k of them concurrently and gives no
	// pid, at once: they are still connecting.
	brood = tractor.Ctx("rapid.brood", func(c *tractor.Context, k int) (int, error) {
		err := tractor.OpenNursery(c, func(ctx context.Context, n *tractor.Nursery) error {
			var pids []int
			for i := range max(k, -k) {
				start := func(ctx context.Context) error {
					p, err := n.StartActor(ctx, "brood-"+strconv.Itoa(i), tractor.Spawn(tractor.Process))
					if err == nil && k > 0 {
						pids = append(pids, p.Info().PID)
					}
					return err
				}
				if k < 0 {
					n.Go(start)
				} else if err := start(ctx); err != nil {
					return err
				}
			}
			if err := c.Started(pids); err != nil {
				return err
			}
			<-ctx.Done()
			return nil
		})
		return 0, err
	})
)

var cases = []tractortest.Case{
	tractortest.Func(square, rapid.IntRange(-1000, 1000), func(x, r int) error {
		if r != x*x {
			return fmt.Errorf("square(%d) = %d", x, r)
		}
		return nil
	}),
	tractortest.Func(fail, rapid.StringMatching(`[a-z]{1,8}`), func(string, int) error {
		return errors.New("rapid.fail succeeded")
	}),
	tractortest.Func(boom, rapid.StringMatching(`[a-z]{1,8}`), func(string, int) error {
		return errors.New("rapid.panic succeeded")
	}),
	tractortest.Func(nap, rapid.Map(rapid.IntRange(0, 3000), func(us int) time.Duration { return time.Duration(us) * time.Microsecond }), nil),
	tractortest.Stream(count, rapid.IntRange(0, 3000), func(n int, items []int) error {
		for i, v := range items {
			if v != i {
				return fmt.Errorf("count(%d): item %d is %d (lost or reordered)", n, i, v)
			}
		}
		if len(items) != n {
			return fmt.Errorf("count(%d): %d items", n, len(items))
		}
		return nil
	}),
	countPrefix,
	relayCase,
}

var (
	// countPrefix checks that whatever part of count's stream arrives,
	// closed early or cancelled, is a prefix of it.
	countPrefix = tractortest.StreamOf(count, rapid.IntRange(0, 300), func(n int) []int {
		items := make([]int, n)
		for i := range items {
			items[i] = i
		}
		return items
	})
	// relayCase draws two-way exchanges with relay.
	relayCase = tractortest.Context(relay, rapid.IntRange(-1, 12), rapid.IntRange(0, 100), relayModel)
)

var hostings = []struct {
	name string
	opts []tractor.Option
}{
	{"goroutine", nil}, // under WireCheck, the tests' default
	{"goroutine-byref", []tractor.Option{tractor.WireCheck(false)}},
	{"process-pipe", []tractor.Option{tractor.Spawn(tractor.Process)}},
	{"process-tcp", []tractor.Option{tractor.Spawn(tractor.Process), tractor.Transport(tractor.TCP)}},
}

// TestProtocol is the state machine: the harness's steps (start, call,
// stream, cancelled dialogs, cancel and kill workers) with hostile
// payloads, endpoints and exits among them (payloads drawn twice as often
// as Hostile alone draws them), plus two-way contexts cancelled from
// either side, starts cut short while the child connects, and nested
// nurseries cancelled with their leaves.
func TestProtocol(t *testing.T) {
	for _, h := range hostings {
		if testing.Short() && h.name == "process-tcp" {
			// Under -short (where rapid also runs a fifth of its checks),
			// process-pipe's row covers process actors; the short suite
			// runs fewer rows, never fewer semantics.
			continue
		}
		// The in-process rows run in synctest bubbles (tractortest's
		// Config.Bubble), where pauses, naps and grace periods take
		// virtual time: 100 runs cost them about what 40 cost a process
		// row, whose every worker is a process started and ended (about
		// a second of CPU a run with -race). 40 runs over each wire keep
		// several hundred steps crossing processes; the semantics are
		// the same on every row.
		bubble := strings.HasPrefix(h.name, "goroutine")
		t.Run(h.name, func(t *testing.T) {
			if bubble {
				withChecks(t, 100, 20)
			} else {
				withChecks(t, 40, 8)
			}
			tractortest.Check(t, tractortest.Config{
				Bubble:    bubble,
				Options:   h.opts,
				Cases:     append(slices.Clip(cases), tractortest.HostilePayloads()),
				Expose:    []tractor.Endpoint{echo, grow, nap, brood},
				Faults:    true,
				Hostile:   true,
				Invariant: processesMatchModel,
				Actions: map[string]func(*rapid.T, *tractortest.World){
					"context":                     contextDialog,
					"start cut short":             startCutShort,
					"nested nursery cancelled":    nestedCancel(bubble),
					"worker with children killed": broodKilled,
				},
			})
		})
	}
}

// contextDialog opens an echo context, streams k items both ways, and ends
// it one of three ways, checking the single outcome each must have.
func contextDialog(t *rapid.T, w *tractortest.World) {
	wk := w.Pick(t, w.Live())
	if wk == nil {
		return
	}
	how := rapid.SampledFrom([]string{"result", "caller cancels", "callee cancels"}).Draw(t, "ending")
	k := rapid.IntRange(0, 200).Draw(t, "items")
	ctx, cancel := w.StepContext()
	defer cancel()
	defer tractortest.Hung(t, ctx, "context with "+wk.Portal.Actor().String())
	c, err := echo.Open(ctx, wk.Portal, how == "callee cancels")
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if how == "callee cancels" {
		_, err := echo.Result(ctx, c)
		var re *tractor.RemoteError
		if !errors.As(err, &re) || !errors.Is(err, tractor.ErrContextCancelled) || re.Canceller != wk.Portal.Actor() {
			t.Fatalf("self-cancelled callee: %v; want a RemoteError naming %s as canceller", err, wk.Portal.Actor())
		}
		return
	}
	s, err := tractor.OpenStream[int, int](c)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	for i := range k {
		if err := s.Send(ctx, i); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if v, err := s.Receive(ctx); err != nil || v != i {
			t.Fatalf("echo of %d: %d, %v", i, v, err)
		}
	}
	if how == "caller cancels" {
		// One outcome: the cancellation, bare, or the result if the task
		// returned before the cancel reached it.
		c.Cancel()
		if n, err := echo.Result(ctx, c); err != tractor.ErrContextCancelled && (err != nil || n != k) {
			t.Fatalf("caller-cancelled context: %d, %v; want bare ErrContextCancelled or %d", n, err, k)
		}
		return
	}
	s.Close()
	if n, err := echo.Result(ctx, c); err != nil || n != k {
		t.Fatalf("result: %d, %v; want %d", n, err, k)
	}
}

// startCutShort starts a worker with a ctx cancelled after a drawn delay:
// the start either fails with that ctx's error, leaving no process, or
// gives a working actor.
func startCutShort(t *rapid.T, w *tractortest.World) {
	if len(w.Live()) >= 3 {
		w.Idle() // no room for a worker
		return
	}
	after := time.Duration(rapid.IntRange(0, 5000).Draw(t, "cancel start after µs")) * time.Microsecond
	ctx, cancel := w.StepContext()
	defer cancel()
	sctx, stop := context.WithCancel(ctx)
	timer := time.AfterFunc(after, stop)
	defer timer.Stop()
	defer stop()
	p, err := w.Nursery.StartActor(sctx, "hasty", tractor.Expose(square))
	tractortest.Hung(t, ctx, "StartActor cut short")
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("start cut short: %v; want context.Canceled", err)
		}
		return
	}
	if v, err := square.Call(ctx, p, 7); err != nil || v != 49 {
		t.Fatalf("actor started despite the cut: square = %d, %v", v, err)
	}
	if err := p.CancelActor(ctx); err != nil {
		t.Fatalf("cancel: %v", err)
	}
}

// nestedCancel has a worker open a nursery of leaves busy with calls,
// cancel it, and report: every call must end cancelled, every leaf gone.
// Drawn at random, the nursery is instead cancelled while its leaves are
// still connecting: no leaf may be left, no process either (the
// invariant checks /proc after the step). In a bubble the worker looks
// for its leaves by name (see growArgs).
func nestedCancel(bubble bool) func(*rapid.T, *tractortest.World) {
	return func(t *rapid.T, w *tractortest.World) { nestedCancelIn(t, w, bubble) }
}

func nestedCancelIn(t *rapid.T, w *tractortest.World, bubble bool) {
	wk := w.Pick(t, w.Live())
	if wk == nil {
		return
	}
	k := rapid.IntRange(1, 3).Draw(t, "leaves")
	during := rapid.Bool().Draw(t, "cancel while the leaves connect")
	ctx, cancel := w.StepContext()
	defer cancel()
	if during {
		r, err := grow.Call(ctx, wk.Portal, growArgs{-k, bubble})
		tractortest.Hung(t, ctx, "nursery cancelled during its starts")
		if err != nil || r.Left != 0 {
			t.Fatalf("grow(-%d): %+v, %v; want no leaf left", k, r, err)
		}
		return
	}
	r, err := grow.Call(ctx, wk.Portal, growArgs{k, bubble})
	tractortest.Hung(t, ctx, "nested nursery")
	if err != nil {
		t.Fatalf("grow(%d): %v", k, err)
	}
	if r.Cancelled != k || r.Left != 0 {
		t.Fatalf("grow(%d): %d calls cancelled, %d leaves left; want %d and 0", k, r.Cancelled, r.Left, k)
	}
}

// processesMatchModel: the processes below this one are the live process
// workers and nothing else, once the runtime has reaped what ended. A live
// worker's process is there at once: nothing may end it unasked.
func processesMatchModel(t *rapid.T, w *tractortest.World) {
	want := map[int]bool{}
	for _, wk := range w.Live() {
		if wk.PID != os.Getpid() {
			want[wk.PID] = true
		}
	}
	tractortest.Eventually(t, tractortest.StepTimeout, func() error {
		got := tractortest.Descendants(os.Getpid())
		for p := range want {
			if !slices.Contains(got, p) {
				t.Fatalf("process %d of a live worker is gone (processes below us: %v)", p, got)
			}
		}
		if extra := slices.DeleteFunc(slices.Clone(got), func(p int) bool { return want[p] }); len(extra) > 0 {
			return fmt.Errorf("processes %v outlive the model (live workers %v)", extra, want)
		}
		return nil
	})
}

// broodKilled has a process worker start process actors of its own, which
// report their pids, and kills the worker with SIGKILL. Its children,
// orphaned and reparented to init, where a walk down from this process
// no longer finds them, must die with it: the runtime starts every
// process actor with PDEATHSIG set to SIGKILL (spawnproc, on Linux). They
// are watched by the pids they reported (and their start times, so a
// reused pid is no survivor), and drawn at random stopped (SIGSTOP) before
// the kill, so that they cannot end themselves; drawn at random, the worker is killed while
// its children are still connecting, before any reported a pid, and the
// end of the run finds any survivor with tractortest.Kin, by executable,
// process group and the mark the test process leaves in its tree's
// environment. The dialog with the worker fails with its death.
func broodKilled(t *rapid.T, w *tractortest.World) {
	var procs []*tractortest.Worker
	for _, wk := range w.Live() {
		if wk.PID != os.Getpid() {
			procs = append(procs, wk)
		}
	}
	wk := w.Pick(t, procs)
	if wk == nil {
		return
	}
	k := rapid.IntRange(1, 3).Draw(t, "children")
	if rapid.Bool().Draw(t, "kill while they connect") {
		k = -k
	}
	ctx, cancel := w.StepContext()
	defer cancel()
	c, err := brood.Open(ctx, wk.Portal, k)
	tractortest.Hung(t, ctx, "brood")
	if err != nil {
		t.Fatalf("brood(%d) in %s: %v", k, wk.Portal.Actor(), err)
	}
	pids, err := tractor.First[[]int](c)
	if err != nil || len(pids) != max(k, 0) {
		t.Fatalf("brood(%d) in %s: pids %v, %v", k, wk.Portal.Actor(), pids, err)
	}
	var children []tractortest.Proc
	below := tractortest.Descendants(wk.PID)
	for _, pid := range pids {
		p, ok := tractortest.ProcOf(pid)
		if !ok || !slices.Contains(below, pid) {
			t.Fatalf("child %d of worker %s (pid %d) is not running below it (below it: %v)", pid, wk.Portal.Actor(), wk.PID, below)
		}
		children = append(children, p)
	}
	// A stopped child cannot end itself when it finds its parent gone:
	// only the kernel's PDEATHSIG (SIGKILL ends a stopped process) can
	// end it then. Whatever happens, none is left behind.
	if rapid.Bool().Draw(t, "stop the children first") {
		for _, p := range children {
			if err := syscall.Kill(p.PID, syscall.SIGSTOP); err != nil {
				t.Fatalf("stop %d: %v", p.PID, err)
			}
		}
	}
	defer func() {
		for _, p := range children {
			if p.Alive() {
				syscall.Kill(p.PID, syscall.SIGKILL)
			}
		}
	}()
	if err := syscall.Kill(wk.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", wk.PID, err)
	}
	wk.Ended = true
	w.Killed = wk
	_, err = brood.Result(ctx, c)
	tractortest.Hung(t, ctx, "brood of a killed worker")
	var re *tractor.RemoteError
	if !errors.As(err, &re) || re.Actor != wk.Portal.Actor() || !errors.Is(err, tractor.ErrActorGone) {
		t.Fatalf("brood in killed worker %s: %v; want its death, naming it", wk.Portal.Actor(), err)
	}
	tractortest.Eventually(t, tractortest.StepTimeout, func() error {
		for _, p := range children {
			if p.Alive() {
				return fmt.Errorf("child %d of killed worker %s outlives it", p.PID, wk.Portal.Actor())
			}
		}
		return nil
	})
}
