package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tractor-go/tractor/internal/settle"
	"github.com/tractor-go/tractor/transport"
)

// TestAnswerAuthTimeout: with Config.AuthTimeout, Answer drops a dialer
// that has not proved itself by then, long before ctx's bound, whether it
// says nothing or stalls halfway; one that proves itself in time is bound
// only by ctx from then on. Time is the bubble's, so the bounds are exact.
func TestAnswerAuthTimeout(t *testing.T) {
	const bound = 500 * time.Millisecond
	config := func(secret []byte, d time.Duration) transport.Config {
		cfg := withSecret(secret)
		cfg.AuthTimeout = d
		return cfg
	}
	// answer runs Answer on one end of a net.Pipe, with peer on the other
	// end, and returns its error and how long it took.
	answer := func(t *testing.T, cfg transport.Config, peer func(t *testing.T, raw net.Conn)) (error, time.Duration) {
		pa, pb := net.Pipe()
		b := transport.NewConn(pb, cfg)
		var wg sync.WaitGroup
		defer func() { pa.Close(); b.Close(); wg.Wait() }()
		wg.Go(func() { peer(t, pa) })
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		start := time.Now()
		_, err := b.Answer(ctx, (&replier{}).reply)
		return err, time.Since(start)
	}
	silent := func(*testing.T, net.Conn) {}
	for _, tc := range []struct {
		name   string
		secret []byte
		peer   func(t *testing.T, raw net.Conn)
		what   string // what the error says is missing
	}{
		{"silent dialer", testSecret, silent, "proof"},
		{"dialer stalls after its challenge", testSecret, func(t *testing.T, raw net.Conn) {
			readAuthFrame(t, raw)
			raw.Write(frame(0, authBody("dial", []byte("a dialer's nonce, of 32 bytes..."))))
		}, "proof"},
		{"silent dialer without a secret", nil, silent, "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				err, took := answer(t, config(tc.secret, bound), tc.peer)
				if !errors.Is(err, transport.ErrAuth) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), tc.what) {
					t.Fatalf("Answer returned %v, want ErrAuth and DeadlineExceeded for a late %s", err, tc.what)
				}
				if took != bound {
					t.Fatalf("Answer returned after %v, want the AuthTimeout, %v", took, bound)
				}
			})
		})
	}
	t.Run("no bound but ctx", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			err, took := answer(t, config(testSecret, 0), silent)
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, transport.ErrAuth) || took != waitLimit {
				t.Fatalf("Answer returned %v after %v, want ctx's deadline after %v", err, took, waitLimit)
			}
		})
	})
	t.Run("dialer proves in time, says hello later", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const start, helloDelay = 400 * time.Millisecond, 2 * time.Second
			err, took := answer(t, config(testSecret, bound), func(t *testing.T, raw net.Conn) {
				<-time.After(start) // the bubble's clock, which moves at once
				// Its third write is the hello, after the challenge and
				// the proof.
				a := transport.NewConn(&slowWrite{Conn: raw, nth: 3, delay: helloDelay}, withSecret(testSecret))
				if _, err := a.Handshake(context.Background(), transport.Hello{}); err != nil {
					t.Errorf("Handshake: %v", err)
				}
			})
			if err != nil || took != start+helloDelay {
				t.Fatalf("Answer returned %v after %v, want success after %v", err, took, start+helloDelay)
			}
		})
	})
}

// slowWrite is a stream whose nth write waits for delay first. It is used
// in synctest bubbles, where the wait is on the fake clock.
type slowWrite struct {
	net.Conn
	nth, n int
	delay  time.Duration
}

func (s *slowWrite) Write(b []byte) (int, error) {
	if s.n++; s.n == s.nth {
		<-time.After(s.delay) // the bubble's clock
	}
	return s.Conn.Write(b)
}

