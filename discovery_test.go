package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// talkReport is what talkTo learned from a sibling.
type talkReport struct {
	Me     tractor.ActorID // the actor that ran talkTo
	SeenAs tractor.ActorID // who the sibling says called it
	Sum    int             // of the values the sibling echoed
	Echoed int             // the sibling's count, its context's result
}

var (
	// whoCalls returns the actor on the other side of its dialog: the
	// proof of where a call came from.
	whoCalls = tractor.Func("test.whoCalls", func(ctx context.Context, _ struct{}) (tractor.ActorID, error) {
		id, ok := tractor.Caller(ctx)
		if !ok {
			return id, errors.New("no caller in the task's ctx")
		}
		return id, nil
	})
	// talkTo finds the actor named name, asks it who is calling, and
	// holds an echo context with a two-way stream of 1..10 with it.
	talkTo = tractor.Func("test.talkTo", func(ctx context.Context, name string) (talkReport, error) {
		r := talkReport{Me: tractor.CurrentActor(ctx).ID()}
		p, err := tractor.FindActor(ctx, name)
		if err != nil {
			return r, err
		}
		if r.SeenAs, err = whoCalls.Call(ctx, p, struct{}{}); err != nil {
			return r, err
		}
		c, err := echo.Open(ctx, p, "hi")
		if err != nil {
			return r, err
		}
		s, err := tractor.OpenStream[int, int](c)
		if err != nil {
			return r, err
		}
		for i := 1; i <= 10; i++ {
			if err := s.Send(ctx, i); err != nil {
				return r, err
			}
			v, err := s.Receive(ctx)
			if err != nil {
				return r, err
			}
			r.Sum += v
		}
		s.Close()
		r.Echoed, err = echo.Result(ctx, c)
		return r, err
	})
	// callSibling finds the actor named in the argument and runs arg.Call
	// there: "fail" or "sleep" (until cancelled).
	callSibling = tractor.Func("test.callSibling", func(ctx context.Context, arg siblingCall) (int, error) {
		p, err := tractor.FindActor(ctx, arg.Name)
		if err != nil {
			return 0, err
		}
		switch arg.Call {
		case "fail":
			return fail.Call(ctx, p, "sibling says no")
		case "sleep":
			cctx, cancel := context.WithTimeout(ctx, arg.For)
			defer cancel()
			_, err := sleepForever.Call(cctx, p, struct{}{})
			if errors.Is(err, context.DeadlineExceeded) {
				return 1, nil // as it should
			}
			return 0, err
		}
		return 0, fmt.Errorf("unknown call %q", arg.Call)
	})
)

type siblingCall struct {
	Name string
	Call string
	For  time.Duration
}

// names returns the names of infos.
func infoNames(infos []tractor.ActorInfo) []string {
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.ID.Name
	}
	return out
}

func TestDiscovery(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			t.Run("find", func(t *testing.T) { testFind(t, h) })
			t.Run("wait for", func(t *testing.T) { testWaitFor(t, h) })
			t.Run("registry", func(t *testing.T) { testRegistry(t, h) })
			t.Run("siblings", func(t *testing.T) { testSiblings(t, h) })
			t.Run("cluster", func(t *testing.T) { testCluster(t, h) })
		})
	}
}

// testFind: FindActor returns a portal to the actor of that name, through
// which calls work, and a clear not-found error for a name nobody has.
func testFind(t *testing.T, h hosting) {
	withWorker(t, h, eps(square, whoCalls), func(ctx context.Context, w *tractor.Portal) {
		p, err := tractor.FindActor(ctx, "worker")
		if err != nil {
			t.Fatal(err)
		}
		if p.Actor() != w.Actor() {
			t.Fatalf("found %v, started %v", p.Actor(), w.Actor())
		}
		if v, err := square.Call(ctx, p, 9); err != nil || v != 81 {
			t.Fatalf("square through found portal = %d, %v", v, err)
		}
		// The found portal is its own connection, not the nursery's.
		root := tractor.CurrentActor(ctx).ID()
		if by, err := whoCalls.Call(ctx, p, struct{}{}); err != nil || by != root {
			t.Fatalf("callee saw %v, %v; want %v", by, err, root)
		}
		again, err := tractor.FindActor(ctx, "worker")
		if err != nil || again.Actor() != w.Actor() {
			t.Fatalf("second find: %v, %v", again, err)
		}
		// Not found at once: a FindActor that waited for the name to
		// appear would end with its ctx instead.
		fctx, cancel := context.WithTimeout(ctx, hangBound)
		defer cancel()
		_, err = tractor.FindActor(fctx, "nobody")
		if !errors.Is(err, tractor.ErrActorNotFound) {
			t.Fatalf("find nobody: %v, want ErrActorNotFound", err)
		}
	})
}

