package tractor_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// findSquare finds the actor named "worker", calls its square with x, and
// returns the result and how long finding and calling took.
var findSquare = tractor.Func("test.flood.findSquare", findAndSquare)

func findAndSquare(ctx context.Context, x int) (timedSquare, error) {
	start := time.Now()
	p, err := tractor.FindActor(ctx, "worker")
	if err != nil {
		return timedSquare{}, err
	}
	v, err := square.Call(ctx, p, x)
	return timedSquare{v, time.Since(start)}, err
}

type timedSquare struct {
	Square int
	Took   time.Duration
}

// TestHandshakeFloodAdmitsNewPeers: hundreds of idle connections held open
// to a tree's listeners, from several addresses including the peers' own,
// and opened again as soon as they are dropped, lock no peer out. During
// the flood a new child reaches the registrar, finds an actor and calls
// it, and so does a new program joining the tree. Only a hang fails the
// test; the times taken are logged.
func TestHandshakeFloodAdmitsNewPeers(t *testing.T) {
	const secret, idle = "flood", 300
	for _, h := range rows(hostings) {
		if h.name == processNATS.name {
			// The flood is of TCP connections to TCP listeners; a tree on
			// NATS has no socket to flood (natsnet's listeners are
			// subscriptions, and NATS's own limits guard its server).
			continue
		}
		t.Run(h.name, func(t *testing.T) {
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					defer n.Cancel()
					if _, err := n.StartActor(ctx, "worker", tractor.Expose(square)); err != nil {
						return err
					}
					registrar := tractor.CurrentActor(ctx).Addr()
					targets := []string{registrar}
					infos, err := tractor.Actors(ctx)
					if err != nil {
						return err
					}
					for _, info := range infos {
						if info.ID.Name == "worker" && info.Addr != registrar {
							targets = append(targets, info.Addr)
						}
					}
					f := startFlood(targets, idle)
					defer f.stop()
					f.waitOpened(t, idle)

					start := time.Now()
					c, err := n.StartActor(ctx, "client", tractor.Expose(findSquare))
					if err != nil {
						t.Fatalf("starting a child during the flood: %v", err)
					}
					got, err := findSquare.Call(ctx, c, 7)
					if err != nil || got.Square != 49 {
						t.Fatalf("the new child's find and call during the flood: %+v, %v", got, err)
					}
					t.Logf("new child: started, found and called in %v (find and call: %v)", time.Since(start).Round(time.Millisecond), got.Took.Round(time.Millisecond))

					start = time.Now()
					var took time.Duration
					err = tractor.Run(ctx, func(ctx context.Context) error {
						got, err := findAndSquare(ctx, 6)
						if err != nil || got.Square != 36 {
							t.Fatalf("the new program's find and call during the flood: %+v, %v", got, err)
						}
						took = got.Took
						return nil
					}, tractor.Registrar(registrar), tractor.Name("newcomer"), tractor.Secret(secret))
					if err != nil {
						t.Fatalf("a new program during the flood: %v", err)
					}
					t.Logf("new program: joined, found and called in %v (find and call: %v); %d idle connections dropped and reopened",
						time.Since(start).Round(time.Millisecond), took.Round(time.Millisecond), f.reopened.Load())
					return nil
				})
			}, tractor.Secret(secret))
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// idleFlood holds idle connections open to listeners, each opened again as
// soon as the listener drops it, until stop.
type idleFlood struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	opened   atomic.Int64 // connections opened
	reopened atomic.Int64 // connections the listeners dropped
}

// startFlood opens idle connections to addrs, from 127.0.0.1, .2 and .3 in
// turn.
func startFlood(addrs []string, idle int) *idleFlood {
	ctx, cancel := context.WithCancel(context.Background())
	f := &idleFlood{cancel: cancel}
	for i := range idle {
		from := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%3))}
		to := addrs[i%len(addrs)]
		f.wg.Go(func() { f.hold(ctx, from, to) })
	}
	return f
}

// hold keeps one idle connection from from to to open until ctx ends.
func (f *idleFlood) hold(ctx context.Context, from *net.TCPAddr, to string) {
	d := net.Dialer{LocalAddr: from}
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", to)
		if err != nil {
			// The listener's backlog is full, or it is gone: try again.
			select {
			case <-time.After(time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		f.opened.Add(1)
		stop := context.AfterFunc(ctx, func() { c.Close() })
		io.Copy(io.Discard, c) // until the listener drops it
		stop()
		c.Close()
		f.reopened.Add(1)
	}
}

// waitOpened waits until n connections have been opened.
func (f *idleFlood) waitOpened(t *testing.T, n int64) {
	t.Helper()
	eventually(t, testTimeout, "the flood's connections opened", func() bool { return f.opened.Load() >= n })
}

func (f *idleFlood) stop() {
	f.cancel()
	f.wg.Wait()
}

// TestDialRetriesDroppedHandshake: a listener that drops a peer's first
// connections before authenticating them, as one under a flood may, does
// not fail the peer, which dials again. Here a new program reaches the
// registrar through a proxy that drops its first two connections.
func TestDialRetriesDroppedHandshake(t *testing.T) {
	const secret = "dropped"
	err := run(t, goroutines, func(ctx context.Context) error {
		proxy := droppingProxy(t, tractor.CurrentActor(ctx).Addr(), 2)
		return tractor.Run(ctx, func(ctx context.Context) error {
			infos, err := tractor.Actors(ctx)
			if err != nil {
				t.Fatalf("the registrar, dialled through a listener that drops: %v", err)
			}
			if len(infos) != 2 {
				t.Fatalf("registry = %+v, want the root and the newcomer", infos)
			}
			return nil
		}, tractor.Registrar(proxy), tractor.Name("newcomer"), tractor.Secret(secret))
	}, tractor.Secret(secret))
	if err != nil {
		t.Fatal(err)
	}
}

// droppingProxy listens on a fresh loopback port, closes the first drop
// connections at once and passes the others on to target. Its goroutines
// end with the test.
func droppingProxy(t *testing.T, target string, drop int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	wg.Go(func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if i < drop {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			track(c)
			track(up)
			wg.Go(func() { io.Copy(up, c); up.Close() })
			wg.Go(func() { io.Copy(c, up); c.Close() })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestDialBackIntruders: connections made to a TCP process actor's
// dial-back port before the child reaches it, silent or sending what is
// not its token, do not stop the child from starting and serving, and
// are dropped.
func TestDialBackIntruders(t *testing.T) {
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	defer tractor.SetChildListenHook(func(addr net.Addr) {
		mu.Lock()
		defer mu.Unlock()
		for i := range 100 {
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				t.Errorf("intruder %d: %v", i, err)
				return
			}
			conns = append(conns, c)
			if i%2 == 1 {
				c.Write([]byte("not the child's token, 32 bytes."))
			}
		}
	})()
	withWorker(t, processTCP, eps(square), func(ctx context.Context, p *tractor.Portal) {
		if v, err := square.Call(ctx, p, 7); err != nil || v != 49 {
			t.Errorf("square(7) = %v, %v; want 49", v, err)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if len(conns) == 0 {
		t.Fatal("no intruder connected")
	}
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("intruder %d still connected", i)
		}
	}
}
