// Package tractortest property-tests endpoints against the runtime's
// invariants, with pgregory.net/rapid: given endpoints and generators of
// their arguments, [Check] starts actors on a chosen hosting, drives random
// dialogs with them, cancels some, cancels or kills actors, and checks
// after every step that each dialog ended in exactly one outcome, that
// errors name the actor they came from, that nothing hangs, and at the end
// that no actor, goroutine or process outlived its nursery, besides the
// invariants the caller adds. With [Config.Hostile] it also draws what
// the runtime must survive from its users: messages that cannot travel
// between processes (over the frame limit, however well they compress, or
// not encodable), endpoints whose errors panic, and process actors that
// exit slowly. A failure shrinks to a minimal sequence of steps, which
// rapid prints.
//
// The number of runs and of steps per run are rapid's: the flags
// -rapid.checks and -rapid.steps, or the environment variables
// RAPID_CHECKS and RAPID_STEPS (defaults 100 and 30).
package tractortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/tractor-go/tractor"
)

// StepTimeout bounds every step: a step that takes longer is a hang, and
// fails the property with the steps that led to it.
const StepTimeout = 10 * time.Second

// Config says what [Check] tests and how.
type Config struct {
	// Options are given to the root (tractor.Run): they choose the
	// workers' hosting, such as tractor.Spawn(tractor.Process).
	Options []tractor.Option
	// Cases are the dialogs drawn at random: see [Func], [Stream],
	// [StreamOf] and [Context].
	Cases []Case
	// Expose lists endpoints the workers serve besides the cases'.
	Expose []tractor.Endpoint
	// MaxWorkers bounds how many workers live at once (default 3).
	MaxWorkers int
	// Faults adds steps that cancel workers and, for process workers,
	// kill them with SIGKILL.
	Faults bool
	// Hostile adds to the cases drawn one that is, drawn each time,
	// [HostilePayloads] or [HostileEndpoints]: dialogs carrying messages
	// that cannot travel between processes, and endpoints whose errors
	// panic when boxed; as one case among the others, they stay a modest
	// share of a run's dialogs, whose payloads are tens of MiB. It also
	// makes process actors exit slowly: each run draws the tree's
	// [tractor.ExitGrace] among the default and graces far shorter than
	// a process takes to exit, so that actors that acknowledged their
	// cancellation are still running when their nursery's grace is over
	// and are ended by its SIGTERM, as a child built with -race (which
	// sleeps a second at exit) may be under the default grace. Such an
	// end is no failure: the user asked for it.
	Hostile bool
	// Links adds a step that starts a worker whose connection carries
	// faults drawn for it (see tractor.InjectFaults): delays and frames
	// split at random points or at every byte, which must change no
	// outcome; a worker told a window larger than its parent's, whose
	// overrun must fail its stream with a protocol error naming it; a
	// connection cut, or a frame corrupted, after a drawn number of
	// frames, which must fail the worker's dialogs with ErrActorGone
	// naming it, never with a wrong value, and ends the run's steps as a
	// kill does. Faults apply to what crosses a connection: a process
	// worker's every dialog, a goroutine worker's streams under WireCheck.
	Links bool
	// Invariant, if set, is checked before the first step and after every
	// step, until a worker is killed (see [World.Killed]). It fails the
	// property with t.Fatalf.
	Invariant func(t *rapid.T, w *World)
	// Actions are further steps, drawn like the built-in ones, by name.
	// Each runs between steps, with nothing else running; one that finds
	// nothing to do calls [World.Idle]. None is drawn once a worker is
	// killed.
	Actions map[string]func(t *rapid.T, w *World)
	// Bubble runs each run inside a testing/synctest bubble, in virtual
	// time: a hang fails its step at once, and shrinks fast. Workers must
	// be goroutines (see bubble.go). It needs [Check]'s *testing.T:
	// [Run] refuses it.
	Bubble bool
}

// World is the state a run builds: the root's ctx, the nursery the
// workers live in, and the workers.
type World struct {
	Ctx     context.Context
	Nursery *tractor.Nursery
	Workers []*Worker
	// Killed is set once a worker was killed: its death fails the nursery,
	// which cancels everything, so the run stops drawing steps.
	Killed *Worker

	cfg    Config
	serial int
	steps  int
	// hostile counts the hostile dialogs run (see Config.Hostile).
	hostile int
	broken  int     // faulty links that broke, see startFaultyWorker
	idle    bool    // the current step found nothing to do
	dialog  *Worker // the worker of the dialog step running, if one is
}

