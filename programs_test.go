package tractor_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// programRoles are programs of their own that the tests start by
// re-executing the test binary; each returns its exit status.
var programRoles = map[string]func() int{
	"prog-a": programA,
	"prog-b": programB,
}

// programHosting returns the options that host a program's actors as the
// test asked (TEST_HOSTING).
func programHosting() []tractor.Option {
	for _, h := range hostings {
		if h.name == os.Getenv("TEST_HOSTING") {
			return h.opts
		}
	}
	return nil
}

// waitStdin blocks until the test closes the program's stdin.
func waitStdin() { io.Copy(io.Discard, os.Stdin) }

// programA is the first program: the registrar, listening on 127.0.0.1.
// It starts a-worker, says where it listens, then waits for program B's
// b-worker, calls it, has a-worker hold a context with it, and reports
// when B's actors have left the registry.
func programA() int {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			aw, err := n.StartActor(ctx, "a-worker", tractor.Expose(square, talkTo, whoCalls, echo))
			if err != nil {
				return err
			}
			fmt.Println("addr", tractor.CurrentActor(ctx).Addr())
			bw, err := tractor.WaitForActor(ctx, "b-worker")
			if err != nil {
				return err
			}
			v, err := square.Call(ctx, bw, 7)
			fmt.Println("a: b-worker squared 7 =", v, err)
			r, err := talkTo.Call(ctx, aw, "b-worker")
			fmt.Printf("a: a-worker talked to b-worker directly: %v, sum %d, %v\n", r.SeenAs == aw.Actor(), r.Sum, err)
			// The test says how program B ended, once it has.
			how, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil {
				return err
			}
			for {
				infos, err := tractor.Actors(ctx)
				if err != nil {
					return err
				}
				left := slices.IndexFunc(infos, func(i tractor.ActorInfo) bool { return strings.HasPrefix(i.ID.Name, "b-") })
				if left < 0 {
					break
				}
				if how == "b ended\n" {
					// B unregistered its actors before it exited.
					fmt.Println("a: program b ended cleanly but left", infos[left].ID, "in the registry")
					break
				}
				// B was killed: the registrar purges its entries when it
				// sees B's connections drop, an event nothing tells a
				// peer, so this polls for it, bounded by ctx.
				time.Sleep(10 * time.Millisecond)
			}
			fmt.Println("a: program b has left the registry")
			waitStdin()
			return nil
		})
	}, append(programHosting(), tractor.ListenAddr("127.0.0.1:0"))...)
	if err != nil {
		fmt.Println("a: error:", err)
		return 1
	}
	return 0
}

// programB joins A's registrar (TRACTOR_REGISTRAR) from 127.0.0.2, starts
// b-worker, calls a-worker, lists the registry, and waits.
func programB() int {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			if _, err := n.StartActor(ctx, "b-worker", tractor.Expose(square, echo, whoCalls)); err != nil {
				return err
			}
			aw, err := tractor.FindActor(ctx, "a-worker")
			if err != nil {
				return err
			}
			v, err := square.Call(ctx, aw, 6)
			fmt.Println("b: a-worker squared 6 =", v, err)
			infos, err := tractor.Actors(ctx)
			if err != nil {
				return err
			}
			var where []string
			for _, i := range infos {
				host, _, _ := net.SplitHostPort(i.Addr)
				where = append(where, i.ID.Name+"@"+host)
			}
			fmt.Println("b: registry", strings.Join(where, " "))
			waitStdin()
			return nil
		})
	}, append(programHosting(), tractor.Name("root-b"), tractor.ListenAddr("127.0.0.2:0"))...)
	if err != nil {
		fmt.Println("b: error:", err)
		return 1
	}
	return 0
}

// program is a test program running as a process of its own.
type program struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startProgram(t *testing.T, role string, env ...string) *program {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{roleEnv + "=" + role}, env...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &program{cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		for range p.lines {
		}
	})
	return p
}

