package natsnet_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/internal/natstest"
	"github.com/tractor-go/tractor/natsnet"
	"github.com/tractor-go/tractor/tractortest"
	"github.com/tractor-go/tractor/transport"
)

var (
	square = tractor.Func("natsnet.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
	refuse = tractor.Func("natsnet.refuse", func(ctx context.Context, msg string) (int, error) {
		return 0, errors.New(msg)
	})
	count = tractor.Stream("natsnet.count", func(ctx context.Context, n int, yield func(int) error) error {
		for i := 1; i <= n; i++ {
			if err := yield(i); err != nil {
				return err
			}
		}
		return nil
	})
	// echo starts with its greeting, echoes every int it receives and
	// returns how many.
	echo = tractor.Ctx("natsnet.echo", func(c *tractor.Context, greeting string) (int, error) {
		if err := c.Started(greeting); err != nil {
			return 0, err
		}
		s, err := tractor.OpenStream[int, int](c)
		if err != nil {
			return 0, err
		}
		defer s.Close()
		n := 0
		for {
			v, err := s.Receive(c)
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			if err := s.Send(c, v); err != nil {
				return n, err
			}
			n++
		}
	})
	// cancelled hears, on the test's channel, the error with which
	// waitCancel's task ended.
	waiting    = make(chan struct{}, 1)
	cancelled  = make(chan error, 1)
	waitCancel = tractor.Func("natsnet.waitCancel", func(ctx context.Context, _ struct{}) (int, error) {
		waiting <- struct{}{}
		<-ctx.Done()
		cancelled <- context.Cause(ctx)
		return 0, ctx.Err()
	})
)

// peerNetwork is a program's NATS network over a connection of its own.
func peerNetwork(nc *nats.Conn) tractor.Option {
	return tractor.PeerNetwork(&natsnet.Network{Conn: nc})
}

// registrarAddr is where program A serves the registrar on NATS.
const registrarAddr = "nats:tractor.test.registrar"

// twoPrograms runs program A, which hosts a-worker, and program B, which
// runs body with a portal to a-worker, found through A's registrar. Over
// NATS (network "nats"), each program has a NATS connection of its own
// and no TCP listener at all; over TCP ("tcp"), both listen on loopback.
func twoPrograms(tb testing.TB, network string, body func(ctx context.Context, p *tractor.Portal) error) error {
	tb.Helper()
	return twoProgramsOn(tb, natstest.Server(tb), network, body)
}

// twoProgramsOn is twoPrograms through the NATS server s.
func twoProgramsOn(tb testing.TB, s *server.Server, network string, body func(ctx context.Context, p *tractor.Portal) error) error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*bound)
	defer cancel()
	aOpts := []tractor.Option{tractor.ListenAddr("127.0.0.1:0"), tractor.Secret("tree")}
	bOpts := []tractor.Option{tractor.Name("b"), tractor.Secret("tree")}
	if network == "nats" {
		aOpts = []tractor.Option{tractor.ListenAddr(registrarAddr), tractor.Secret("tree"), peerNetwork(connect(tb, s))}
		bOpts = append(bOpts, peerNetwork(connect(tb, s)))
	}
	return tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			if _, err := n.StartActor(ctx, "a-worker", tractor.Expose(square, refuse, count, echo, waitCancel, string32)); err != nil {
				return err
			}
			return tractor.Run(ctx, func(ctx context.Context) error {
				p, err := tractor.WaitForActor(ctx, "a-worker")
				if err != nil {
					return err
				}
				return body(ctx, p)
			}, append(bOpts, tractor.Registrar(tractor.CurrentActor(ctx).Addr()))...)
		})
	}, aOpts...)
}

