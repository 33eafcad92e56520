package tractor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// TestProcessChildCompression: a parent offers frame compression to a
// process child only where it pays, beyond loopback; over a socketpair or
// loopback TCP frames travel plain.
func TestProcessChildCompression(t *testing.T) {
	for _, h := range rows(processHostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(square), func(ctx context.Context, p *tractor.Portal) {
				if tractor.Compressed(p) {
					t.Errorf("connection to a %s child compresses frames", h.name)
				}
			})
		})
	}
	t.Run("process-tcp-beyond-loopback", func(t *testing.T) {
		addr := outsideAddr(t)
		h := hosting{"process-tcp", append(append([]tractor.Option(nil), processTCP.opts...), tractor.BindAddr(addr))}
		withWorker(t, h, eps(square), func(ctx context.Context, p *tractor.Portal) {
			if !tractor.Compressed(p) {
				t.Errorf("connection to a TCP child bound to %s does not compress frames", addr)
			}
			if v, err := square.Call(ctx, p, 9); err != nil || v != 81 {
				t.Errorf("square(9) = %v, %v", v, err)
			}
		})
	})
}

// outsideAddr returns "ip:0" for an IPv4 address of this host beyond
// loopback or, on a host with none, the unspecified address, which binds
// every interface: beyond loopback either way.
func outsideAddr(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			return net.JoinHostPort(ipn.IP.String(), "0")
		}
	}
	return "0.0.0.0:0"
}

// holdGrandchild starts a grandchild actor, hosted as its own children
// are or, with Process, as a process, sends the grandchild's pid as its
// first value, and holds it until cancelled or until the grandchild fails.
var holdGrandchild = tractor.Ctx("test.holdGrandchild", func(c *tractor.Context, in grandchildIn) (int, error) {
	err := tractor.OpenNursery(c, func(ctx context.Context, n *tractor.Nursery) error {
		defer n.Cancel()
		var opts []tractor.Option
		if in.Process {
			opts = append(opts, tractor.Spawn(tractor.Process))
		}
		g, err := n.StartActor(c, "grandchild", append(opts, tractor.Expose(pid, square))...)
		if err != nil {
			return err
		}
		gp, err := pid.Call(c, g, struct{}{})
		if err != nil {
			return err
		}
		if err := c.Started(gp); err != nil {
			return err
		}
		<-ctx.Done() // cancelled, or the grandchild failed
		return nil
	})
	return 0, err
})

// grandchildIn is holdGrandchild's argument.
type grandchildIn struct{ Process bool }

// TestSecretNotInProc: the tree's secret, given with the Secret option or
// TRACTOR_SECRET, is in neither the environment nor the command line of
// any process actor (children and grandchildren), as /proc shows them to
// anyone of the same user; and every process still knows it: the
// grandchild's listener admits the root.
func TestSecretNotInProc(t *testing.T) {
	const secret = "s3cret-of-the-tree-9f2c41d7"
	for _, h := range rows(processHostings) {
		for _, how := range []string{"option", "env"} {
			t.Run(h.name+"/"+how, func(t *testing.T) {
				var opts []tractor.Option
				if how == "env" {
					t.Setenv("TRACTOR_SECRET", secret)
				} else {
					opts = append(opts, tractor.Secret(secret))
				}
				err := run(t, h, func(ctx context.Context) error {
					return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
						defer n.Cancel()
						p, err := n.StartActor(ctx, "child", tractor.Expose(pid, holdGrandchild))
						if err != nil {
							return err
						}
						child, err := pid.Call(ctx, p, struct{}{})
						if err != nil {
							return err
						}
						c, err := holdGrandchild.Open(ctx, p, grandchildIn{})
						if err != nil {
							return err
						}
						grandchild, err := tractor.First[int](c)
						if err != nil {
							return err
						}
						for who, pid := range map[string]int{"child": child, "grandchild": grandchild} {
							for _, file := range []string{"environ", "cmdline"} {
								b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
								if err != nil {
									t.Fatalf("%s: %v", who, err)
								}
								if file == "environ" && !bytes.Contains(b, []byte("TRACTOR_SPAWN=")) {
									t.Fatalf("%s's environment %q is not a spawned actor's", who, b)
								}
								if bytes.Contains(b, []byte(secret)) {
									t.Errorf("the secret is in the %s's /proc/%d/%s", who, pid, file)
								}
							}
						}
						g, err := tractor.FindActor(ctx, "grandchild")
						if err != nil {
							return err
						}
						if v, err := square.Call(ctx, g, 5); err != nil || v != 25 {
							t.Errorf("grandchild reached directly: %v, %v", v, err)
						}
						return nil
					})
				}, opts...)
				if err != nil {
					t.Fatalf("tree: %v", err)
				}
			})
		}
	}
}

