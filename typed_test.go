package tractor_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"testing"

	"github.com/tractor-go/tractor"
)

// TestStreamAll: a stream's All yields every item and ends silently at
// io.EOF; it yields a failure once, with the zero value, and stops; and
// leaving the loop early leaves the stream open, the next item still there
// for Receive. Over every hosting, and for a generator of this process
// both through memory and through a dialog.
func TestStreamAll(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			testStreamAll(t, h)
		})
	}
	t.Run("goroutine-dialog", func(t *testing.T) {
		defer tractor.ForceDialogStreams()()
		testStreamAll(t, goroutines)
	})
}

func testStreamAll(t *testing.T, h hosting) {
	withWorker(t, h, eps(count, streamThenFail), func(ctx context.Context, p *tractor.Portal) {
		t.Run("items then the end", func(t *testing.T) {
			s, err := count.Open(ctx, p, 50)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got []int
			for v, err := range s.All(ctx) {
				if err != nil {
					t.Fatalf("after %d items: %v", len(got), err)
				}
				got = append(got, v)
			}
			if want := upTo(50); !slices.Equal(got, want) {
				t.Fatalf("All yielded %v, want %v", got, want)
			}
			if _, err := s.Receive(ctx); err != io.EOF {
				t.Fatalf("Receive after All: %v, want io.EOF", err)
			}
		})
		t.Run("a failure once, then the end", func(t *testing.T) {
			s, err := streamThenFail.Open(ctx, p, 3)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got []int
			var errs []error
			for v, err := range s.All(ctx) {
				if err != nil {
					if v != 0 {
						t.Errorf("value %d beside the error, want 0", v)
					}
					errs = append(errs, err)
					continue // All stops by itself
				}
				got = append(got, v)
			}
			if !slices.Equal(got, upTo(3)) || len(errs) != 1 {
				t.Fatalf("All yielded %v and errors %v; want %v and one error", got, errs, upTo(3))
			}
			if re := asRemote(t, errs[0]); re.Message != "custom: stream broke" {
				t.Errorf("error %v, want the generator's failure", errs[0])
			}
		})
		t.Run("leaving early leaves the stream open", func(t *testing.T) {
			s, err := count.Open(ctx, p, 10)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for v, err := range s.All(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				if v == 3 {
					break
				}
			}
			if v, err := s.Receive(ctx); err != nil || v != 4 {
				t.Fatalf("Receive after leaving All at 3: %d, %v; want 4", v, err)
			}
		})
	})
}

// TestFuncResult: a one-shot actor's result comes typed from its
// endpoint's Result; asking another endpoint, or a daemon's portal, is a
// misuse, refused without waiting. Over every hosting.
func TestFuncResult(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.RunInActor(ctx, "squarer", square.Bind(7))
					if err != nil {
						return err
					}
					// fail is a Func[string, int]: the result types agree,
					// the endpoint does not.
					if _, err := fail.Result(ctx, p); !errors.Is(err, tractor.ErrMisuse) {
						t.Errorf("another endpoint's Result: %v, want ErrMisuse", err)
					}
					if v, err := square.Result(ctx, p); err != nil || v != 49 {
						t.Errorf("Result = %d, %v; want 49", v, err)
					}
					d, err := n.StartActor(ctx, "daemon", tractor.Expose(square))
					if err != nil {
						return err
					}
					if _, err := square.Result(ctx, d); !errors.Is(err, tractor.ErrMisuse) {
						t.Errorf("Result on a daemon's portal: %v, want ErrMisuse", err)
					}
					return d.CancelActor(ctx)
				})
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// rootInfo returns, from the actor that runs it, what its portal to the
// root tells.
var rootInfo = tractor.Func("test.rootInfo", func(ctx context.Context, _ struct{}) (tractor.ActorInfo, error) {
	p, err := tractor.Root(ctx)
	if err != nil {
		return tractor.ActorInfo{}, err
	}
	return p.Info(), nil
})

// TestPortalInfo: a portal tells where its actor runs, as the registrar
// lists it: a goroutine child in this process, a process child in its own
// process with its own listener; a portal found by name tells the same,
// and one to the root tells the root's. Over every hosting.
func TestPortalInfo(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(pid, rootInfo), func(ctx context.Context, p *tractor.Portal) {
				info := p.Info()
				childPID, err := pid.Call(ctx, p, struct{}{})
				if err != nil {
					t.Fatal(err)
				}
				me := tractor.CurrentActor(ctx).ID()
				if info.ID != p.Actor() || info.Parent != me || info.PID != childPID {
					t.Errorf("Info() = %+v; want actor %v, parent %v, pid %d", info, p.Actor(), me, childPID)
				}
				if h.inProcess() {
					if info.Hosting != tractor.Goroutine || info.PID != os.Getpid() {
						t.Errorf("goroutine child: %v in pid %d; want Goroutine in %d", info.Hosting, info.PID, os.Getpid())
					}
				} else if info.Hosting != tractor.Process || info.PID == os.Getpid() {
					t.Errorf("process child: %v in pid %d; want Process in its own", info.Hosting, info.PID)
				}
				if h.name == "process-tcp" {
					if _, _, err := net.SplitHostPort(info.Addr); err != nil {
						t.Errorf("process child on TCP: address %q: %v", info.Addr, err)
					}
				}
				actors, err := tractor.Actors(ctx)
				if err != nil {
					t.Fatal(err)
				}
				i := slices.IndexFunc(actors, func(a tractor.ActorInfo) bool { return a.ID == p.Actor() })
				if i < 0 || actors[i] != info {
					t.Errorf("Info() = %+v; the registrar lists %+v", info, actors)
				}
				found, err := tractor.FindActor(ctx, "worker")
				if err != nil {
					t.Fatal(err)
				}
				if found.Info() != info {
					t.Errorf("found portal's Info() = %+v; want %+v", found.Info(), info)
				}
				root, err := rootInfo.Call(ctx, p, struct{}{})
				if err != nil {
					t.Fatal(err)
				}
				r := slices.IndexFunc(actors, func(a tractor.ActorInfo) bool { return a.ID == me })
				if r < 0 || root != actors[r] || root.Hosting != tractor.Process || root.PID != os.Getpid() {
					t.Errorf("the child's portal to the root: Info() = %+v; the registrar lists %+v", root, actors)
				}
			})
		})
	}
}