// listenTCP listens with tr on a fresh loopback port until the test ends.
func listenTCP(t *testing.T, tr transport.TCP) transport.Listener {
	t.Helper()
	l, err := tr.Listen(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// dialFrom connects to addr from the local address ip, and closes the
// connection when the test ends.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// speak sends c's challenge as a dialer does, at once.
func speak(c net.Conn) {
	c.Write(frame(0, authBody("dial", []byte("a dialer's nonce, of 32 bytes..."))))
}

// waitPending waits until l holds want pending connections, heard of
// which have spoken.
func waitPending(t *testing.T, l transport.Listener, want, heard int) {
	t.Helper()
	settle.Eventually(t, waitLimit, func() error {
		if p, h := transport.PendingConns(l); p != want || h != heard {
			return fmt.Errorf("%d connections pending, %d of them heard; want %d and %d", p, h, want, heard)
		}
		return nil
	})
}

// crowdedOut receives n outcomes and checks that each is a connection
// closed to make room.
func crowdedOut(t *testing.T, out <-chan error, n int) {
	t.Helper()
	for i := range n {
		select {
		case err := <-out:
			if !errors.Is(err, transport.ErrCrowdedOut) {
				t.Fatalf("outcome %d: %v, want ErrCrowdedOut", i, err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("%d connections crowded out, want %d", i, n)
		}
	}
}

// TestTCPMaxPendingMakesRoom: a listener full of pending connections makes
// room for a newcomer rather than refuse it, closing a silent one first;
// a peer that spoke keeps its place however many silent ones come after,
// and its handshake completes.
func TestTCPMaxPendingMakesRoom(t *testing.T) {
	const max, silent = 8, 40
	l := listenTCP(t, transport.TCP{Config: withSecret(testSecret), MaxPending: max})
	ok, out := answerLoop(t, l, (&replier{}).reply)
	peer := dialFrom(t, "127.0.0.1", l.Addr())
	speak(peer)
	waitPending(t, l, 1, 1)
	for range silent {
		dialFrom(t, "127.0.0.1", l.Addr())
	}
	crowdedOut(t, out, 1+silent-max)
	waitPending(t, l, max, 1)

	// The peer that spoke first finishes the authentication by hand.
	finishHandshake(t, peer)
	receive(t, ok)
	waitPending(t, l, max-1, 0)
}

// finishHandshake plays a dialer that has spoken (see speak) to the end
// of its handshake, by hand.
func finishHandshake(t *testing.T, peer net.Conn) {
	t.Helper()
	_, nA := readAuthFrame(t, peer)
	nD := []byte("a dialer's nonce, of 32 bytes...")
	peer.Write(frame(0, authBody("proof", proof(testSecret, "tractor-go dial", nD, nA))))
	if step, _ := readAuthFrame(t, peer); step != "proof" {
		t.Fatalf("acceptor sent %q, want its proof", step)
	}
	peer.Write(frame(0, helloBody(transport.ProtocolVersion, false, 1<<20)))
}

// TestTCPMaxPendingPerHost: a host at its bound makes room among its own
// connections, leaving other hosts' alone; when every pending connection
// has spoken, the global bound takes the oldest of the host holding the
// most. The per-host bound holds with a global one or alone. (127.0.0.2
// and .3 are loopback addresses on Linux.)
func TestTCPMaxPendingPerHost(t *testing.T) {
	for _, max := range []int{64, 0} { // the per-host bound with a global one, and alone
		t.Run(fmt.Sprintf("per host, MaxPending %d", max), func(t *testing.T) {
			const perHost, flood = 4, 30
			l := listenTCP(t, transport.TCP{Config: withSecret(testSecret), MaxPending: max, MaxPendingPerHost: perHost})
			_, out := answerLoop(t, l, (&replier{}).reply)
			dialFrom(t, "127.0.0.1", l.Addr()) // silent, but alone on its host
			waitPending(t, l, 1, 0)
			for range flood {
				dialFrom(t, "127.0.0.2", l.Addr())
			}
			crowdedOut(t, out, flood-perHost)
			waitPending(t, l, 1+perHost, 0)
		})
	}
	t.Run("all spoke", func(t *testing.T) {
		const max = 5
		l := listenTCP(t, transport.TCP{Config: withSecret(testSecret), MaxPending: max})
		_, out := answerLoop(t, l, (&replier{}).reply)
		for i := range 2 { // the oldest two, of a host with fewer
			speak(dialFrom(t, "127.0.0.2", l.Addr()))
			waitPending(t, l, i+1, i+1)
		}
		var first net.Conn
		for i := range max - 2 {
			c := dialFrom(t, "127.0.0.1", l.Addr())
			speak(c)
			waitPending(t, l, i+3, i+3)
			if first == nil {
				first = c
			}
		}
		dialFrom(t, "127.0.0.3", l.Addr())
		crowdedOut(t, out, 1)
		waitPending(t, l, max, max-1)
		// The one closed is 127.0.0.1's oldest, not the oldest of all:
		// it reads the acceptor's challenge, then the end, long before
		// the answers' ctx ends.
		readAuthFrame(t, first)
		first.SetReadDeadline(time.Now().Add(waitLimit / 2))
		var ne net.Error
		if n, err := first.Read(make([]byte, 1)); n != 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("oldest connection of the busiest host: read %d bytes, %v; want it closed", n, err)
		}
	})
	t.Run("silent first", func(t *testing.T) {
		const max = 4
		l := listenTCP(t, transport.TCP{Config: withSecret(testSecret), MaxPending: max})
		_, out := answerLoop(t, l, (&replier{}).reply)
		silent := dialFrom(t, "127.0.0.2", l.Addr())
		waitPending(t, l, 1, 0)
		for i := range max - 1 {
			speak(dialFrom(t, "127.0.0.1", l.Addr()))
			waitPending(t, l, i+2, i+1)
		}
		dialFrom(t, "127.0.0.3", l.Addr())
		crowdedOut(t, out, 1)
		waitPending(t, l, max, max-1)
		// The one closed is the silent one, though the oldest of all and
		// of a host with fewer.
		silent.SetReadDeadline(time.Now().Add(waitLimit / 2))
		var ne net.Error
		if _, err := io.ReadAll(silent); errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the silent connection: %v; want it closed", err)
		}
	})
	t.Run("after a handshake", func(t *testing.T) {
		// A host whose pending connection ended its handshake has none
		// pending: its next connection is admitted without making room.
		l := listenTCP(t, transport.TCP{Config: withSecret(testSecret), MaxPendingPerHost: 1})
		ok, out := answerLoop(t, l, (&replier{}).reply)
		peer := dialFrom(t, "127.0.0.1", l.Addr())
		speak(peer)
		waitPending(t, l, 1, 1)
		finishHandshake(t, peer)
		receive(t, ok)
		waitPending(t, l, 0, 0)
		dialFrom(t, "127.0.0.1", l.Addr())
		waitPending(t, l, 1, 0)
		select {
		case err := <-out:
			t.Fatalf("a connection ended: %v", err)
		default:
		}
	})
}

// TestHandshakeDropped: a dialer whose acceptor closes the connection
// before the authentication is done, without refusing anything (as one
// does under a flood), gets ErrDropped, a cue to dial again; a refusal is
// not a drop.
func TestHandshakeDropped(t *testing.T) {
	nA := []byte("an acceptor's nonce, 32 bytes...")
	for _, tc := range []struct {
		name     string
		acceptor func(raw net.Conn)
	}{
		{"before its challenge", func(raw net.Conn) {
			readAuthFrame(t, raw)
		}},
		{"before its proof", func(raw net.Conn) {
			readAuthFrame(t, raw)
			raw.Write(frame(0, authBody("accept", nA)))
			readAuthFrame(t, raw)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, raw := rawPair(t, withSecret(testSecret))
			done := handshakeAsync(t, boundedCtx(t), a, transport.Hello{})
			tc.acceptor(raw)
			raw.Close()
			if s := <-done; !errors.Is(s.err, transport.ErrDropped) || errors.Is(s.err, transport.ErrAuth) {
				t.Fatalf("Handshake returned %v, want ErrDropped", s.err)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		a, b := socketpairConns(t, withSecret(testSecret), withSecret(otherSecret))
		ra, _ := dialAnswer(boundedCtx(t), a, b, transport.Hello{}, (&replier{}).reply)
		if !errors.Is(ra.err, transport.ErrAuth) || errors.Is(ra.err, transport.ErrDropped) {
			t.Fatalf("Handshake returned %v, want ErrAuth and no ErrDropped", ra.err)
		}
	})
}