// expect reads the program's next line and checks its prefix and content.
func (p *program) expect(t *testing.T, want string) string {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatalf("program ended; want %q", want)
		}
		if !strings.HasPrefix(line, want) {
			t.Fatalf("program said %q; want %q", line, want)
		}
		return line
	case <-time.After(testTimeout):
		t.Fatalf("program said nothing within %v; want %q", testTimeout, want)
	}
	return ""
}

// TestTwoPrograms: a second program on another loopback address joins the
// first one's registrar; each calls actors of the other, their workers
// hold a context directly, and when the second program ends (cleanly, or
// killed) its actors leave the registry.
func TestTwoPrograms(t *testing.T) {
	for _, tc := range []struct {
		hosting string
		kill    bool
	}{{"goroutine", false}, {"process-tcp", true}} {
		t.Run(tc.hosting, func(t *testing.T) {
			secret := "two-programs-" + tc.hosting
			a := startProgram(t, "prog-a", "TEST_HOSTING="+tc.hosting, "TRACTOR_SECRET="+secret)
			addr := strings.TrimPrefix(a.expect(t, "addr 127.0.0.1:"), "addr ")
			b := startProgram(t, "prog-b", "TEST_HOSTING="+tc.hosting, "TRACTOR_SECRET="+secret, "TRACTOR_REGISTRAR="+addr)
			b.expect(t, "b: a-worker squared 6 = 36 <nil>")
			reg := b.expect(t, "b: registry ")
			for _, want := range []string{"a-worker@127.0.0.1", "b-worker@127.0.0.2", "root@127.0.0.1", "root-b@127.0.0.2"} {
				if !strings.Contains(reg, want) {
					t.Errorf("registry %q lacks %s", reg, want)
				}
			}
			a.expect(t, "a: b-worker squared 7 = 49 <nil>")
			a.expect(t, "a: a-worker talked to b-worker directly: true, sum 55, <nil>")
			if tc.kill {
				b.cmd.Process.Signal(syscall.SIGKILL)
			} else {
				b.stdin.Close()
			}
			err := b.cmd.Wait()
			if tc.kill != (err != nil) {
				t.Fatalf("program b ended with %v", err)
			}
			how := "b ended\n"
			if tc.kill {
				how = "b killed\n"
			}
			io.WriteString(a.stdin, how)
			a.expect(t, "a: program b has left the registry")
			a.stdin.Close()
			if err := a.cmd.Wait(); err != nil {
				t.Fatalf("program a: %v", err)
			}
			eventually(t, hangBound, "no processes left", func() bool { return len(descendants()) == 0 })
		})
	}
}

// TestRegistrarUnreachable: a root told to join a registrar that is not
// there fails with a clear error, in bounded time, without running its
// body.
func TestRegistrarUnreachable(t *testing.T) {
	ran := false
	body := func(context.Context) error { ran = true; return nil }

	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		// Refused at once: a Run still trying would end with this ctx.
		ctx, cancel := context.WithTimeout(context.Background(), hangBound)
		defer cancel()
		err = tractor.Run(ctx, body, tractor.Registrar(addr))
		if !errors.Is(err, tractor.ErrRegistrar) || !errors.Is(err, transport.ErrNoListener) || !strings.Contains(err.Error(), addr) {
			t.Fatalf("Run = %v; want ErrRegistrar naming %s", err, addr)
		}
	})
	t.Run("silent", func(t *testing.T) {
		// Accepts, then never answers the handshake; the caller gives
		// up once the handshake is under way. Run's own bound (the dial
		// bound, 5 s) would end it with DeadlineExceeded instead.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				accepted <- c
				cancel()
			}
			close(accepted)
		}()
		defer func() {
			for c := range accepted {
				c.Close()
			}
		}()
		err = tractor.Run(ctx, body, tractor.Registrar(ln.Addr().String()))
		if !errors.Is(err, tractor.ErrRegistrar) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v; want ErrRegistrar and context.Canceled", err)
		}
	})
	if ran {
		t.Fatal("body ran without a registrar")
	}
}

