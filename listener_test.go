package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// TestSlowHandshakesBounded: connections that never complete the
// handshake cost the listener a bounded amount, however many there are:
// they do not get a goroutine each for the handshake's whole timeout. Once
// they go, a peer with the secret is admitted.
func TestSlowHandshakesBounded(t *testing.T) {
	const (
		secret = "slow-handshakes"
		silent = 400 // connections that say nothing
	)
	err := run(t, goroutines, func(ctx context.Context) error {
		addr := tractor.CurrentActor(ctx).Addr()
		before := runtime.NumGoroutine()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range silent {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("dial %d: %v", len(conns), err)
			}
			conns = append(conns, c)
		}
		// Let the listener take in what it will, for a second: a window for
		// what must not happen (a goroutine each), not a synchronisation.
		peak := 0
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			peak = max(peak, runtime.NumGoroutine()-before)
		}
		if peak >= silent {
			t.Errorf("%d silent connections cost %d goroutines; want a bound below one each", silent, peak)
		}
		for _, c := range conns {
			c.Close()
		}
		conns = nil

		cfg := transport.DefaultConfig()
		cfg.Secret = []byte(secret)
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		conn, err := transport.TCP{Config: cfg}.Dial(hctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ask := transport.Hello{Info: peerHello{From: tractor.ActorID{Name: "peer", UID: "p"}, To: tractor.CurrentActor(ctx).ID().UID}}
		if _, err := conn.(*transport.WireConn).Handshake(hctx, ask); err != nil {
			t.Fatalf("handshake with the secret after the silent ones: %v", err)
		}
		return nil
	}, tractor.Secret(secret))
	if err != nil {
		t.Fatal(err)
	}
}

// TestRefusedPeersDoNotFloodTheLog: what unauthenticated peers do is not
// worth a warning each: anyone who reaches the listener (a port scanner)
// could otherwise fill the log at will.
func TestRefusedPeersDoNotFloodTheLog(t *testing.T) {
	var log syncBuffer
	err := run(t, goroutines, func(ctx context.Context) error {
		addr := tractor.CurrentActor(ctx).Addr()
		for range 50 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			closedByPeer(c)
			c.Close()
		}
		return nil
	}, tractor.LogOutput(&log))
	if err != nil {
		t.Fatal(err)
	}
	if lines := log.lines(t); len(lines) > 1 {
		t.Fatalf("50 refused connections logged %d lines at the default level; the first: %v", len(lines), lines[0])
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

// envOf returns the value of an environment variable in the actor's
// process.
var envOf = tractor.Func("test.review.envOf", func(ctx context.Context, name string) (string, error) {
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

// TestListenAddrUnspecifiedHost: an actor's address is what peers on
// other hosts dial, so it cannot be an unspecified host ("0.0.0.0",
// ":7000"): registered as "[::]:7000", a peer elsewhere would dial
// itself, and purge the live entry when nothing answers there. Run says
// so at once instead.
func TestListenAddrUnspecifiedHost(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		ran := false
		err := tractor.Run(context.Background(), func(ctx context.Context) error {
			ran = true
			infos, err := tractor.Actors(ctx)
			if err == nil {
				t.Logf("registered at %s", infos[0].Addr)
			}
			return nil
		}, tractor.ListenAddr(addr))
		if !errors.Is(err, tractor.ErrMisuse) || !strings.Contains(err.Error(), addr) || ran {
			t.Errorf("Run with ListenAddr(%q) = %v (body ran: %v); want ErrMisuse naming the address", addr, err, ran)
		}
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
