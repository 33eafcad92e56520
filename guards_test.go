package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"log/slog"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/debuglock"
	"github.com/tractor-go/tractor/pubsub"
)

// errorPanics is an error whose Error method panics.
type errorPanics struct{}

func (errorPanics) Error() string { panic("Error method exploded") }

var (
	guardsBadError = tractor.Func("guards.badError", func(ctx context.Context, _ int) (int, error) {
		return 0, errorPanics{}
	})
	guardsEcho = tractor.Func("guards.echo", func(ctx context.Context, v int) (int, error) { return v, nil })
)

// cancelDaemons is a tree body that opens a nursery with opts, starts
// count daemon actors in it and cancels it.
func cancelDaemons(count int, opts ...tractor.Option) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			for i := range count {
				if _, err := n.StartActor(ctx, fmt.Sprintf("daemon-%d", i)); err != nil {
					return err
				}
			}
			n.Cancel()
			return nil
		}, opts...)
	}
}

// TestNurseryCancelSentPastItsTimeout: a nursery whose cancel requests are
// sent only after the cancel timeout has passed, as on a loaded machine
// where the sending goroutine runs late, still cancels its children and
// returns. The timeout bounds the wait for the acknowledgement; it never
// decides whether the request is sent.
func TestNurseryCancelSentPastItsTimeout(t *testing.T) {
	const timeout = 10 * time.Millisecond
	// The sending goroutine, descheduled for several cancel timeouts.
	defer tractor.SetDetachedSendHook(func(context.Context) { <-time.After(5 * timeout) })()
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, cancelDaemons(3, tractor.CancelTimeout(timeout)))
			if err != nil {
				t.Fatalf("nursery cancelled with late cancel requests: %v", err)
			}
		})
	}
}

// TestLateCancelStillGraceful: a cancel request that goes out late is
// still the child's cancellation: the ladder's clock starts once it is
// out, so the child acknowledges it and ends, rather than being
// terminated unasked by SIGTERM while the request waited to be sent.
func TestLateCancelStillGraceful(t *testing.T) {
	// The default timeout, which an acknowledgement meets on a loaded
	// machine; the request goes out three of them late.
	const timeout = 500 * time.Millisecond
	defer tractor.SetDetachedSendHook(func(context.Context) { <-time.After(3 * timeout) })()
	for _, h := range rows(processHostings) {
		t.Run(h.name, func(t *testing.T) {
			var p *tractor.Portal
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					var err error
					p, err = n.StartActor(ctx, "daemon")
					n.Cancel()
					return err
				}, tractor.CancelTimeout(timeout))
			})
			if err != nil {
				t.Fatalf("tree: %v", err)
			}
			if !tractor.Acknowledged(p) {
				t.Error("the child did not acknowledge its cancellation: it was terminated before the late request went out")
			}
		})
	}
}

// TestCancelActorWithEndedCtx: CancelActor given a ctx that has already
// ended returns at once, and the cancellation still proceeds, as
// documented: the daemon ends, so its nursery (which never cancels it)
// returns.
func TestCancelActorWithEndedCtx(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "daemon")
					if err != nil {
						return err
					}
					ended, cancel := context.WithCancel(ctx)
					cancel()
					// nil if the actor has ended already, else ctx's error.
					if err := p.CancelActor(ended); err != nil && !errors.Is(err, context.Canceled) {
						t.Errorf("CancelActor with an ended ctx: %v, want context.Canceled", err)
					}
					return nil
				})
			})
			if err != nil {
				t.Fatalf("tree: %v", err)
			}
		})
	}
}

// TestNurseryTinyCancelTimeout: a cancel timeout too short for any send to
// start before it expires still cancels every child, and the nursery
// returns without spinning.
func TestNurseryTinyCancelTimeout(t *testing.T) {
	err := run(t, goroutines, cancelDaemons(50, tractor.CancelTimeout(time.Nanosecond)))
	if err != nil {
		t.Fatalf("nursery with a 1ns cancel timeout: %v", err)
	}
}