// Idle marks the current step as one that found nothing to do (no worker
// to pick, no room for one): it stays a valid step, as rapid gives up on
// runs where too many steps in a row are skipped, but is not counted.
func (w *World) Idle() { w.idle = true }

// Worker is a daemon actor of the run.
type Worker struct {
	Portal *tractor.Portal
	// PID is the process the worker runs in, from the registry: this
	// process's for a goroutine worker.
	PID int
	// Ended is set once the worker was cancelled or killed: its dialogs
	// must then fail with tractor.ErrActorGone.
	Ended bool

	// encodes says whether the values of the worker's dialogs are encoded
	// on their way, as between processes, rather than passed by reference
	// (see byReference).
	encodes bool
	// link is the fault injected into its connection, if any.
	link *link
}

// probeMutate changes the map it received: its caller sees the change if
// and only if the map was passed by reference.
var probeMutate = tractor.Func("tractortest.probe.mutate", func(ctx context.Context, m map[string]bool) (struct{}, error) {
	m["mutated"] = true
	return struct{}{}, nil
})

// byReference says whether the values of dialogs over p travel by
// reference: never to an actor of another process; to one of this
// process unless tractor.WireCheck is on for it, which Check cannot read
// from its Options, so it asks the actor, which must expose probeMutate.
func byReference(ctx context.Context, p *tractor.Portal, pid int) (bool, error) {
	if pid != os.Getpid() {
		return false, nil
	}
	m := map[string]bool{}
	if _, err := probeMutate.Call(ctx, p, m); err != nil {
		return false, fmt.Errorf("probe of %s: %w", p.Actor(), err)
	}
	return m["mutated"], nil
}

// GoString names the worker in the steps rapid prints.
func (wk *Worker) GoString() string {
	return fmt.Sprintf("worker %s (pid %d, ended %v)", wk.Portal.Actor(), wk.PID, wk.Ended)
}

// Case is a kind of dialog Check draws: make one with [Func], [Stream],
// [StreamOf] or [Context].
type Case interface {
	// GoString names the case in a run's steps and in the name [Run]
	// keeps its failures under.
	fmt.GoStringer
	// endpoints are the endpoints its dialogs need a worker to expose.
	endpoints() []tractor.Endpoint
	// run draws an argument, runs the dialog with w within ctx, checks its
	// outcome, and returns an error describing a violation.
	run(t *rapid.T, ctx context.Context, w *Worker) error
}

// Func is a [Case] that calls fn with arguments drawn from arg and checks
// each successful result with check (which may be nil). A failure of the
// endpoint is allowed, but must be a *tractor.RemoteError that comes from
// the worker, and not the runtime's report of a lost connection
// (tractor.ErrActorGone) or of a cancellation nobody asked for.
func Func[A, R any](fn *tractor.FuncEndpoint[A, R], arg *rapid.Generator[A], check func(arg A, res R) error) Case {
	return funcCase[A, R]{fn, arg, check}
}

type funcCase[A, R any] struct {
	fn    *tractor.FuncEndpoint[A, R]
	arg   *rapid.Generator[A]
	check func(A, R) error
}

func (c funcCase[A, R]) endpoints() []tractor.Endpoint { return []tractor.Endpoint{c.fn} }

// GoString names the case in the steps rapid prints.
func (c funcCase[A, R]) GoString() string { return "call " + c.fn.Name() }

func (c funcCase[A, R]) run(t *rapid.T, ctx context.Context, w *Worker) error {
	a := c.arg.Draw(t, c.fn.Name()+" argument")
	res, err := c.fn.Call(ctx, w.Portal, a)
	if err != nil {
		return outcomeError(ctx, w, err)
	}
	if w.Ended {
		return fmt.Errorf("call to ended actor %s succeeded", w.Portal.Actor())
	}
	if c.check != nil {
		return c.check(a, res)
	}
	return nil
}

// Stream is a [Case] that opens a stream from gen with arguments drawn from
// arg, receives its items (or, drawn at random, closes it early), and
// checks the items of every stream received to its end with check (which
// may be nil).
func Stream[A, T any](gen *tractor.StreamEndpoint[A, T], arg *rapid.Generator[A], check func(arg A, items []T) error) Case {
	return streamCase[A, T]{gen, arg, check}
}

