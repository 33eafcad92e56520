package tractor_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// processHostings are the hostings whose actors can be killed.
var processHostings = []hosting{processPipe, processTCP, processNATS}

// TestChildKilledMidStream: SIGKILL of a process actor mid-stream fails the
// parent's pending stream and calls within a bound, with an error naming
// that actor; the nursery reports it and cancels the rest of the tree.
func TestChildKilledMidStream(t *testing.T) {
	for _, h := range rows(processHostings) {
		t.Run(h.name, func(t *testing.T) {
			var streamErr, callErr error
			var victim tractor.ActorID
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					if _, err := n.StartActor(ctx, "bystander", tractor.Expose(square)); err != nil {
						return err
					}
					p, err := n.StartActor(ctx, "victim", tractor.Expose(flood, sleepForever, pid, seen))
					if err != nil {
						return err
					}
					victim = p.Actor()
					child, err := pid.Call(ctx, p, struct{}{})
					if err != nil {
						return err
					}
					s, err := flood.Open(ctx, p, 1<<30)
					if err != nil {
						return err
					}
					if _, err := s.Receive(ctx); err != nil {
						return err
					}
					pending := sleepingCall(ctx, t, p)
					syscall.Kill(child, syscall.SIGKILL)
					for streamErr == nil {
						_, streamErr = s.Receive(ctx)
					}
					callErr = <-pending
					return nil
				})
			})
			for what, e := range map[string]error{"stream": streamErr, "call": callErr} {
				if !errors.Is(e, tractor.ErrActorGone) || asRemote(t, e).Actor != victim {
					t.Errorf("%s after the kill: %v, want ErrActorGone from %v", what, e, victim)
				}
			}
			re := asRemote(t, err)
			if re.Actor != victim || re.Type != "tractor.ActorDied" || !strings.Contains(re.Message, "killed") {
				t.Errorf("nursery error %v, want the victim's death", err)
			}
			if pids := descendants(); len(pids) > 0 {
				t.Errorf("processes left: %v", pids)
			}
		})
	}
}

// TestSpawnCancelledBeforeConnect: a start cancelled at any point of a
// child's start-up leaves no process behind.
func TestSpawnCancelledBeforeConnect(t *testing.T) {
	for _, h := range rows(processHostings) {
		t.Run(h.name, func(t *testing.T) {
			failed := 0
			for i := range 30 {
				err := run(t, h, func(ctx context.Context) error {
					return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
						sctx, cancel := context.WithTimeout(ctx, time.Duration(i%10)*time.Millisecond)
						defer cancel()
						p, err := n.StartActor(sctx, "early", tractor.Expose(square))
						if err != nil {
							failed++
							return nil
						}
						return p.CancelActor(ctx)
					})
				})
				if err != nil {
					t.Fatalf("round %d: %v", i, err)
				}
				if pids := descendants(); len(pids) > 0 {
					t.Fatalf("round %d: processes left: %v", i, pids)
				}
			}
			if failed == 0 {
				t.Errorf("no start was cut short: the race was not exercised")
			}
		})
	}
}

// TestParentKilled: a program whose root is killed with SIGKILL leaves
// none of its process actors running, at any depth.
func TestParentKilled(t *testing.T) {
	for _, h := range rows(processHostings) {
		t.Run(h.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), roleEnv+"=tree", "TEST_WIRE="+h.name)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "tree up") {
				t.Fatalf("tree program said %q (%v)", line, err)
			}
			below := descendantsOf(cmd.Process.Pid)
			if len(below) < 4 {
				t.Fatalf("tree has %d processes below its root, want 4", len(below))
			}
			cmd.Process.Kill()
			cmd.Wait()
			eventually(t, hangBound, "every process of the killed tree gone", func() bool {
				for _, pid := range below {
					if alive(pid) {
						return false
					}
				}
				return true
			})
		})
	}
}

// roleEnv makes a re-executed test binary play a program of its own.
const roleEnv = "TRACTOR_TEST_ROLE"

// playRole runs the program roleEnv names and exits; it returns if the
// variable is unset.
func playRole() {
	role, ok := os.LookupEnv(roleEnv)
	if !ok {
		return
	}
	os.Unsetenv(roleEnv)
	switch role {
	case "tree": // root → A → B, and root → C: print, then hold
		h := processPipe
		if os.Getenv("TEST_WIRE") == processTCP.name {
			h = processTCP
		}
		err := tractor.Run(context.Background(), func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				a, err := n.StartActor(ctx, "a", tractor.Expose(holdTree))
				if err != nil {
					return err
				}
				if _, err := holdTree.Open(ctx, a, 1); err != nil {
					return err
				}
				if _, err := n.StartActor(ctx, "c", tractor.Expose(square)); err != nil {
					return err
				}
				fmt.Println("tree up")
				<-ctx.Done()
				return nil
			})
		}, h.opts...)
		fmt.Fprintln(os.Stderr, "tree program:", err)
		os.Exit(1)
	}
	if f, ok := programRoles[role]; ok {
		os.Exit(f())
	}
	if rawRole(role) {
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, "unknown role", role)
	os.Exit(2)
}

// TestOneShotProcessCrashes: a one-shot process actor that dies instead of
// returning fails its nursery with an error naming it and saying how it
// died (its exit status).
func TestOneShotProcessCrashes(t *testing.T) {
	for _, h := range rows(processHostings) {
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					_, err := n.RunInActor(ctx, "crasher", exit.Bind(7))
					return err
				})
			})
			re := asRemote(t, err)
			var died *tractor.ActorDied
			if re.Actor.Name != "crasher" || !errors.As(err, &died) || died.ExitCode != 7 || died.Signal != 0 ||
				!strings.Contains(re.Message, "exited with status 7") {
				t.Errorf("nursery error %v, want crasher's death with exit status 7", err)
			}
			if u, ok := err.(interface{ Unwrap() []error }); ok && len(u.Unwrap()) != 1 {
				t.Errorf("reported %d errors, want 1: %v", len(u.Unwrap()), err)
			}
		})
	}
}