// TestErrorMethodPanics: a task that returns an error whose Error method
// panics fails with a panic *RemoteError (matching ErrPanic) naming it;
// the actor goes on serving and its sibling is unaffected, in-process
// (with debug logs, which print the error too) and in a child process.
func TestErrorMethodPanics(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			var opts []tractor.Option
			if h.inProcess() {
				opts = append(opts, tractor.LogLevel(slog.LevelDebug), tractor.LogOutput(io.Discard))
			}
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					worker, err := n.StartActor(ctx, "worker", tractor.Expose(guardsBadError, guardsEcho))
					if err != nil {
						return err
					}
					sibling, err := n.StartActor(ctx, "sibling", tractor.Expose(guardsEcho))
					if err != nil {
						return err
					}
					_, err = guardsBadError.Call(ctx, worker, 0)
					re := asRemote(t, err)
					if !errors.Is(err, tractor.ErrPanic) || re.Type != "panic" || !strings.Contains(re.Message, "Error method exploded") {
						t.Errorf("call: %v (type %q), want a panic RemoteError matching ErrPanic", err, re.Type)
					}
					for _, p := range []*tractor.Portal{worker, sibling} {
						if v, err := guardsEcho.Call(ctx, p, 7); err != nil || v != 7 {
							t.Errorf("echo in %s after the panic: %v, %v", p.Actor(), v, err)
						}
					}
					n.Cancel()
					return nil
				})
			}, opts...)
			if err != nil {
				t.Fatalf("tree: %v", err)
			}
			// A one-shot actor failing so fails its nursery with that panic.
			err = run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					_, err := n.RunInActor(ctx, "oneshot", guardsBadError.Bind(0))
					return err
				})
			}, opts...)
			if !errors.Is(err, tractor.ErrPanic) {
				t.Fatalf("nursery of the one-shot: %v, want ErrPanic", err)
			}
		})
	}
}

// librarySentinels are the exported sentinel errors of the library's
// packages, by qualified name. TestSentinelsCrossActors checks, from the
// sources, that none is missing.
var librarySentinels = map[string]error{
	"tractor.ErrContextCancelled": tractor.ErrContextCancelled,
	"tractor.ErrNotExposed":       tractor.ErrNotExposed,
	"tractor.ErrUnknownEndpoint":  tractor.ErrUnknownEndpoint,
	"tractor.ErrBadArgument":      tractor.ErrBadArgument,
	"tractor.ErrPanic":            tractor.ErrPanic,
	"tractor.ErrActorGone":        tractor.ErrActorGone,
	"tractor.ErrActorDied":        tractor.ErrActorDied,
	"tractor.ErrMessageTooLarge":  tractor.ErrMessageTooLarge,
	"tractor.ErrUnencodable":      tractor.ErrUnencodable,
	"tractor.ErrNoActor":          tractor.ErrNoActor,
	"tractor.ErrNurseryClosed":    tractor.ErrNurseryClosed,
	"tractor.ErrStreamClosed":     tractor.ErrStreamClosed,
	"tractor.ErrActorNotFound":    tractor.ErrActorNotFound,
	"tractor.ErrRegistrar":        tractor.ErrRegistrar,
	"tractor.ErrMisuse":           tractor.ErrMisuse,
	"tractor.ErrNoPeerNetwork":    tractor.ErrNoPeerNetwork,
	"tractor.ErrLagged":           tractor.ErrLagged,
	"debuglock.ErrQuit":           debuglock.ErrQuit,
}

// sentinelPackages are the library's packages whose sentinels must cross
// actors, by directory. (transport and spawnproc are below the actors:
// their errors reach users wrapped in the runtime's own.)
var sentinelPackages = []string{".", "pubsub", "debuglock"}