type streamCase[A, T any] struct {
	gen   *tractor.StreamEndpoint[A, T]
	arg   *rapid.Generator[A]
	check func(A, []T) error
}

func (c streamCase[A, T]) endpoints() []tractor.Endpoint { return []tractor.Endpoint{c.gen} }

// GoString names the case in the steps rapid prints.
func (c streamCase[A, T]) GoString() string { return "stream " + c.gen.Name() }

func (c streamCase[A, T]) run(t *rapid.T, ctx context.Context, w *Worker) error {
	a := c.arg.Draw(t, c.gen.Name()+" argument")
	stopAfter := rapid.IntRange(-1, 20).Draw(t, "close after (-1: never)")
	s, err := c.gen.Open(ctx, w.Portal, a)
	if err != nil {
		return outcomeError(ctx, w, err)
	}
	defer s.Close()
	var items []T
	for {
		if len(items) == stopAfter {
			return s.Close() // closing early cancels the generator
		}
		v, err := s.Receive(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return outcomeError(ctx, w, err)
		}
		items = append(items, v)
	}
	if w.Ended {
		return fmt.Errorf("stream from ended actor %s ended cleanly", w.Portal.Actor())
	}
	if c.check != nil {
		return c.check(a, items)
	}
	return nil
}

// protocolError is the type of the runtime's report that a peer broke the
// protocol, such as sending past its credit window.
const protocolError = "tractor.ProtocolError"

// outcomeError checks a dialog's failure: a cancellation the caller asked
// for, or an error from the worker that names it. An ended worker's dialogs
// (all opened after its end) must fail with ErrActorGone. A live worker's
// may fail only with the endpoint's own error: the runtime's reports of a
// lost connection, a missing endpoint, a protocol error (which only a
// worker whose link ignores its credit may cause, see [link.accepts]) or a
// cancellation nobody but the worker itself asked for are violations.
func outcomeError(ctx context.Context, w *Worker, err error) error {
	if w.link.accepts(w, err) {
		return nil
	}
	return checkOutcome(ctx, w.Portal.Actor(), w.Ended, err)
}

func checkOutcome(ctx context.Context, actor tractor.ActorID, ended bool, err error) error {
	if ctx.Err() != nil && (errors.Is(err, ctx.Err()) || errors.Is(err, tractor.ErrContextCancelled)) {
		return nil // the caller's own cancellation
	}
	var re *tractor.RemoteError
	if !errors.As(err, &re) {
		return fmt.Errorf("dialog with %s failed with %v (%T), not a *tractor.RemoteError", actor, err, err)
	}
	if len(re.RelayPath) == 0 {
		return fmt.Errorf("error %v from %s has an empty relay path", err, actor)
	}
	if last := re.RelayPath[len(re.RelayPath)-1]; last != actor {
		return fmt.Errorf("error %v reached us from %s, not from %s", err, last, actor)
	}
	if ended {
		if !errors.Is(err, tractor.ErrActorGone) {
			return fmt.Errorf("dialog with ended actor %s: %v, which does not match ErrActorGone", actor, err)
		}
		return nil
	}
	if re.Type == protocolError {
		return fmt.Errorf("dialog with live actor %s: %v: a protocol error, though its link keeps the protocol", actor, err)
	}
	for _, sentinel := range []error{tractor.ErrActorGone, tractor.ErrNotExposed, tractor.ErrUnknownEndpoint} {
		if errors.Is(err, sentinel) {
			return fmt.Errorf("dialog with live actor %s: %v, which matches %v", actor, err, sentinel)
		}
	}
	if errors.Is(err, tractor.ErrContextCancelled) && re.Canceller != actor {
		return fmt.Errorf("dialog with live actor %s: %v: cancelled by %s, though neither the caller nor the worker cancelled it", actor, err, re.Canceller)
	}
	return nil
}

// Check runs the property: rapid draws sequences of steps (start a
// worker, run a case, run a case cancelled after a drawn delay, and with
// Faults cancel or kill a worker, plus cfg.Actions) and checks the
// invariants after each and at the end.
func Check(t *testing.T, cfg Config) {
	t.Helper()
	check(t, cfg, t)
}