// TestPrograms runs the core scenarios between actors of two programs
// (two roots, in this process) over NATS, and the same over TCP: over
// NATS, the programs have no TCP listener, and reach each other, the
// registrar included, at NATS addresses.
func TestPrograms(t *testing.T) {
	for _, network := range []string{"nats", "tcp"} {
		t.Run("net="+network, func(t *testing.T) {
			want := "127.0.0.1:"
			if network == "nats" {
				want = "nats:"
			}
			err := twoPrograms(t, network, func(ctx context.Context, p *tractor.Portal) error {
				if b, a := tractor.CurrentActor(ctx).Addr(), p.Info().Addr; !strings.HasPrefix(b, want) || !strings.HasPrefix(a, want) {
					t.Errorf("program B listens at %q and reaches a-worker at %q: not %s addresses", b, a, want)
				}
				return programB(t, ctx, p)
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCallMessages: a call between programs over NATS costs two NATS
// messages, its request and its reply, as a raw request/reply does: no
// message of its own per write (an ack, a flush) on the way. The server
// counts them; keepalives and credit add a few over many calls.
func TestCallMessages(t *testing.T) {
	const calls = 1000
	s := natstest.Server(t)
	err := twoProgramsOn(t, s, "nats", func(ctx context.Context, p *tractor.Portal) error {
		if _, err := square.Call(ctx, p, 1); err != nil { // connected
			return err
		}
		before, err := s.Varz(nil)
		if err != nil {
			return err
		}
		for i := range calls {
			if _, err := square.Call(ctx, p, i); err != nil {
				return err
			}
		}
		after, err := s.Varz(nil)
		if err != nil {
			return err
		}
		if n := after.InMsgs - before.InMsgs; n < 2*calls || n > 2*calls+calls/10 {
			return fmt.Errorf("%d calls took %d NATS messages, want about %d", calls, n, 2*calls)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOtherSecretRefused: a program whose secret is not the tree's cannot
// join the registrar over NATS: the handshake refuses it, as over TCP.
func TestOtherSecretRefused(t *testing.T) {
	s := natstest.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		err := tractor.Run(ctx, func(context.Context) error {
			t.Error("joined with the wrong secret")
			return nil
		}, tractor.Registrar(registrarAddr), tractor.Secret("other"), peerNetwork(connect(t, s)))
		if !errors.Is(err, tractor.ErrRegistrar) || !errors.Is(err, transport.ErrAuth) {
			t.Errorf("join with another secret = %v; want ErrRegistrar and ErrAuth", err)
		}
		return nil
	}, tractor.ListenAddr(registrarAddr), tractor.Secret("tree"), peerNetwork(connect(t, s)))
	if err != nil {
		t.Fatal(err)
	}
}

// programB is the body of program B: the core scenarios against A's
// worker p.
func programB(t *testing.T, ctx context.Context, p *tractor.Portal) error {
	// A call with a result.
	if v, err := square.Call(ctx, p, 7); err != nil || v != 49 {
		t.Errorf("square(7) = %d, %v", v, err)
	}
	// A remote error.
	_, err := refuse.Call(ctx, p, "no thanks")
	var re *tractor.RemoteError
	if !errors.As(err, &re) || re.Message != "no thanks" || re.Actor.Name != "a-worker" {
		t.Errorf("refuse: %v, want a *RemoteError from a-worker", err)
	}
	// A stream of 1000 items, beyond the flow-control window.
	st, err := count.Open(ctx, p, 1000)
	if err != nil {
		return err
	}
	want := 1
	for v, err := range st.All(ctx) {
		if err != nil {
			t.Errorf("count: %v", err)
			break
		}
		if v != want {
			t.Errorf("count: item %d is %d", want, v)
		}
		want++
	}
	if want != 1001 {
		t.Errorf("count: %d items, want 1000", want-1)
	}
	// A context: Started, a two-way stream, the result.
	c, err := echo.Open(ctx, p, "hello")
	if err != nil {
		return err
	}
	if g, err := tractor.First[string](c); err != nil || g != "hello" {
		t.Errorf("echo started with %q, %v", g, err)
	}
	ms, err := tractor.OpenStream[int, int](c)
	if err != nil {
		return err
	}
	for i := range 100 {
		if err := ms.Send(ctx, i); err != nil {
			return err
		}
		if v, err := ms.Receive(ctx); err != nil || v != i {
			t.Errorf("echo of %d = %d, %v", i, v, err)
		}
	}
	ms.Close()
	if n, err := echo.Result(ctx, c); err != nil || n != 100 {
		t.Errorf("echo's result = %d, %v; want 100", n, err)
	}
	// Cancelling a call reaches the remote task.
	cctx, cancelCall := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := waitCancel.Call(cctx, p, struct{}{})
		done <- err
	}()
	<-waiting // the task runs in a-worker
	cancelCall()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call = %v, want context.Canceled", err)
	}
	if err := <-cancelled; err == nil {
		t.Error("the remote task's ctx ended without a cause")
	}
	return nil
}

// TestProcessActorsOverNATS: the process actors of a program on NATS
// listen on NATS too, each at an address of its own, with the connection
// their own main (here TestMain) makes, and an actor of another program
// calls them there.
func TestProcessActorsOverNATS(t *testing.T) {
	s := natstest.Server(t)
	t.Setenv(childURLEnv, s.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 2*bound)
	defer cancel()
	const registrar = "nats:tractor.test.process"
	names := []string{"a-proc1", "a-proc2"}
	err := tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			for _, name := range names {
				if _, err := n.StartActor(ctx, name, tractor.Spawn(tractor.Process), tractor.Expose(square)); err != nil {
					return err
				}
			}
			return tractor.Run(ctx, func(ctx context.Context) error {
				addrs := map[string]bool{registrar: true}
				for i, name := range names {
					p, err := tractor.WaitForActor(ctx, name)
					if err != nil {
						return err
					}
					info := p.Info()
					if !strings.HasPrefix(info.Addr, "nats:") || addrs[info.Addr] || info.PID == os.Getpid() {
						t.Errorf("%s runs at %q in process %d: not a process of its own at an address of its own on NATS", name, info.Addr, info.PID)
					}
					addrs[info.Addr] = true
					if v, err := square.Call(ctx, p, i+2); err != nil || v != (i+2)*(i+2) {
						t.Errorf("%s: square(%d) = %d, %v", name, i+2, v, err)
					}
				}
				return nil
			}, tractor.Registrar(registrar), tractor.Secret("tree"), peerNetwork(connect(t, s)))
		})
	}, tractor.ListenAddr(registrar), tractor.Secret("tree"), peerNetwork(connect(t, s)))
	if err != nil {
		t.Fatal(err)
	}
}

// TestVanishedProgramPurged: once a program's NATS connection is gone, as
// when its process is killed, dialling its actors finds no listener (NATS
// has no responder), so the registrar purges them: FindActor says
// ErrActorNotFound and Actors no longer lists them.
func TestVanishedProgramPurged(t *testing.T) {
	s := natstest.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*bound)
	defer cancel()
	const registrar = "nats:tractor.test.vanish"
	ncA, ncB := connect(t, s), connect(t, s)
	err := tractor.Run(ctx, func(ctx context.Context) error {
		joined, release := make(chan string, 1), make(chan struct{})
		bDone := make(chan error, 1)
		go func() {
			bDone <- tractor.Run(ctx, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					defer n.Cancel()
					if _, err := n.StartActor(ctx, "b-worker", tractor.Expose(square)); err != nil {
						return err
					}
					joined <- tractor.CurrentActor(ctx).Addr()
					<-release
					return nil
				})
			}, tractor.Name("b"), tractor.Registrar(registrar), tractor.Secret("tree"), peerNetwork(ncB))
		}()
		defer func() { close(release); <-bDone }()
		var addrB string
		select {
		case addrB = <-joined:
		case err := <-bDone:
			return err
		}
		ncB.Close()
		nwA := &natsnet.Network{Conn: ncA}
		tractortest.Eventually(t, bound, func() error {
			// The server may still deliver to the closed connection's
			// subscription, which does not answer: one attempt waits a
			// second at most.
			dctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			c, err := nwA.Dial(dctx, addrB)
			if err == nil {
				c.Close()
			}
			if errors.Is(err, transport.ErrNoListener) {
				return nil
			}
			return fmt.Errorf("dial the vanished program at %s: %v, want ErrNoListener", addrB, err)
		})
		if _, err := tractor.FindActor(ctx, "b-worker"); !errors.Is(err, tractor.ErrActorNotFound) {
			t.Errorf("FindActor(b-worker) of a vanished program: %v, want ErrActorNotFound", err)
		}
		infos, err := tractor.Actors(ctx)
		if err != nil {
			return err
		}
		for _, info := range infos {
			if info.ID.Name == "b-worker" {
				t.Errorf("b-worker still listed after it was found vanished: %+v", info)
			}
		}
		return nil
	}, tractor.ListenAddr(registrar), tractor.Secret("tree"), peerNetwork(ncA))
	if err != nil {
		t.Fatal(err)
	}
}

