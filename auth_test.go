package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// peerHello has the fields of the runtime's request for a peer connection,
// which travel by name: what a foreign client would send.
type peerHello struct {
	From tractor.ActorID
	To   string
	PID  int
}

// peerWelcome has the fields of the runtime's answer.
type peerWelcome struct {
	ID      tractor.ActorID
	PID     int
	Refused string
}

// closedByPeer reports whether the peer closes c within a bound, reading
// (and discarding) whatever it sends first.
func closedByPeer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestPeerAuthentication: a process's listener admits only peers that prove
// they know the tree's secret. Garbage, a hello without proof and a wrong
// proof are dropped in the handshake, before any endpoint is reachable, and
// the tree goes on serving; the right secret is answered.
func TestPeerAuthentication(t *testing.T) {
	const secret = "the tree's secret"
	err := run(t, goroutines, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			w, err := n.StartActor(ctx, "worker", tractor.Expose(square))
			if err != nil {
				return err
			}
			addr := tractor.CurrentActor(ctx).Addr()
			before, err := tractor.Actors(ctx)
			if err != nil {
				return err
			}
			ask := transport.Hello{Info: peerHello{From: tractor.ActorID{Name: "intruder", UID: "x"}, To: w.Actor().UID}}

			t.Run("garbage", func(t *testing.T) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.Write([]byte("GET / HTTP/1.1\r\nHost: tractor\r\n\r\n\x00\x01\x02\xff\xfe"))
				if !closedByPeer(c) {
					t.Fatal("connection sending garbage was not dropped")
				}
			})
			for _, tc := range []struct {
				name   string
				secret string
			}{{"no proof", ""}, {"wrong proof", "a guess"}} {
				t.Run(tc.name, func(t *testing.T) {
					cfg := transport.DefaultConfig()
					cfg.Secret = []byte(tc.secret)
					conn, err := transport.TCP{Config: cfg}.Dial(ctx, addr)
					if err != nil {
						t.Fatal(err)
					}
					defer conn.Close()
					_, err = conn.(*transport.WireConn).Handshake(ctx, ask)
					if !errors.Is(err, transport.ErrAuth) {
						t.Fatalf("handshake = %v; want ErrAuth", err)
					}
				})
			}
			t.Run("wrong proof on a raw socket", func(t *testing.T) {
				// A challenge as the protocol frames it, then a proof of
				// the right size that is wrong: the listener answers the
				// challenge, reads the proof, and hangs up.
				cfg := transport.DefaultConfig()
				cfg.Secret = []byte("not it")
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				wc := transport.NewConn(c, cfg)
				defer wc.Close()
				hctx, cancel := context.WithTimeout(ctx, hangBound)
				defer cancel()
				if _, err := wc.Handshake(hctx, ask); !errors.Is(err, transport.ErrAuth) {
					t.Fatalf("handshake = %v; want ErrAuth", err)
				}
				if !closedByPeer(c) {
					t.Fatal("connection with a wrong proof was not dropped")
				}
			})
			t.Run("right secret", func(t *testing.T) {
				cfg := transport.DefaultConfig()
				cfg.Secret = []byte(secret)
				conn, err := transport.TCP{Config: cfg}.Dial(ctx, addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				peer, err := conn.(*transport.WireConn).Handshake(ctx, ask)
				if err != nil {
					t.Fatalf("handshake with the secret: %v", err)
				}
				var welcome peerWelcome
				if err := transport.Decode(peer.Info, &welcome); err != nil || welcome.ID != w.Actor() {
					t.Fatalf("welcome = %+v, %v; want the worker", welcome, err)
				}
			})

			// The tree is unharmed: discovery and calls work, and no
			// intruder made it into the registry.
			p, err := tractor.FindActor(ctx, "worker")
			if err != nil {
				t.Fatal(err)
			}
			if v, err := square.Call(ctx, p, 12); err != nil || v != 144 {
				t.Fatalf("square = %d, %v", v, err)
			}
			after, err := tractor.Actors(ctx)
			if err != nil {
				return err
			}
			if !slices.Equal(infoNames(before), infoNames(after)) {
				t.Fatalf("registry changed: %v, then %v", infoNames(before), infoNames(after))
			}
			return nil
		})
	}, tractor.Secret(secret))
	if err != nil {
		t.Fatal(err)
	}
}