// breakLink breaks its actor's connection to its parent and returns.
var breakLink = tractor.Func("test.breakLink", func(ctx context.Context, _ struct{}) (int, error) {
	tractor.DropParentConnection(ctx)
	return 0, nil
})

// exitPlan says how a process actor exits once it has ended.
type exitPlan struct {
	Hold   bool   // never, on its own
	OnUSR1 bool   // once it gets SIGUSR1
	Mark   string // a file written once it may go on, if set
	Status int    // then exit with this status, if not 0
}

// slowExit makes its process actor exit as plan says: late, as a process
// built with -race does, sleeping at exit.
var slowExit = tractor.Func("test.slowExit", func(ctx context.Context, plan exitPlan) (int, error) {
	usr1 := make(chan os.Signal, 1)
	if plan.OnUSR1 {
		signal.Notify(usr1, syscall.SIGUSR1)
	}
	tractor.SetBeforeExit(func() {
		switch {
		case plan.Hold:
			select {}
		case plan.OnUSR1:
			<-usr1
		}
		if plan.Mark != "" {
			os.WriteFile(plan.Mark, nil, 0o644)
		}
		if plan.Status != 0 {
			os.Exit(plan.Status)
		}
	})
	return os.Getpid(), nil
})

// wantDeath checks that err reports the death of the actor named name,
// matching ErrActorDied and ErrActorGone, with how in its message, and
// nothing else.
func wantDeath(t *testing.T, err error, name, how string) {
	t.Helper()
	re := asRemote(t, err)
	if re.Actor.Name != name || re.Type != "tractor.ActorDied" || !strings.Contains(re.Message, how) {
		t.Errorf("nursery error %v, want %s's death with %q", err, name, how)
	}
	if !errors.Is(err, tractor.ErrActorDied) || !errors.Is(err, tractor.ErrActorGone) {
		t.Errorf("nursery error %v matches neither ErrActorDied nor ErrActorGone", err)
	}
	if u, ok := err.(interface{ Unwrap() []error }); ok && len(u.Unwrap()) != 1 {
		t.Errorf("reported %d errors, want 1: %v", len(u.Unwrap()), err)
	}
}

// TestDeathAfterBrokenLink: a child whose connection to its parent breaks
// ends, as it must, without having been asked to: its nursery reports it
// (a process exits 0 then, and the report says so) and is cancelled.
func TestDeathAfterBrokenLink(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			var nursery *tractor.Nursery
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					nursery = n
					p, err := n.StartActor(ctx, "victim", tractor.Expose(breakLink))
					if err != nil {
						return err
					}
					if _, err := breakLink.Call(ctx, p, struct{}{}); !errors.Is(err, tractor.ErrActorGone) {
						t.Errorf("call that broke the link: %v, want ErrActorGone", err)
					}
					return nil
				})
			})
			how := "exited with status 0"
			if h.inProcess() {
				how = "connection was lost"
			}
			wantDeath(t, err, "victim", how)
			if cause := context.Cause(nursery.Context()); !errors.Is(cause, tractor.ErrActorDied) {
				t.Errorf("the nursery was cancelled by %v, not by the death", cause)
			}
		})
	}
}