// Run runs the property as [Check] does, for a caller that has no
// *testing.T, such as an Example: it returns nil if the property held, or
// an error holding rapid's report (the failure and the steps that led to
// it). Like Check, it reads rapid's flags, so it runs in a test binary.
func Run(cfg Config) error {
	r := reporter{name: runName(cfg)}
	done := make(chan struct{})
	go func() { // FailNow ends this goroutine, as it ends a test's
		defer close(done)
		check(&r, cfg, nil)
	}()
	<-done
	if !r.failed {
		return nil
	}
	return fmt.Errorf("tractortest: property failed:\n%s", r.log.String())
}

// check is Check with any rapid.TB: a *testing.T, or Run's reporter; bt
// is the test whose bubbles the runs use with cfg.Bubble.
func check(t rapid.TB, cfg Config, bt *testing.T) {
	t.Helper()
	markKin()
	if !cfg.Bubble {
		bt = nil
	} else if bt == nil {
		t.Fatalf("tractortest: Config.Bubble needs a *testing.T: use Check")
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = 3
	}
	if cfg.Hostile {
		cfg.Cases = append(slices.Clone(cfg.Cases), hostileCase{})
	}
	runs, steps, hostile, broken := 0, 0, 0, 0
	rapid.Check(t, func(rt *rapid.T) {
		runs++
		w := runOnce(rt, cfg, bt)
		steps += w.steps
		hostile += w.hostile
		broken += w.broken
	})
	t.Logf("%d runs, %d steps taken (idle ones not counted), %d of them hostile dialogs; %d links broke mid-dialog", runs, steps, hostile, broken)
}

// run is one run of the property; it returns the world it built, which
// counts the steps it took.
//
// The tree runs in a goroutine of its own and the steps in rapid's, so
// that a tree that does not end fails the property within a bound instead
// of hanging the test: a nursery awaits a goroutine actor whose task
// ignores its ctx forever, and it would also hold back a failed step's
// report, which unwinds through the nursery. For the same reason only the
// tree's end is bounded, not the whole run, whose length grows with the
// number of steps.
func run(rt *rapid.T, cfg Config) *World {
	baseline := goleak.IgnoreCurrent()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &World{cfg: cfg}
	// The tree logs to the run's log (given Options may say otherwise), so
	// a warning shows beside the run it belongs to, and only if it fails
	// or under -v. A tree that outlives its bound logs nowhere after.
	logs := &runLog{t: rt}
	defer logs.close()
	opts := append([]tractor.Option{tractor.LogOutput(logs)}, cfg.Options...)
	if cfg.Hostile {
		// 0 stands for the default grace.
		grace := rapid.SampledFrom(slowExitGraces).Draw(rt, "exit grace")
		if grace > 0 {
			opts = append(slices.Clip(opts), tractor.ExitGrace(grace))
		}
	}
	ready, stop, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- tractor.Run(ctx, func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				w.Ctx, w.Nursery = ctx, n
				close(ready)
				<-stop
				n.Cancel()
				return nil
			})
		}, opts...)
	}()
	select {
	case <-ready:
	case err := <-done:
		fatalf(rt, "tractor.Run: %v", err)
	}
	var err error
	ended := false
	func() {
		// Also when a step failed: end the tree, within the bound.
		defer func() {
			close(stop)
			select {
			case err = <-done:
				ended = true
			case <-time.After(StepTimeout):
				rt.Logf("the tree did not end within %v once its nursery was cancelled", StepTimeout)
			}
		}()
		rt.Repeat(w.actions())
	}()
	if !ended {
		fatalf(rt, "the tree did not end within %v once its nursery was cancelled", StepTimeout)
	}
	if w.Killed != nil {
		var re *tractor.RemoteError
		broken := w.Killed.link != nil && err == nil // a lost link need not be a death
		if !broken && (!errors.As(err, &re) || re.Actor != w.Killed.Portal.Actor() || !errors.Is(err, tractor.ErrActorGone)) {
			fatalf(rt, "nursery of killed actor %s returned %v; want its death, naming it", w.Killed.Portal.Actor(), err)
		}
	} else if err != nil && !w.excuses(err) {
		fatalf(rt, "tree failed: %v", err)
	}
	if pids := Descendants(os.Getpid()); len(pids) > 0 {
		fatalf(rt, "processes outlived their nursery: %v", pids)
	}
	// Orphans, which the kernel ends when their parent dies, may not
	// have run their end yet.
	Eventually(rt, StepTimeout, func() error {
		if pids := Kin(); len(pids) > 0 {
			return fmt.Errorf("processes of the tree, orphaned, outlived their nursery: %v", pids)
		}
		return nil
	})
	if err := goleak.Find(baseline); err != nil {
		fatalf(rt, "goroutines outlived their nursery: %v", err)
	}
	return w
}