// TestProgramsNeedTheSameSecret: a program with another secret cannot join
// a registrar; the error says why.
func TestProgramsNeedTheSameSecret(t *testing.T) {
	err := run(t, goroutines, func(ctx context.Context) error {
		addr := tractor.CurrentActor(ctx).Addr()
		jctx, cancel := context.WithTimeout(ctx, hangBound)
		defer cancel()
		err := tractor.Run(jctx, func(context.Context) error {
			t.Error("joined with the wrong secret")
			return nil
		}, tractor.Registrar(addr), tractor.Secret("other"))
		if !errors.Is(err, tractor.ErrRegistrar) || !errors.Is(err, transport.ErrAuth) {
			t.Fatalf("join = %v; want ErrRegistrar and ErrAuth", err)
		}
		return nil
	}, tractor.Secret("one"))
	if err != nil {
		t.Fatal(err)
	}
}

// envOf returns the value of an environment variable in the actor's
// process.
var envOf = tractor.Func("test.envOf", func(ctx context.Context, name string) (string, error) {
	return os.Getenv(name), nil
})

// TestSecretStaysOutOfChildEnvironment: a process actor learns the tree's
// secret from its environment, but does not leave it there, where every
// program it runs in turn (exec.Command inherits the environment) would
// learn it too.
func TestSecretStaysOutOfChildEnvironment(t *testing.T) {
	const secret = "not for grandchildren"
	err := run(t, processPipe, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			p, err := n.StartActor(ctx, "worker", tractor.Expose(envOf, square))
			if err != nil {
				return err
			}
			for _, name := range []string{"TRACTOR_SECRET", "TRACTOR_LISTEN"} {
				if v, err := envOf.Call(ctx, p, name); err != nil || v != "" {
					t.Errorf("%s in the process actor's environment = %q, %v; want it unset", name, v, err)
				}
			}
			// It still knows the secret: a peer can reach it.
			found, err := tractor.FindActor(ctx, "worker")
			if err != nil {
				return err
			}
			if v, err := square.Call(ctx, found, 5); err != nil || v != 25 {
				t.Errorf("square through a found portal = %d, %v", v, err)
			}
			return nil
		})
	}, tractor.Secret(secret))
	if err != nil {
		t.Fatal(err)
	}
}

// TestSecretOptionBelowRun: the secret is the tree's. Given to a nursery
// or an actor, Secret cannot open a process actor's listener to peers
// without the tree's secret (an empty one would admit anyone), nor cut
// the actor off from its own tree.
func TestSecretOptionBelowRun(t *testing.T) {
	const secret = "the tree's"
	for _, below := range []string{"", "another"} {
		t.Run(fmt.Sprintf("%q", below), func(t *testing.T) {
			err := run(t, processPipe, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					defer n.Cancel()
					w, err := n.StartActor(ctx, "worker", tractor.Expose(square, talkTo), tractor.Secret(below))
					if err != nil {
						return err
					}
					infos, err := tractor.Actors(ctx)
					if err != nil {
						return err
					}
					i := slices.IndexFunc(infos, func(i tractor.ActorInfo) bool { return i.ID == w.Actor() })
					if i < 0 {
						t.Fatalf("worker not registered: %v", infoNames(infos))
					}
					cfg := transport.DefaultConfig()
					cfg.Secret = []byte(below)
					conn, err := transport.TCP{Config: cfg}.Dial(ctx, infos[i].Addr)
					if err != nil {
						return err
					}
					defer conn.Close()
					ask := transport.Hello{Info: peerHello{From: tractor.ActorID{Name: "intruder", UID: "x"}, To: w.Actor().UID}}
					if _, err := conn.(*transport.WireConn).Handshake(ctx, ask); !errors.Is(err, transport.ErrAuth) {
						t.Errorf("handshake with secret %q = %v; want ErrAuth", below, err)
					}
					// The worker still reaches its tree: it finds the root.
					r, err := talkTo.Call(ctx, w, "root")
					if err != nil {
						t.Errorf("worker to root: %v", err)
					} else if r.SeenAs != w.Actor() {
						t.Errorf("root saw %v", r.SeenAs)
					}
					return nil
				})
			}, tractor.Secret(secret), tractor.Expose(whoCalls, echo))
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