// TestStaleEntriesPurged: an entry left by an actor whose process is gone
// (nothing listens at its address) or whose process no longer hosts it is
// purged by the first FindActor that fails to reach it.
func TestStaleEntriesPurged(t *testing.T) {
	err := run(t, goroutines, func(ctx context.Context) error {
		infos, err := tractor.Actors(ctx)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		gone := ln.Addr().String()
		ln.Close()
		ghosts := []tractor.ActorInfo{
			{ID: tractor.ActorID{Name: "ghost", UID: "g1"}, Hosting: tractor.Process, Addr: gone},
			{ID: tractor.ActorID{Name: "ghost", UID: "g2"}, Hosting: tractor.Process, Addr: infos[0].Addr},
		}
		for _, g := range ghosts {
			if err := tractor.Register(ctx, g); err != nil {
				return err
			}
		}
		_, err = tractor.FindActor(ctx, "ghost")
		if !errors.Is(err, tractor.ErrActorNotFound) || !strings.Contains(err.Error(), "g1") || !strings.Contains(err.Error(), "g2") {
			t.Fatalf("find ghost = %v; want ErrActorNotFound naming both entries", err)
		}
		infos, err = tractor.Actors(ctx)
		if err != nil {
			return err
		}
		if got := infoNames(infos); !slices.Equal(got, []string{"root"}) {
			t.Fatalf("registry after the purge = %v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSuspectLiveActorKept: an actor a peer reports as unreachable stays
// registered while the registrar can reach it; a ghost goes.
func TestSuspectLiveActorKept(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(square), func(ctx context.Context, w *tractor.Portal) {
				infos, err := tractor.Actors(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var wi tractor.ActorInfo
				for _, in := range infos {
					if in.ID == w.Actor() {
						wi = in
					}
				}
				if purged, err := tractor.Suspect(ctx, wi); err != nil || purged {
					t.Fatalf("live worker suspected: purged %v, %v", purged, err)
				}
				ghost := tractor.ActorInfo{ID: tractor.ActorID{Name: "ghost", UID: "g"}, Addr: wi.Addr}
				if err := tractor.Register(ctx, ghost); err != nil {
					t.Fatal(err)
				}
				if purged, err := tractor.Suspect(ctx, ghost); err != nil || !purged {
					t.Fatalf("ghost suspected: purged %v, %v", purged, err)
				}
				after, err := tractor.Actors(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(infoNames(after), infoNames(infos)) {
					t.Fatalf("registry %v, then %v", infoNames(infos), infoNames(after))
				}
			})
		})
	}
}

// TestRegistrarConnectionLost: when a joined program's connection to the
// registrar breaks while both live, the registrar forgets its actors with
// the connection, and the program reconnects by itself and registers them
// again.
func TestRegistrarConnectionLost(t *testing.T) {
	err := run(t, goroutines, func(ctx context.Context) error {
		addr := tractor.CurrentActor(ctx).Addr()
		names := func() []string {
			infos, err := tractor.Actors(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return infoNames(infos)
		}
		return tractor.Run(ctx, func(bctx context.Context) error {
			return tractor.OpenNursery(bctx, func(ctx context.Context, n *tractor.Nursery) error {
				defer n.Cancel()
				if _, err := n.StartActor(bctx, "b-worker", tractor.Expose(square)); err != nil {
					return err
				}
				want := []string{"b-worker", "root", "root-b"}
				if got := names(); !slices.Equal(got, want) {
					t.Fatalf("registry = %v", got)
				}
				tractor.DropRegistrarConnection(bctx)
				eventually(t, hangBound, "the registrar forgot program b", func() bool {
					return slices.Equal(names(), []string{"root"})
				})
				eventually(t, hangBound, "program b registered again", func() bool {
					return slices.Equal(names(), want)
				})
				p, err := tractor.FindActor(ctx, "b-worker")
				if err != nil {
					t.Fatal(err)
				}
				if v, err := square.Call(ctx, p, 5); err != nil || v != 25 {
					t.Fatalf("square = %d, %v", v, err)
				}
				return nil
			})
		}, tractor.Registrar(addr), tractor.Name("root-b"), tractor.Secret("shared"))
	}, tractor.Secret("shared"))
	if err != nil {
		t.Fatal(err)
	}
}
