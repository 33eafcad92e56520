package tractor_test

import (
	"context"
	"errors"
	"io"
	"net"
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