// declaredSentinels parses the packages' sources and returns the
// qualified names of their exported package-level Err* variables.
func declaredSentinels(t *testing.T) []string {
	t.Helper()
	var names []string
	fset := token.NewFileSet()
	for _, dir := range sentinelPackages {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.VAR {
					continue
				}
				for _, spec := range gd.Specs {
					for _, id := range spec.(*ast.ValueSpec).Names {
						if id.IsExported() && strings.HasPrefix(id.Name, "Err") {
							names = append(names, f.Name.Name+"."+id.Name)
						}
					}
				}
			}
		}
	}
	if len(names) == 0 {
		wd, _ := os.Getwd()
		t.Fatalf("no sentinel found in %v from %s", sentinelPackages, wd)
	}
	return names
}

var (
	// guardsSentinel returns the sentinel named by its argument, wrapped.
	guardsSentinel = tractor.Func("guards.sentinel", func(ctx context.Context, name string) (int, error) {
		err, ok := librarySentinels[name]
		if !ok {
			return 0, fmt.Errorf("no sentinel %q", name)
		}
		return 0, fmt.Errorf("guards: returning %s: %w", name, err)
	})
	// guardsFindNobody returns FindActor's error for an actor that does
	// not exist.
	guardsFindNobody = tractor.Func("guards.findNobody", func(ctx context.Context, _ int) (int, error) {
		_, err := tractor.FindActor(ctx, "guards-nobody")
		return 0, err
	})
	// guardsRegistrarLost returns a registrar failure caused by a lost
	// connection, as a relayed *RemoteError.
	guardsRegistrarLost = tractor.Func("guards.registrarLost", func(ctx context.Context, _ int) (int, error) {
		lost := &tractor.RemoteError{Actor: tractor.CurrentActor(ctx).ID(), Message: "connection lost", Code: "actor_gone"}
		return 0, fmt.Errorf("%w at somewhere: %w", tractor.ErrRegistrar, lost)
	})
)

// TestSentinelsCrossActors: every exported sentinel of the library,
// enumerated from the sources so that a new one cannot be forgotten,
// matches with errors.Is on the *RemoteError its caller gets when a task
// returns it, over every hosting. So do FindActor's error relayed as is,
// and a registrar failure that wraps a lost connection.
func TestSentinelsCrossActors(t *testing.T) {
	for _, name := range declaredSentinels(t) {
		if _, ok := librarySentinels[name]; !ok {
			t.Errorf("sentinel %s is not in librarySentinels: add it, and make it cross actors", name)
		}
	}
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(guardsSentinel, guardsFindNobody, guardsRegistrarLost), func(ctx context.Context, p *tractor.Portal) {
				for name, want := range librarySentinels {
					_, err := guardsSentinel.Call(ctx, p, name)
					re := asRemote(t, err)
					if !errors.Is(err, want) || re.Actor != p.Actor() {
						t.Errorf("%s from %s: %v (code %q), does not match", name, p.Actor(), err, re.Code)
					}
				}
				_, err := guardsFindNobody.Call(ctx, p, 0)
				if re := asRemote(t, err); !errors.Is(err, tractor.ErrActorNotFound) {
					t.Errorf("FindActor's error relayed: %v (code %q), want ErrActorNotFound", err, re.Code)
				}
				_, err = guardsRegistrarLost.Call(ctx, p, 0)
				if re := asRemote(t, err); !errors.Is(err, tractor.ErrRegistrar) {
					t.Errorf("registrar failure relayed: %v (code %q), want ErrRegistrar", err, re.Code)
				}
			})
		})
	}
}

// guardsCtx starts and returns.
var guardsCtx = tractor.Ctx("guards.ctx", func(c *tractor.Context, _ int) (int, error) {
	return 0, c.Started(0)
})

