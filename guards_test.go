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
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/debuglock"
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

// TestNurseryCancelSentPastItsTimeout: a nursery whose cancel requests are
// sent only after the cancel timeout has passed, as on a loaded machine
// where the sending goroutine runs late, still cancels its children and
// returns. The timeout bounds the wait for the acknowledgement; it never
// decides whether the request is sent.
func TestNurseryCancelSentPastItsTimeout(t *testing.T) {
	const timeout = 10 * time.Millisecond
	// The sending goroutine, descheduled for several cancel timeouts.
	defer tractor.SetCancelSendHook(func() { <-time.After(5 * timeout) })()
	for _, h := range hostings {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error {
					for i := range 3 {
						if _, err := n.StartActor(ctx, fmt.Sprintf("daemon-%d", i)); err != nil {
							return err
						}
					}
					n.Cancel()
					return nil
				}, tractor.CancelTimeout(timeout))
			})
			if err != nil {
				t.Fatalf("nursery cancelled with late cancel requests: %v", err)
			}
		})
	}
}

// TestNurseryTinyCancelTimeout: a cancel timeout too short for any send to
// start before it expires still cancels every child, and the nursery
// returns without spinning.
func TestNurseryTinyCancelTimeout(t *testing.T) {
	err := run(t, goroutines, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error {
			for i := range 50 {
				if _, err := n.StartActor(ctx, fmt.Sprintf("daemon-%d", i)); err != nil {
					return err
				}
			}
			n.Cancel()
			return nil
		}, tractor.CancelTimeout(time.Nanosecond))
	})
	if err != nil {
		t.Fatalf("nursery with a 1ns cancel timeout: %v", err)
	}
}

// TestErrorMethodPanics: a task that returns an error whose Error method
// panics fails with a panic *RemoteError (matching ErrPanic) naming it;
// the actor goes on serving and its sibling is unaffected, in-process
// (with debug logs, which print the error too) and in a child process.
func TestErrorMethodPanics(t *testing.T) {
	for _, h := range hostings {
		t.Run(h.name, func(t *testing.T) {
			var opts []tractor.Option
			if h.name == goroutines.name {
				opts = append(opts, tractor.LogLevel(zerolog.DebugLevel), tractor.LogOutput(io.Discard))
			}
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error {
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
				return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error {
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
	"tractor.ErrNoActor":          tractor.ErrNoActor,
	"tractor.ErrNurseryClosed":    tractor.ErrNurseryClosed,
	"tractor.ErrStreamClosed":     tractor.ErrStreamClosed,
	"tractor.ErrActorNotFound":    tractor.ErrActorNotFound,
	"tractor.ErrRegistrar":        tractor.ErrRegistrar,
	"tractor.ErrMisuse":           tractor.ErrMisuse,
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
	for _, h := range hostings {
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