func (w *World) actions() map[string]func(*rapid.T) {
	acts := map[string]func(*rapid.T){
		"start worker": w.startWorker,
		"call":         func(t *rapid.T) { w.call(t, false) },
		"cancelled call": func(t *rapid.T) {
			w.call(t, true)
		},
		// Always valid, so a run goes on (and lets time pass) once
		// nothing else is.
		"pause": func(t *rapid.T) {
			time.Sleep(time.Duration(rapid.IntRange(0, 2000).Draw(t, "pause µs")) * time.Microsecond)
		},
		"": func(t *rapid.T) {
			if w.Killed != nil {
				return
			}
			if why := w.unasked(); why != nil {
				fatalf(t, "%v", why)
			}
			if w.cfg.Invariant != nil {
				w.cfg.Invariant(t, w)
			}
		},
	}
	if w.cfg.Links {
		acts["start faulty worker"] = w.startFaultyWorker
	}
	if w.cfg.Faults {
		acts["cancel worker"] = w.cancelWorker
		acts["kill worker"] = w.killWorker
	}
	for name, f := range w.cfg.Actions {
		acts[name] = func(t *rapid.T) {
			if w.Killed != nil {
				w.Idle() // the nursery is failing
				return
			}
			f(t, w)
		}
	}
	for name, f := range acts {
		if name != "" {
			acts[name] = func(t *rapid.T) {
				w.idle = false
				f(t)
				if !w.idle {
					w.steps++
				}
			}
		}
	}
	return acts
}

// unasked returns, if the nursery was cancelled though no worker was
// killed, why: only a death may cancel it. It returns nil otherwise.
func (w *World) unasked() error {
	if w.Killed != nil || w.Nursery.Context().Err() == nil || w.lostLink() {
		return nil
	}
	return fmt.Errorf("the nursery was cancelled, though no worker was killed: %w", context.Cause(w.Nursery.Context()))
}

// fail fails the property with a step's failure, led by the nursery's
// unasked cancellation if there was one: the steps after it fail because
// of it, and it is the violation to report. It returns, the step
// excused, if the nursery is failing because a faulty link lost its
// worker (see Config.Links), at a moment no step can know, and the step
// is not a dialog with that worker (whose outcomes the link judges).
func (w *World) fail(t *rapid.T, format string, args ...any) {
	if why := w.unasked(); why != nil {
		fatalf(t, "%v (then: %s)", why, fmt.Sprintf(format, args...))
	}
	if w.Killed != nil && w.Killed.link != nil && w.Killed != w.dialog {
		t.Logf("after %s lost its link: %s", w.Killed.Portal.Actor(), fmt.Sprintf(format, args...))
		return
	}
	fatalf(t, format, args...)
}

// Live returns the workers not ended.
func (w *World) Live() []*Worker {
	var out []*Worker
	for _, wk := range w.Workers {
		if !wk.Ended {
			out = append(out, wk)
		}
	}
	return out
}

// Pick draws one of workers; if there is none it returns nil and marks
// the step idle (see [World.Idle]).
func (w *World) Pick(t *rapid.T, workers []*Worker) *Worker {
	if len(workers) == 0 {
		w.Idle()
		return nil
	}
	return rapid.SampledFrom(workers).Draw(t, "worker")
}

// StepContext returns a ctx bounded by StepTimeout, for one step.
func (w *World) StepContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(w.Ctx, StepTimeout)
}

// Hung fails the property if ctx, from StepContext, timed out.
func Hung(t *rapid.T, ctx context.Context, what string) {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fatalf(t, "%s hung: no outcome within %v", what, StepTimeout)
	}
}

func (w *World) startWorker(t *rapid.T) { w.startWith(t, nil) }