// misuseEnv is what the cases of TestInvalidInputs call into: a live
// tree's ctx, a nursery, a portal to a worker and a stream from it.
type misuseEnv struct {
	ctx context.Context
	n   *tractor.Nursery
	p   *tractor.Portal
	s   *tractor.MsgStream[tractor.NoSend, int]
}

// TestInvalidInputs goes through every option and public entry point
// with nil, zero, negative or out-of-range inputs. Each fails at once and
// says what was wrong: a programmer's error (a nil ctx, a non-positive
// timeout, a nil endpoint) panics where it was made with a message naming
// the call and the mistake, never as a nil dereference deep in the
// runtime; a runtime input (an empty actor name, a negative window) is an
// error matching ErrMisuse. None hangs, spins or allocates its argument.
func TestInvalidInputs(t *testing.T) {
	var nilCtx context.Context
	body := func(context.Context) error { return nil }
	opt := func(o tractor.Option) error { return nil }
	cases := []struct {
		name   string
		panics string // a panic whose message holds this; "" for an error…
		fails  string // … whose text holds this; "" for one matching ErrMisuse
		call   func(e misuseEnv) error
	}{
		{"CancelTimeout(0)", "CancelTimeout(0s)", "", func(misuseEnv) error { return opt(tractor.CancelTimeout(0)) }},
		{"CancelTimeout(-1s)", "CancelTimeout(-1s)", "", func(misuseEnv) error { return opt(tractor.CancelTimeout(-time.Second)) }},
		{"Name(empty)", "Name(\"\")", "", func(misuseEnv) error { return opt(tractor.Name("")) }},
		{"Expose(nil)", "Expose: endpoint 1 of 2 is nil", "", func(misuseEnv) error { return opt(tractor.Expose(guardsEcho, nil)) }},
		{"Expose(typed nil)", "Expose: endpoint 0 of 1 is nil", "", func(misuseEnv) error {
			var ep *tractor.FuncEndpoint[int, int]
			return opt(tractor.Expose(ep))
		}},
		{"Spawn(7)", "Spawn(7)", "", func(misuseEnv) error { return opt(tractor.Spawn(7)) }},
		{"Transport(9)", "Transport(9)", "", func(misuseEnv) error { return opt(tractor.Transport(9)) }},
		{"LogHandler(nil)", "LogHandler(nil)", "", func(misuseEnv) error { return opt(tractor.LogHandler(nil)) }},
		{"LogOutput(nil)", "LogOutput(nil)", "", func(misuseEnv) error { return opt(tractor.LogOutput(nil)) }},
		{"ListenAddr(nonsense)", "", "listen tcp nonsense", func(misuseEnv) error {
			return tractor.Run(context.Background(), body, tractor.ListenAddr("nonsense"))
		}},
		{"Registrar(nonsense)", "", "registrar unreachable at nonsense", func(misuseEnv) error {
			return tractor.Run(context.Background(), body, tractor.Registrar("nonsense"))
		}},
		{"BindAddr(nonsense)", "", `bind address "nonsense"`, func(e misuseEnv) error {
			_, err := e.n.StartActor(e.ctx, "a", tractor.Spawn(tractor.Process), tractor.Transport(tractor.TCP), tractor.BindAddr("nonsense"))
			return err
		}},
		{"Binary(nonexistent)", "", "/nonexistent", func(e misuseEnv) error {
			_, err := e.n.StartActor(e.ctx, "a", tractor.Spawn(tractor.Process), tractor.Binary("/nonexistent"))
			return err
		}},
		{"Run(nil ctx)", "Run: nil context", "", func(misuseEnv) error { return tractor.Run(nilCtx, body) }},
		{"Run(nil body)", "Run: nil body", "", func(e misuseEnv) error { return tractor.Run(e.ctx, nil) }},
		{"OpenNursery(nil ctx)", "OpenNursery: nil context", "", func(misuseEnv) error {
			return tractor.OpenNursery(nilCtx, func(context.Context, *tractor.Nursery) error { return nil })
		}},
		{"OpenNursery(nil body)", "OpenNursery: nil body", "", func(e misuseEnv) error { return tractor.OpenNursery(e.ctx, nil) }},
		{"OpenCluster(nil ctx)", "OpenCluster: nil context", "", func(misuseEnv) error {
			return tractor.OpenCluster(nilCtx, "c", 1, func(context.Context, []*tractor.Portal) error { return nil })
		}},
		{"OpenCluster(nil body)", "OpenCluster: nil body", "", func(e misuseEnv) error { return tractor.OpenCluster(e.ctx, "c", 1, nil) }},
		{"Map(nil ctx)", "Map: nil context", "", func(misuseEnv) error { return errOf(tractor.Map(nilCtx, square, []int{1})) }},
		{"Map(nil endpoint)", "Map: nil endpoint", "", func(e misuseEnv) error {
			return errOf(tractor.Map[int, int](e.ctx, nil, []int{1}))
		}},
		{"Workers(0)", "Workers(0)", "", func(misuseEnv) error { return opt(tractor.Workers(0)) }},
		{"nil Nursery StartActor", "StartActor: nil *Nursery", "", func(e misuseEnv) error {
			var n *tractor.Nursery
			_, err := n.StartActor(e.ctx, "a")
			return err
		}},
		{"StartActor(nil ctx)", "StartActor: nil context", "", func(e misuseEnv) error { _, err := e.n.StartActor(nilCtx, "a"); return err }},
		{"StartActor(empty name)", "", "", func(e misuseEnv) error { _, err := e.n.StartActor(e.ctx, ""); return err }},
		{"RunInActor(nil ctx)", "RunInActor: nil context", "", func(e misuseEnv) error {
			_, err := e.n.RunInActor(nilCtx, "a", guardsEcho.Bind(1))
			return err
		}},
		{"RunInActor(empty name)", "", "", func(e misuseEnv) error { _, err := e.n.RunInActor(e.ctx, "", guardsEcho.Bind(1)); return err }},
		{"RunInActor(empty Invocation)", "", "", func(e misuseEnv) error { _, err := e.n.RunInActor(e.ctx, "a", tractor.Invocation{}); return err }},
		{"Call(nil ctx)", "Call: nil context", "", func(e misuseEnv) error { _, err := guardsEcho.Call(nilCtx, e.p, 1); return err }},
		{"Call(nil portal)", "Call: nil *Portal", "", func(e misuseEnv) error { _, err := guardsEcho.Call(e.ctx, nil, 1); return err }},
		{"Call(zero portal)", "Call: nil *Portal", "", func(e misuseEnv) error { _, err := guardsEcho.Call(e.ctx, &tractor.Portal{}, 1); return err }},
		{"Stream.Open(nil ctx)", "Open: nil context", "", func(e misuseEnv) error { _, err := count.Open(nilCtx, e.p, 1); return err }},
		{"Stream.Open(nil portal)", "Open: nil *Portal", "", func(e misuseEnv) error { _, err := count.Open(e.ctx, nil, 1); return err }},
		{"Ctx.Open(nil ctx)", "Open: nil context", "", func(e misuseEnv) error { _, err := guardsCtx.Open(nilCtx, e.p, 1); return err }},
		{"Ctx.Open(nil portal)", "Open: nil *Portal", "", func(e misuseEnv) error { _, err := guardsCtx.Open(e.ctx, nil, 1); return err }},
		{"CancelActor(nil ctx)", "CancelActor: nil context", "", func(e misuseEnv) error { return e.p.CancelActor(nilCtx) }},
		{"nil Portal CancelActor", "CancelActor: nil *Portal", "", func(e misuseEnv) error {
			var p *tractor.Portal
			return p.CancelActor(e.ctx)
		}},
		{"Result(nil ctx)", "Result: nil context", "", func(e misuseEnv) error { return errOf(guardsEcho.Result(nilCtx, e.p)) }},
		{"FindActor(nil ctx)", "FindActor: nil context", "", func(misuseEnv) error { _, err := tractor.FindActor(nilCtx, "a"); return err }},
		{"WaitForActor(nil ctx)", "WaitForActor: nil context", "", func(misuseEnv) error { _, err := tractor.WaitForActor(nilCtx, "a"); return err }},
		{"Actors(nil ctx)", "Actors: nil context", "", func(misuseEnv) error { _, err := tractor.Actors(nilCtx); return err }},
		{"Root(nil ctx)", "Root: nil context", "", func(misuseEnv) error { _, err := tractor.Root(nilCtx); return err }},
		{"MsgStream.Send(nil ctx)", "Send: nil context", "", func(e misuseEnv) error { return e.s.Send(nilCtx, tractor.NoSend{}) }},
		{"MsgStream.Receive(nil ctx)", "Receive: nil context", "", func(e misuseEnv) error { return errOf(e.s.Receive(nilCtx)) }},
		{"MsgStream.Subscribe(-1)", "", "", func(e misuseEnv) error { _, err := e.s.Subscribe(-1); return err }},
		{"Subscription.Receive(nil ctx)", "Receive: nil context", "", func(e misuseEnv) error {
			sub, err := e.s.Subscribe(0)
			if err != nil {
				return err
			}
			defer sub.Close()
			return errOf(sub.Receive(nilCtx))
		}},
		{"RegisterSentinel(empty)", "RegisterSentinel(\"\"", "", func(misuseEnv) error { return tractor.RegisterSentinel("", errors.New("x")) }},
		{"RegisterSentinel(taken code)", "already registered", "", func(misuseEnv) error { return tractor.RegisterSentinel("panic", errors.New("x")) }},
		{"RegisterSentinel(taken error)", "already registered", "", func(misuseEnv) error { return tractor.RegisterSentinel("guards.x", tractor.ErrPanic) }},
		{"pubsub.Publish(nil)", "Publish(\"guards.pub\"): nil produce", "", func(misuseEnv) error {
			pubsub.Publish[int]("guards.pub", nil)
			return nil
		}},
		{"pubsub.Window(0)", "Window(0)", "", func(misuseEnv) error { pubsub.Window(0); return nil }},
		{"pubsub.Window(-1)", "Window(-1)", "", func(misuseEnv) error { pubsub.Window(-1); return nil }},
		{"pubsub.Subscribe(nil ctx)", "Subscribe: nil context", "", func(e misuseEnv) error {
			_, err := guardsPublisher.Subscribe(nilCtx, e.p, nil)
			return err
		}},
		{"pubsub.Subscribe(nil portal)", "Subscribe to \"guards.pubsub\": nil *tractor.Portal", "", func(e misuseEnv) error {
			_, err := guardsPublisher.Subscribe(e.ctx, nil, nil)
			return err
		}},
		{"pubsub Subscription.Receive(nil ctx)", "Receive: nil context", "", func(e misuseEnv) error {
			sub, err := guardsPublisher.Subscribe(e.ctx, e.p, []string{"t"})
			if err != nil {
				return err
			}
			defer sub.Close()
			_, err = sub.Receive(nilCtx)
			return err
		}},
		{"pubsub SetTopics(nil ctx)", "SetTopics: nil context", "", func(e misuseEnv) error {
			sub, err := guardsPublisher.Subscribe(e.ctx, e.p, []string{"t"})
			if err != nil {
				return err
			}
			defer sub.Close()
			return sub.SetTopics(nilCtx, "u")
		}},
		{"debuglock.WaitBound(0)", "WaitBound(0s)", "", func(misuseEnv) error { debuglock.WaitBound(0); return nil }},
		{"debuglock.Acquire(nil ctx)", "Acquire: nil context", "", func(misuseEnv) error { _, err := debuglock.Acquire(nilCtx); return err }},
		{"debuglock.Breakpoint(nil ctx)", "Breakpoint: nil context", "", func(misuseEnv) error { return debuglock.Breakpoint(nilCtx) }},
	}
	err := run(t, goroutines, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "worker", tractor.Expose(guardsEcho, count, guardsCtx, guardsPublisher.Endpoint()))
			if err != nil {
				return err
			}
			s, err := count.Open(ctx, p, 1)
			if err != nil {
				return err
			}
			defer s.Close()
			e := misuseEnv{ctx: ctx, n: n, p: p, s: s}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					var err error
					v := func() (v any) {
						defer func() { v = recover() }()
						err = c.call(e)
						return nil
					}()
					switch {
					case c.panics != "":
						if msg, _ := v.(string); !strings.Contains(msg, c.panics) {
							t.Errorf("panicked with %v (%T), returned %v; want a panic saying %q", v, v, err, c.panics)
						}
					case v != nil:
						t.Errorf("panicked with %v; want an error", v)
					case c.fails != "":
						if err == nil || !strings.Contains(err.Error(), c.fails) {
							t.Errorf("returned %v; want an error saying %q", err, c.fails)
						}
					case !errors.Is(err, tractor.ErrMisuse):
						t.Errorf("returned %v; want an error matching ErrMisuse", err)
					}
				})
			}
			n.Cancel()
			return nil
		})
	})
	if err != nil {
		t.Fatalf("tree: %v", err)
	}
}