// testWaitFor: WaitForActor returns once the actor registers, whether it
// waits first or the actor is already there, and honours its ctx.
func testWaitFor(t *testing.T, h hosting) {
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			found := make(chan *tractor.Portal, 1)
			waitErr := make(chan error, 1)
			go func() {
				p, err := tractor.WaitForActor(ctx, "late")
				found <- p
				waitErr <- err
			}()
			waitBlocked(t, "tractor.(*registrar).wait")
			select {
			case <-found:
				t.Fatal("WaitForActor returned before the actor started")
			default:
			}
			late, err := n.StartActor(ctx, "late", tractor.Expose(square))
			if err != nil {
				return err
			}
			p := <-found
			if err := <-waitErr; err != nil {
				return err
			}
			if p.Actor() != late.Actor() {
				t.Fatalf("waited for %v, got %v", late.Actor(), p.Actor())
			}
			if v, err := square.Call(ctx, p, 3); err != nil || v != 9 {
				t.Fatalf("square = %d, %v", v, err)
			}
			// Already there: returns at once.
			p, err = tractor.WaitForActor(ctx, "late")
			if err != nil || p.Actor() != late.Actor() {
				t.Fatalf("wait for a registered actor: %v, %v", p, err)
			}
			// Never there: ctx decides.
			wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			if _, err := tractor.WaitForActor(wctx, "never"); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("wait for nobody: %v, want DeadlineExceeded", err)
			}
			n.Cancel()
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testRegistry: the registry lists every live actor with how it is hosted
// and where it listens, and forgets an actor once it has ended.
func testRegistry(t *testing.T, h hosting) {
	err := run(t, h, func(ctx context.Context) error {
		root := tractor.CurrentActor(ctx).ID()
		err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			w, err := n.StartActor(ctx, "worker", tractor.Expose(pid))
			if err != nil {
				return err
			}
			infos, err := tractor.Actors(ctx)
			if err != nil {
				return err
			}
			if got := infoNames(infos); !slices.Equal(got, []string{"root", "worker"}) {
				t.Fatalf("registry = %v", got)
			}
			r, wi := infos[0], infos[1]
			if r.ID != root || r.Parent != (tractor.ActorID{}) || r.Hosting != tractor.Process || r.PID != os.Getpid() || r.Addr == "" {
				t.Fatalf("root entry = %+v", r)
			}
			if wi.ID != w.Actor() || wi.Parent != root || wi.Addr == "" {
				t.Fatalf("worker entry = %+v", wi)
			}
			want, err := pid.Call(ctx, w, struct{}{})
			if err != nil {
				return err
			}
			if wi.PID != want {
				t.Fatalf("worker entry pid %d, worker runs in %d", wi.PID, want)
			}
			wantHosting := tractor.Goroutine
			if !h.inProcess() {
				wantHosting = tractor.Process
			}
			if wi.Hosting != wantHosting {
				t.Fatalf("worker hosting %v, want %v", wi.Hosting, wantHosting)
			}
			return w.CancelActor(ctx)
		})
		if err != nil {
			return err
		}
		infos, err := tractor.Actors(ctx)
		if err != nil {
			return err
		}
		if got := infoNames(infos); !slices.Equal(got, []string{"root"}) {
			t.Fatalf("registry after the worker ended = %v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testSiblings: two sibling actors find each other and talk directly (the
// callee sees its sibling, not the parent, as its peer) with a context and
// a two-way stream; a sibling's error reaches the caller boxed with the
// sibling's name, and cancellation reaches a sibling's task.
func testSiblings(t *testing.T, h hosting) {
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			a, err := n.StartActor(ctx, "a", tractor.Expose(talkTo, callSibling))
			if err != nil {
				return err
			}
			b, err := n.StartActor(ctx, "b", tractor.Expose(echo, whoCalls, fail, sleepForever, seen))
			if err != nil {
				return err
			}
			r, err := talkTo.Call(ctx, a, "b")
			if err != nil {
				t.Fatalf("talk to sibling: %v", err)
			}
			if r.SeenAs != a.Actor() || r.Me != a.Actor() {
				t.Fatalf("b saw its caller as %v; a is %v", r.SeenAs, a.Actor())
			}
			if r.Sum != 55 || r.Echoed != 10 {
				t.Fatalf("echo through sibling: sum %d, count %d", r.Sum, r.Echoed)
			}

			_, err = callSibling.Call(ctx, a, siblingCall{Name: "b", Call: "fail"})
			re := asRemote(t, err)
			if re.Actor != b.Actor() || !strings.Contains(re.Message, "sibling says no") {
				t.Fatalf("sibling failure = %+v; want it from %v", re, b.Actor())
			}
			if len(re.RelayPath) < 2 || re.RelayPath[0] != b.Actor() || re.RelayPath[1] != a.Actor() {
				t.Fatalf("relay path %v, want b then a", re.RelayPath)
			}

			v, err := callSibling.Call(ctx, a, siblingCall{Name: "b", Call: "sleep", For: 50 * time.Millisecond})
			if err != nil || v != 1 {
				t.Fatalf("sibling call past its deadline = %d, %v; want DeadlineExceeded in a", v, err)
			}
			eventually(t, hangBound, "sibling task cancelled", func() bool {
				return seenIn(ctx, t, b, "sleep.cancelled") == 1
			})
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testCluster: a cluster of workers does a parallel map, and every worker
// has ended (processes reaped) when OpenCluster returns.
func testCluster(t *testing.T, h hosting) {
	const workers = 4
	err := run(t, h, func(ctx context.Context) error {
		err := tractor.OpenCluster(ctx, "sq", workers, func(ctx context.Context, ps []*tractor.Portal) error {
			if len(ps) != workers {
				t.Fatalf("%d portals, want %d", len(ps), workers)
			}
			infos, err := tractor.Actors(ctx)
			if err != nil {
				return err
			}
			if got := infoNames(infos); !slices.Equal(got, []string{"root", "sq-0", "sq-1", "sq-2", "sq-3"}) {
				t.Fatalf("registry = %v", got)
			}
			results := make([]int, 100)
			errs := make(chan error, workers)
			for w, p := range ps {
				go func() {
					for i := w; i < len(results); i += workers {
						v, err := square.Call(ctx, p, i)
						if err != nil {
							errs <- err
							return
						}
						results[i] = v
					}
					errs <- nil
				}()
			}
			for range workers {
				if err := <-errs; err != nil {
					return err
				}
			}
			for i, v := range results {
				if v != i*i {
					t.Fatalf("results[%d] = %d", i, v)
				}
			}
			return nil
		}, tractor.Expose(square))
		if err != nil {
			return err
		}
		if d := descendants(); len(d) != 0 {
			t.Fatalf("processes left after the cluster: %v", d)
		}
		infos, err := tractor.Actors(ctx)
		if err != nil {
			return err
		}
		if got := infoNames(infos); !slices.Equal(got, []string{"root"}) {
			t.Fatalf("registry after the cluster = %v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestClusterStartFails: a worker that cannot start fails the cluster at
// once, with its error, and the other starts are cut short.
func TestClusterStartFails(t *testing.T) {
	err := run(t, processPipe, func(ctx context.Context) error {
		err := tractor.OpenCluster(ctx, "bad", 3, func(ctx context.Context, ps []*tractor.Portal) error {
			t.Error("body ran without its workers")
			return nil
		}, tractor.Expose(square), tractor.Binary("/nonexistent/tractor-worker"))
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/tractor-worker") {
			t.Fatalf("cluster = %v; want the failed start", err)
		}
		if d := descendants(); len(d) != 0 {
			t.Fatalf("processes left: %v", d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// lateSendsEnv, set by a test, has every process of its tree send its
// detached requests late (see lateSend).
const lateSendsEnv = "TRACTOR_TEST_LATE_SENDS"

// lateSend stands for a loaded machine scheduling a request's sending
// goroutine late: past the deadline the request is sent under, if it has
// one, else a little later than at once.
func lateSend(ctx context.Context) {
	if _, ok := ctx.Deadline(); ok {
		<-ctx.Done()
		return
	}
	select {
	case <-time.After(10 * time.Millisecond):
	case <-ctx.Done():
	}
}

// discovered is what discovery finds of an actor after its CancelActor
// returned.
type discovered struct {
	Listed   []string // the names Actors lists
	NotFound bool     // FindActor's error matches ErrActorNotFound
	FindErr  string   // FindActor's error otherwise, "" if it found it
}

// leaveAndLook starts a goroutine actor named name, cancels it with
// CancelActor and looks for it at once.
func leaveAndLook(ctx context.Context, name string) (discovered, error) {
	var seen discovered
	err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
		p, err := n.StartActor(ctx, name, tractor.Spawn(tractor.Goroutine))
		if err != nil {
			return err
		}
		if err := p.CancelActor(ctx); err != nil {
			return err
		}
		infos, err := tractor.Actors(ctx)
		if err != nil {
			return err
		}
		seen.Listed = infoNames(infos)
		_, err = tractor.FindActor(ctx, name)
		seen.NotFound = errors.Is(err, tractor.ErrActorNotFound)
		if !seen.NotFound {
			seen.FindErr = fmt.Sprint(err)
		}
		return nil
	})
	return seen, err
}

var leaveAndLookEp = tractor.Func("test.leaveAndLook", leaveAndLook)

// TestRegistrarUnregisterSentPastItsTimeout: an actor's unregistration is
// made however late its sending goroutine runs, and its end waits for it:
// once CancelActor returns, neither Actors nor FindActor finds the actor,
// though every request left past the deadline it used to be sent under.
// The goroutine actor lives in a process of its own, a process actor
// (over each wire) or a second program joined to the registrar, whose
// registrar is in another process; with goroutine hosting it is the
// registrar's own (in memory).
func TestRegistrarUnregisterSentPastItsTimeout(t *testing.T) {
	t.Setenv(lateSendsEnv, "1")
	defer tractor.SetDetachedSendHook(lateSend)()
	check := func(t *testing.T, seen discovered) {
		t.Helper()
		if slices.Contains(seen.Listed, "leaver") {
			t.Errorf("after CancelActor returned, Actors lists it: %v", seen.Listed)
		}
		if !seen.NotFound {
			t.Errorf("after CancelActor returned, FindActor: %s, want ErrActorNotFound", seen.FindErr)
		}
	}
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					defer n.Cancel()
					p, err := n.StartActor(ctx, "program", tractor.Expose(leaveAndLookEp))
					if err != nil {
						return err
					}
					seen, err := leaveAndLookEp.Call(ctx, p, "leaver")
					if err != nil {
						return err
					}
					check(t, seen)
					return nil
				})
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("joined-program", func(t *testing.T) {
		err := run(t, goroutines, func(ctx context.Context) error {
			return tractor.Run(ctx, func(ctx context.Context) error {
				seen, err := leaveAndLook(ctx, "leaver")
				if err != nil {
					return err
				}
				check(t, seen)
				return nil
			}, tractor.Registrar(tractor.CurrentActor(ctx).Addr()), tractor.Name("root-b"), tractor.Secret("shared"))
		}, tractor.Secret("shared"))
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestChildEndedBeforeRegistered: a child that ends between its start and
// its registration (cancelled at once, or crashed) unregistered itself
// before its nursery registered it; once StartActor returns, discovery
// must not find it all the same.
func TestChildEndedBeforeRegistered(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				defer tractor.SetBeforeRegisterHook(func(p *tractor.Portal) {
					// CancelActor returns once the child has ended, its
					// own unregister made.
					if err := p.CancelActor(ctx); err != nil {
						t.Errorf("CancelActor: %v", err)
					}
				})()
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					if _, err := n.StartActor(ctx, "ephemeral"); err != nil {
						return err
					}
					all, err := tractor.Actors(ctx)
					if err != nil {
						return err
					}
					for _, info := range all {
						if info.ID.Name == "ephemeral" {
							t.Errorf("after StartActor returned, the ended child is listed: %v", info)
						}
					}
					if _, err := tractor.FindActor(ctx, "ephemeral"); !errors.Is(err, tractor.ErrActorNotFound) {
						t.Errorf("FindActor of the ended child: %v, want ErrActorNotFound", err)
					}
					return nil
				})
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// silentListener accepts connections and never answers them, as a host
// that hangs does; it closes them when the test ends. Its channel has a
// value for each connection accepted.
func silentListener(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 16)
	accepted := make(chan struct{}, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case conns <- c:
			default:
				c.Close()
			}
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), accepted
}

// TestSlowDialBlocksNoOtherLookup: while an actor dials a peer that does
// not answer, its lookups of other actors are not held up behind it, and
// a lookup's ctx bounds its wait.
func TestSlowDialBlocksNoOtherLookup(t *testing.T) {
	hung, accepted := silentListener(t)
	err := run(t, goroutines, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			w, err := n.StartActor(ctx, "worker", tractor.Expose(square))
			if err != nil {
				return err
			}
			ghost := tractor.ActorInfo{ID: tractor.ActorID{Name: "ghost", UID: "ghost-uid"}, Hosting: tractor.Process, Addr: hung}
			if err := tractor.Register(ctx, ghost); err != nil {
				return err
			}
			slow := make(chan error, 1)
			go func() {
				_, err := tractor.FindActor(ctx, "ghost")
				slow <- err
			}()
			select {
			case <-accepted: // the ghost's dial is under way
			case <-time.After(hangBound):
				t.Fatal("FindActor of the ghost did not dial it")
			}
			// The ghost's dial lasts the dial bound (5 s): a lookup held up
			// behind it would end after the ghost's, or with its own ctx.
			fctx, cancel := context.WithTimeout(ctx, 4*time.Second)
			defer cancel()
			p, err := tractor.FindActor(fctx, "worker")
			select {
			case err := <-slow:
				t.Errorf("find ghost ended (%v) before find worker; want worker found while the dial hangs", err)
				slow <- err
			default:
			}
			if err != nil {
				t.Errorf("find worker while a dial hangs = %v; want it at once", err)
			} else if p.Actor() != w.Actor() {
				t.Errorf("found %v, want %v", p.Actor(), w.Actor())
			}
			if err := <-slow; !errors.Is(err, tractor.ErrActorNotFound) {
				t.Errorf("find ghost = %v; want ErrActorNotFound", err)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRegistrarGoes: when the program serving the registrar ends, a joined
// program's lookups fail with an error matching ErrRegistrar, whether they
// were waiting in the registrar then or start afterwards, and the joined
// program ends cleanly.
func TestRegistrarGoes(t *testing.T) {
	const secret = "registrar goes"
	actx, stopA := context.WithCancel(context.Background())
	defer stopA()
	addrs := make(chan string, 1)
	aDone := make(chan error, 1)
	go func() {
		aDone <- tractor.Run(actx, func(ctx context.Context) error {
			addrs <- tractor.CurrentActor(ctx).Addr()
			<-ctx.Done()
			return nil
		}, tractor.Secret(secret))
	}()
	addr := <-addrs
	err := run(t, goroutines, func(ctx context.Context) error {
		waitErr := make(chan error, 1)
		go func() {
			_, err := tractor.WaitForActor(ctx, "never")
			waitErr <- err
		}()
		waitBlocked(t, "tractor.(*registrar).wait")
		stopA()
		if err := <-aDone; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("registrar's program: %v", err)
		}
		select {
		case err := <-waitErr:
			if !errors.Is(err, tractor.ErrRegistrar) {
				t.Errorf("wait for actor as the registrar went = %v; want ErrRegistrar", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("WaitForActor still waiting for a registrar that is gone")
		}
		if _, err := tractor.FindActor(ctx, "never"); !errors.Is(err, tractor.ErrRegistrar) {
			t.Errorf("find actor once the registrar is gone = %v; want ErrRegistrar", err)
		}
		return nil
	}, tractor.Registrar(addr), tractor.Secret(secret))
	if err != nil {
		t.Fatal(err)
	}
}