// TestCrashBeforeCancel: a child that crashes just before its nursery is
// cancelled is reported with its exit status, not taken for a child that
// ended because of the cancellation.
func TestCrashBeforeCancel(t *testing.T) {
	for _, h := range rows(processHostings) {
		t.Run(h.name, func(t *testing.T) {
			for range 3 {
				err := run(t, h, func(ctx context.Context) error {
					return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
						p, err := n.StartActor(ctx, "crasher", tractor.Expose(exit))
						if err != nil {
							return err
						}
						if _, err := exit.Call(ctx, p, 2); !errors.Is(err, tractor.ErrActorGone) {
							t.Errorf("call that crashed the child: %v, want ErrActorGone", err)
						}
						n.Cancel()
						return nil
					})
				})
				wantDeath(t, err, "crasher", "exited with status 2")
			}
		})
	}
}

// TestNurseryReportsADeathOnce: a body that returns the error its call
// got from a child's death returns the death the nursery records, the
// same report: the nursery's error holds it once, not twice.
func TestNurseryReportsADeathOnce(t *testing.T) {
	err := run(t, processPipe, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "crasher", tractor.Expose(exit))
			if err != nil {
				return err
			}
			_, err = exit.Call(ctx, p, 2)
			return err
		})
	})
	wantDeath(t, err, "crasher", "exited with status 2")
}

// TestCancelActorSlowExit: a daemon torn down with CancelActor that takes
// long to exit, as a process built with -race does, ended as asked: it is
// given ExitGrace to exit, and even the ladder's SIGTERM beyond it is not an
// error. One that crashes while exiting did not end as asked.
func TestCancelActorSlowExit(t *testing.T) {
	for _, h := range rows(processHostings) {
		t.Run(h.name, func(t *testing.T) {
			cases := []struct {
				name string
				plan exitPlan
				opts []tractor.Option
				want string // the death reported, if any
			}{
				// It exits once its nursery waits for its process, well
				// after the cancel timeout: the wait is the grace's.
				{name: "within grace", plan: exitPlan{OnUSR1: true}, opts: []tractor.Option{tractor.CancelTimeout(time.Nanosecond), tractor.ExitGrace(hangBound)}},
				{name: "beyond grace", plan: exitPlan{Hold: true}, opts: []tractor.Option{tractor.ExitGrace(50 * time.Millisecond)}},
				{name: "crash while exiting", plan: exitPlan{Status: 2}, want: "exited with status 2"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					if tc.plan.OnUSR1 {
						tc.plan.Mark = filepath.Join(t.TempDir(), "exited")
					}
					var release sync.WaitGroup
					defer release.Wait()
					err := run(t, h, func(ctx context.Context) error {
						return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
							p, err := n.StartActor(ctx, "daemon", tractor.Expose(slowExit))
							if err != nil {
								return err
							}
							child, err := slowExit.Call(ctx, p, tc.plan)
							if err != nil {
								return err
							}
							if err := p.CancelActor(ctx); err != nil {
								return err
							}
							if tc.plan.OnUSR1 {
								// Let it go once its nursery waits for
								// its exit.
								release.Go(func() {
									waitBlocked(t, "tractor.processHost.reap")
									syscall.Kill(child, syscall.SIGUSR1)
								})
							}
							return nil
						}, tc.opts...)
					})
					if tc.want != "" {
						wantDeath(t, err, "daemon", tc.want)
						return
					}
					if err != nil {
						t.Fatalf("nursery: %v", err)
					}
					if tc.plan.Mark != "" {
						if _, err := os.Stat(tc.plan.Mark); err != nil {
							t.Errorf("the process did not finish its exit: %v", err)
						}
					}
				})
			}
		})
	}
}

// TestExitGraceValidated: a grace that is not positive is a mistake, named
// where it is made.
func TestExitGraceValidated(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		func() {
			defer func() {
				if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "ExitGrace") {
					t.Errorf("ExitGrace(%v) panicked with %v", d, v)
				}
			}()
			tractor.ExitGrace(d)
		}()
	}
}