// startWith starts a worker, its connection faulty if l is not nil.
func (w *World) startWith(t *rapid.T, l *link) {
	if w.Killed != nil || len(w.Live()) >= w.cfg.MaxWorkers {
		w.Idle() // no room for a worker
		return
	}
	eps := append([]tractor.Endpoint{probeMutate}, w.cfg.Expose...)
	for _, c := range w.cfg.Cases {
		for _, ep := range c.endpoints() {
			if !slices.ContainsFunc(eps, func(e tractor.Endpoint) bool { return e.Name() == ep.Name() }) {
				eps = append(eps, ep)
			}
		}
	}
	ctx, cancel := w.StepContext()
	defer cancel()
	w.serial++
	opts := []tractor.Option{tractor.Expose(eps...)}
	if l != nil {
		opts = append(opts, tractor.InjectFaults(l.faults))
	}
	p, err := w.Nursery.StartActor(ctx, "worker-"+strconv.Itoa(w.serial), opts...)
	Hung(t, ctx, "StartActor")
	if err != nil {
		w.fail(t, "StartActor: %v", err)
		return
	}
	pid, err := w.registeredPID(ctx, p)
	if err != nil {
		fatalf(t, "%v", err)
	}
	wk := &Worker{Portal: p, PID: pid, link: l}
	byRef, err := byReference(ctx, p, pid)
	Hung(t, ctx, "probe of "+p.Actor().String())
	if err != nil {
		w.fail(t, "%v", err)
		return
	}
	wk.encodes = !byRef
	w.Workers = append(w.Workers, wk)
}

func (w *World) call(t *rapid.T, cancelled bool) {
	if w.Killed != nil || len(w.cfg.Cases) == 0 {
		w.Idle()
		return
	}
	wk := w.Pick(t, w.Workers)
	if wk == nil {
		return
	}
	c := rapid.SampledFrom(w.cfg.Cases).Draw(t, "case")
	switch c.(type) {
	case hostileCase, hostilePayloads, hostileEndpoints:
		w.hostile++
	}
	ctx, cancel := w.StepContext()
	defer cancel()
	dctx := ctx
	if cancelled {
		after := time.Duration(rapid.IntRange(0, 2000).Draw(t, "cancel after µs")) * time.Microsecond
		var stop context.CancelFunc
		dctx, stop = context.WithCancel(ctx)
		defer stop()
		timer := time.AfterFunc(after, stop)
		defer timer.Stop()
	}
	w.runCase(t, ctx, dctx, wk, c)
}

// runCase runs a dialog of case c with wk within dctx, derived from ctx,
// the step's, and fails the property if it hung or its outcome is wrong.
func (w *World) runCase(t *rapid.T, ctx, dctx context.Context, wk *Worker, c Case) {
	w.dialog = wk
	defer func() { w.dialog = nil }()
	err := c.run(t, dctx, wk)
	Hung(t, ctx, "dialog with "+wk.Portal.Actor().String())
	if err != nil {
		w.fail(t, "%v", err)
	}
}

func (w *World) cancelWorker(t *rapid.T) {
	if w.Killed != nil {
		w.Idle()
		return
	}
	wk := w.Pick(t, w.Live())
	if wk == nil {
		return
	}
	ctx, cancel := w.StepContext()
	defer cancel()
	err := wk.Portal.CancelActor(ctx)
	Hung(t, ctx, "CancelActor")
	if err != nil {
		w.fail(t, "CancelActor(%s): %v", wk.Portal.Actor(), err)
	}
	wk.Ended = true
}

func (w *World) killWorker(t *rapid.T) {
	if w.Killed != nil {
		w.Idle()
		return
	}
	var procs []*Worker
	for _, wk := range w.Live() {
		if wk.PID != os.Getpid() && wk.PID != 0 {
			procs = append(procs, wk)
		}
	}
	wk := w.Pick(t, procs)
	if wk == nil {
		return
	}
	if err := syscall.Kill(wk.PID, syscall.SIGKILL); err != nil {
		fatalf(t, "kill %d: %v", wk.PID, err)
	}
	wk.Ended = true
	w.Killed = wk
	// Its death fails the nursery, which cancels itself.
	select {
	case <-w.Nursery.Context().Done():
	case <-time.After(StepTimeout):
		fatalf(t, "the nursery did not notice that %s (pid %d) was killed within %v", wk.Portal.Actor(), wk.PID, StepTimeout)
	}
}