// TestMixedAddresses: a program with a NATS network still dials TCP
// addresses. Program A serves the registrar on TCP; program B listens on
// NATS, joins A's registrar over TCP and calls a-worker over TCP, and A's
// root calls B's b-worker over NATS.
func TestMixedAddresses(t *testing.T) {
	s := natstest.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			if _, err := n.StartActor(ctx, "a-worker", tractor.Expose(square)); err != nil {
				return err
			}
			joined, release := make(chan struct{}), make(chan struct{})
			n.Go(func(ctx context.Context) error {
				return tractor.Run(ctx, func(ctx context.Context) error {
					return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
						defer n.Cancel()
						if _, err := n.StartActor(ctx, "b-worker", tractor.Expose(square)); err != nil {
							return err
						}
						p, err := tractor.FindActor(ctx, "a-worker")
						if err != nil {
							return err
						}
						if addr := p.Info().Addr; !strings.HasPrefix(addr, "127.0.0.1:") {
							t.Errorf("a-worker at %q, not on TCP", addr)
						}
						if v, err := square.Call(ctx, p, 3); err != nil || v != 9 {
							t.Errorf("B: square(3) over TCP = %d, %v", v, err)
						}
						close(joined)
						<-release
						return nil
					})
				}, tractor.Name("b"), tractor.Registrar(tractor.CurrentActor(ctx).Addr()), tractor.Secret("tree"), peerNetwork(connect(t, s)))
			})
			defer close(release)
			select {
			case <-joined:
			case <-ctx.Done(): // B failed: the nursery says why
				return nil
			}
			p, err := tractor.FindActor(ctx, "b-worker")
			if err != nil {
				return err
			}
			if addr := p.Info().Addr; !strings.HasPrefix(addr, "nats:") {
				t.Errorf("b-worker at %q, not on NATS", addr)
			}
			if v, err := square.Call(ctx, p, 4); err != nil || v != 16 {
				t.Errorf("A: square(4) over NATS = %d, %v", v, err)
			}
			return nil
		})
	}, tractor.ListenAddr("127.0.0.1:0"), tractor.Secret("tree"), peerNetwork(connect(t, s)))
	if err != nil {
		t.Fatal(err)
	}
}