// guardsPublisher publishes nothing until its subscribers leave.
var guardsPublisher = pubsub.Publish("guards.pubsub", func(ctx context.Context, f *pubsub.Feed[int]) error {
	<-ctx.Done()
	return nil
})

// TestSubscribeHugeWindow: a subscriber's window bounds how far it may
// fall behind, not what it allocates: a window of 1<<26 items costs
// nothing up front (it cost 1 GiB), one of 1<<40 works (it killed the
// program), and the queue grows as items arrive.
func TestSubscribeHugeWindow(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(count), func(ctx context.Context, p *tractor.Portal) {
				const items = 100
				s, err := count.Open(ctx, p, items)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				sub, err := s.Subscribe(1 << 26)
				runtime.ReadMemStats(&after)
				if err != nil {
					t.Fatalf("Subscribe(1<<26): %v", err)
				}
				grew := after.TotalAlloc - before.TotalAlloc
				t.Logf("Subscribe(1<<26) allocated %d bytes", grew)
				if grew > 16<<20 { // 1 GiB when the window was allocated up front
					t.Errorf("Subscribe(1<<26) allocated %d bytes up front", grew)
				}
				huge, err := s.Subscribe(1 << 40)
				if err != nil {
					t.Fatalf("Subscribe(1<<40): %v", err)
				}
				for i := range items {
					for _, sb := range []*tractor.Subscription[int]{sub, huge} {
						v, err := sb.Receive(ctx)
						if err != nil || v != i {
							t.Fatalf("item %d: %v, %v", i, v, err)
						}
					}
				}
				sub.Close()
				huge.Close()
			})
		})
	}
}

// wrappedEndpoint is a user's endpoint type that embeds a library one: a
// struct, which no nil check may call IsNil on.
type wrappedEndpoint struct {
	*tractor.FuncEndpoint[int, int]
}

// TestExposeWrappedEndpoint: Expose takes an endpoint of a non-pointer type
// that embeds a library endpoint, and the actor serves it.
func TestExposeWrappedEndpoint(t *testing.T) {
	withWorker(t, goroutines, eps(wrappedEndpoint{guardsEcho}), func(ctx context.Context, p *tractor.Portal) {
		if v, err := guardsEcho.Call(ctx, p, 7); err != nil || v != 7 {
			t.Errorf("call through a wrapped endpoint: %v, %v; want 7", v, err)
		}
	})
}
