package tractor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// The flow-control window's defaults, as the documentation of Window gives
// them.
const (
	defaultWindowItems = 1024
	defaultWindowBytes = 4 << 20
)

// bigFloodArg asks bigFlood for N items of Size bytes each; Rogue makes it
// ignore its caller's window.
type bigFloodArg struct {
	Key   string
	N     int
	Size  int
	Rogue bool
}

// floodTasks holds the running bigFlood tasks, by actor and key, for
// floodCredit.
var floodTasks sync.Map

func floodTaskKey(ctx context.Context, key string) string {
	return tractor.CurrentActor(ctx).ID().UID + "/" + key
}

var (
	// bigFlood yields N fresh items of Size bytes and counts them in
	// Key+".sent".
	bigFlood = tractor.Stream("test.bigFlood", func(ctx context.Context, a bigFloodArg, yield func([]byte) error) error {
		if a.Rogue {
			// A dialog's task: a generator of the caller's process
			// yields into a bounded queue, and cannot ignore it.
			tractor.IgnoreCredit(ctx.(*tractor.Context))
		}
		k := floodTaskKey(ctx, a.Key)
		floodTasks.Store(k, ctx)
		defer floodTasks.Delete(k)
		for i := range a.N {
			if err := yield(bytes.Repeat([]byte{byte(i)}, a.Size)); err != nil {
				return err
			}
			mark(ctx, a.Key+".sent")
		}
		return nil
	})
	// floodCredit returns the credit the bigFlood task with the key has
	// left, items and bytes; ok is false if it is not running.
	floodCredit = tractor.Func("test.floodCredit", func(ctx context.Context, key string) (credit struct {
		Items int
		Bytes int64
		OK    bool
	}, err error) {
		if c, ok := floodTasks.Load(floodTaskKey(ctx, key)); ok {
			credit.Items, credit.Bytes = tractor.SendCredit(c.(context.Context))
			credit.OK = true
		}
		return credit, nil
	})
	// sink opens its stream and reads nothing until cancelled.
	sink = tractor.Ctx("test.sink", func(c *tractor.Context, _ struct{}) (int, error) {
		if err := c.Started(nil); err != nil {
			return 0, err
		}
		if _, err := tractor.OpenStream[int, int](c); err != nil {
			return 0, err
		}
		<-c.Done()
		return 0, c.Err()
	})
)

// awaitStall waits until s, whose receiver reads nothing, holds its whole
// window (windowItems items, or windowBytes bytes: the last item it lets
// through has arrived) and the bigFlood task with key behind it has run out
// of credit. It fails the test as soon as the items queued on s hold more
// than bound bytes, or if the task ends without running out of credit. It
// returns what is queued.
func awaitStall[S, R any](ctx context.Context, t *testing.T, p *tractor.Portal, s *tractor.MsgStream[S, R], key string, windowItems, windowBytes, bound int) (items, size int) {
	t.Helper()
	eventually(t, 15*time.Second, "the producer stalls on its credit", func() bool {
		items, size = tractor.Queued(s)
		if size > bound {
			t.Fatalf("a stalled receiver holds %d items, %d bytes: over the bound of %d bytes", items, size, bound)
		}
		sent := seenIn(ctx, t, p, key+".sent") // before the credit: the task is known by then
		credit, err := floodCredit.Call(ctx, p, key)
		if err != nil {
			t.Fatalf("floodCredit: %v", err)
		}
		if !credit.OK && sent > 0 {
			t.Fatalf("the producer sent all its %d items without running out of credit", sent)
		}
		full := items >= windowItems || size >= windowBytes
		return full && credit.OK && (credit.Items <= 0 || credit.Bytes <= 0)
	})
	return items, size
}

// receiveAll receives n items of size bytes from s, item i made of byte i,
// then the end of the stream.
func receiveAll(ctx context.Context, t *testing.T, s *tractor.MsgStream[tractor.NoSend, []byte], n, size int) {
	t.Helper()
	for i := range n {
		v, err := s.Receive(ctx)
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		if len(v) != size || v[0] != byte(i) || v[size-1] != byte(i) {
			t.Fatalf("item %d: %d bytes starting with %d, want %d bytes of %d", i, len(v), v[0], size, byte(i))
		}
	}
	if _, err := s.Receive(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after %d items: %v, want io.EOF", n, err)
	}
}

// testStalledBigItems: a receiver that stops reading a stream of 1 MiB
// items holds less than the byte window plus one item, not the 1024-item
// window (1 GiB), and loses nothing once it reads again.
func testStalledBigItems(t *testing.T, h hosting) {
	withWorker(t, h, eps(bigFlood, floodCredit, seen), func(ctx context.Context, p *tractor.Portal) {
		const n, size = 32, 1 << 20
		s, err := bigFlood.Open(ctx, p, bigFloodArg{Key: "big", N: n, Size: size})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		items, held := awaitStall(ctx, t, p, s, "big", defaultWindowItems, defaultWindowBytes, 2*defaultWindowBytes+size+1024)
		// Exactly the items that fill the window, each a little over 1 MiB
		// with its envelope: the sender stops once the window is spent.
		if want := defaultWindowBytes / size; items != want || held < defaultWindowBytes || held > defaultWindowBytes+size {
			t.Errorf("stalled: %d items, %d bytes held, want %d items, %d to %d bytes",
				items, held, want, defaultWindowBytes, defaultWindowBytes+size)
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		t.Logf("stalled receiver of %d-byte items holds %d items, %d bytes (heap in use %d MiB)",
			size, items, held, ms.HeapInuse>>20)
		receiveAll(ctx, t, s, n, size)
	})
}

// testDialogWindow: a window given to Open bounds that stream, in items
// and in bytes, whichever comes first; the actor's window is the default.
func testDialogWindow(t *testing.T, h hosting) {
	withWorker(t, h, eps(bigFlood, floodCredit, seen), func(ctx context.Context, p *tractor.Portal) {
		for _, tc := range []struct {
			name                     string
			windowItems, windowBytes int
			size, items              int // the items' size and how many fill the window
		}{
			{"items", 4, defaultWindowBytes, 10, 4},
			{"bytes", defaultWindowItems, 3 << 20, 1 << 20, 3},
			{"one item over the window", defaultWindowItems, 1000, 4000, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				const n = 12
				key := "window." + tc.name
				window := tractor.Window(tc.windowItems, tc.windowBytes)
				s, err := bigFlood.Open(ctx, p, bigFloodArg{Key: key, N: n, Size: tc.size}, window)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if items, _ := awaitStall(ctx, t, p, s, key, tc.windowItems, tc.windowBytes, 1<<30); items != tc.items {
					t.Errorf("the producer stalled after %d items, want %d", items, tc.items)
				}
				receiveAll(ctx, t, s, n, tc.size)
			})
		}
	})
}

// testActorWindow: the window given to an actor is the one it receives
// with: its caller may send that many items on a context stream, then has
// no credit left until the actor reads.
func testActorWindow(t *testing.T, h hosting) {
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "worker", tractor.Expose(sink), tractor.Window(8, 1<<20))
			if err != nil {
				return err
			}
			defer p.CancelActor(ctx)
			c, err := sink.Open(ctx, p, struct{}{})
			if err != nil {
				return err
			}
			s, err := tractor.OpenStream[int, int](c)
			if err != nil {
				return err
			}
			if items, size := tractor.StreamSendCredit(s); items != 8 || size != 1<<20 {
				return fmt.Errorf("caller's credit from the start: %d items, %d bytes, want 8 and %d", items, size, 1<<20)
			}
			for i := range 8 {
				if err := s.Send(ctx, i); err != nil {
					return fmt.Errorf("send %d: %w", i, err)
				}
			}
			if items, _ := tractor.StreamSendCredit(s); items != 0 {
				return fmt.Errorf("caller's credit after filling the window: %d items, want 0", items)
			}
			c.Cancel()
			if _, err := sink.Result(ctx, c); !errors.Is(err, tractor.ErrContextCancelled) {
				return fmt.Errorf("result: %v, want ErrContextCancelled", err)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testPeerPastByteWindow: a peer that sends past the byte window has its
// dialog failed with a protocol error, after the items within the window;
// the receiver never queues more, and the actor goes on serving. A
// generator of the caller's process streams through a bounded queue it
// cannot go past, so the goroutine hosting goes through a dialog here.
func testPeerPastByteWindow(t *testing.T, h hosting) {
	defer tractor.ForceDialogStreams()()
	var logs syncBuffer
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "worker", tractor.Expose(bigFlood, square))
			if err != nil {
				return err
			}
			defer p.CancelActor(ctx)
			const size = 1 << 20
			s, err := bigFlood.Open(ctx, p, bigFloodArg{Key: "rogue", N: 16, Size: size, Rogue: true})
			if err != nil {
				return err
			}
			defer s.Close()
			// Nothing is read until the receiver has refused the peer,
			// for reading would grant it credit.
			eventually(t, 15*time.Second, "the receiver refuses the rogue peer", func() bool {
				return protocolErrorLogged(t, &logs)
			})
			got := 0
			for ; ; got++ {
				if _, held := tractor.Queued(s); held > defaultWindowBytes+size {
					return fmt.Errorf("the receiver queued %d bytes from a rogue peer", held)
				}
				if _, err = s.Receive(ctx); err != nil {
					break
				}
			}
			var re *tractor.RemoteError
			if !errors.As(err, &re) || re.Type != "tractor.ProtocolError" || !strings.Contains(re.Message, fmt.Sprint(defaultWindowBytes, " bytes")) {
				return fmt.Errorf("after %d items: %v, want a protocol error naming the %d-byte window", got, err, defaultWindowBytes)
			}
			if want := defaultWindowBytes / size; got != want {
				return fmt.Errorf("received %d items before the protocol error, want the %d within the window", got, want)
			}
			if v, err := square.Call(ctx, p, 9); err != nil || v != 81 {
				return fmt.Errorf("the actor after a rogue stream: %d, %v", v, err)
			}
			return nil
		})
	}, tractor.LogOutput(&logs))
	if err != nil {
		t.Fatal(err)
	}
}

// protocolErrorLogged says whether logs hold the warning of a peer that
// sent past its window.
func protocolErrorLogged(t *testing.T, logs *syncBuffer) bool {
	for _, l := range logs.lines(t) {
		if strings.Contains(fmt.Sprint(l["msg"]), "peer sent past its credit window") {
			return true
		}
	}
	return false
}

// TestFlowWindow: the flow-control window bounds the bytes in flight as
// well as the items, is set per actor and per dialog, and is enforced.
func TestFlowWindow(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			t.Run("StalledBigItems", func(t *testing.T) { testStalledBigItems(t, h) })
			t.Run("DialogWindow", func(t *testing.T) { testDialogWindow(t, h) })
			t.Run("ActorWindow", func(t *testing.T) { testActorWindow(t, h) })
			t.Run("PeerPastByteWindow", func(t *testing.T) { testPeerPastByteWindow(t, h) })
			t.Run("ContextStreamWindow", func(t *testing.T) { testContextStreamWindow(t, h) })
			t.Run("CalleeStreamWindow", func(t *testing.T) { testCalleeStreamWindow(t, h) })
			t.Run("ShrinkFromHugeWindow", func(t *testing.T) { testShrinkFromHugeWindow(t, h) })
		})
	}
}

// TestWindowValidated: Window panics, naming the call, on a window that
// could never let an item through (one over the caps is clamped: see
// testCalleeStreamWindow).
func TestWindowValidated(t *testing.T) {
	for _, w := range [][2]int{{0, 1}, {1, 0}, {-1, 1}, {1, -1}, {math.MaxInt, 0}} {
		func() {
			defer func() {
				v := recover()
				if s, ok := v.(string); !ok || !strings.Contains(s, fmt.Sprintf("Window(%d, %d)", w[0], w[1])) {
					t.Errorf("Window(%d, %d) panicked with %v, want a message naming the call", w[0], w[1], v)
				}
			}()
			tractor.Window(w[0], w[1])
		}()
	}
}

var (
	// ctxFlood opens its stream, waits for the caller's "go", then sends
	// N items of Size bytes, counting them in Key+".sent", as bigFlood
	// yields them.
	ctxFlood = tractor.Ctx("test.ctxFlood", func(c *tractor.Context, a bigFloodArg) (int, error) {
		if err := c.Started(nil); err != nil {
			return 0, err
		}
		s, err := tractor.OpenStream[[]byte, string](c)
		if err != nil {
			return 0, err
		}
		if _, err := s.Receive(c); err != nil {
			return 0, err
		}
		k := floodTaskKey(c, a.Key)
		floodTasks.Store(k, c)
		defer floodTasks.Delete(k)
		for i := range a.N {
			if err := s.Send(c, bytes.Repeat([]byte{byte(i)}, a.Size)); err != nil {
				return i, err
			}
			mark(c, a.Key+".sent")
		}
		return a.N, nil
	})
	// narrowSink opens its stream with the window its argument gives,
	// says "ready" on it, and reads nothing until cancelled.
	narrowSink = tractor.Ctx("test.narrowSink", func(c *tractor.Context, w [2]int) (int, error) {
		if err := c.Started(nil); err != nil {
			return 0, err
		}
		s, err := tractor.OpenStream[string, int](c, tractor.Window(w[0], w[1]))
		if err != nil {
			return 0, err
		}
		if err := s.Send(c, "ready"); err != nil {
			return 0, err
		}
		<-c.Done()
		return 0, c.Err()
	})
)

// testContextStreamWindow: a window of one item given to OpenStream, after
// the dialog opened with the actor's window, lets the peer have at most
// one item in flight: it stalls with one item queued here, and then sends
// each item once the one before has been received.
func testContextStreamWindow(t *testing.T, h hosting) {
	withWorker(t, h, eps(ctxFlood, floodCredit, seen), func(ctx context.Context, p *tractor.Portal) {
		const n, size = 12, 10
		key := "ctxwindow"
		c, err := ctxFlood.Open(ctx, p, bigFloodArg{Key: key, N: n, Size: size})
		if err != nil {
			t.Fatal(err)
		}
		s, err := tractor.OpenStream[string, []byte](c, tractor.Window(1, defaultWindowBytes))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(ctx, "go"); err != nil {
			t.Fatal(err)
		}
		if items, _ := awaitStall(ctx, t, p, s, key, 1, defaultWindowBytes, 1<<20); items != 1 {
			t.Errorf("the producer stalled with %d items in flight, want 1", items)
		}
		for i := range n {
			if items, _ := tractor.Queued(s); items > 1 {
				t.Fatalf("before item %d: %d items queued, want at most 1", i, items)
			}
			v, err := s.Receive(ctx)
			if err != nil || len(v) != size || v[0] != byte(i) {
				t.Fatalf("item %d: %v, %v", i, v, err)
			}
		}
		s.Close()
		if sent, err := ctxFlood.Result(ctx, c); err != nil || sent != n {
			t.Fatalf("result: %d, %v; want %d", sent, err, n)
		}
	})
}

// testCalleeStreamWindow: a window given to OpenStream by the callee,
// smaller or larger than its actor's, is the caller's credit once the
// callee has opened its stream; one over the caps (2^31-1 items, 2^61-1
// bytes) is the caps.
func testCalleeStreamWindow(t *testing.T, h hosting) {
	withWorker(t, h, eps(narrowSink), func(ctx context.Context, p *tractor.Portal) {
		for _, w := range [][2]int{{1, 1 << 10}, {3 * defaultWindowItems, 2 * defaultWindowBytes}, {math.MaxInt, math.MaxInt}} {
			c, err := narrowSink.Open(ctx, p, w)
			if err != nil {
				t.Fatal(err)
			}
			s, err := tractor.OpenStream[int, string](c)
			if err != nil {
				t.Fatal(err)
			}
			// The window's change went out before "ready".
			if v, err := s.Receive(ctx); err != nil || v != "ready" {
				t.Fatalf("callee's first item: %q, %v", v, err)
			}
			wantItems, wantBytes := min(w[0], math.MaxInt32), min(int64(w[1]), math.MaxInt64/4)
			if items, bytes := tractor.StreamSendCredit(s); items != wantItems || bytes != wantBytes {
				t.Errorf("window %v: the caller's credit is %d items, %d bytes, want %d and %d", w, items, bytes, wantItems, wantBytes)
			}
			c.Cancel()
			if _, err := narrowSink.Result(ctx, c); !errors.Is(err, tractor.ErrContextCancelled) {
				t.Errorf("result: %v, want ErrContextCancelled", err)
			}
		}
	})
}

// testShrinkFromHugeWindow: a dialog opened with a window over the caps
// (math.MaxInt64 bytes for no byte limit, math.MaxUint32 items), then
// shrunk by OpenStream, holds its peer to the smaller window, and the
// stream flows: the peer's credit is revoked down to the new window, not
// to nothing.
func testShrinkFromHugeWindow(t *testing.T, h hosting) {
	withWorker(t, h, eps(ctxFlood, floodCredit, seen), func(ctx context.Context, p *tractor.Portal) {
		for _, tc := range []struct {
			name string
			open [2]int // the window the dialog opens with
		}{
			{"no byte limit", [2]int{8, math.MaxInt64}},
			{"items over the cap", [2]int{math.MaxUint32, 1 << 20}},
			{"no limit", [2]int{math.MaxInt, math.MaxInt}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				const n, size, window = 20, 10, 8
				key := "shrink." + tc.name
				c, err := ctxFlood.Open(ctx, p, bigFloodArg{Key: key, N: n, Size: size}, tractor.Window(tc.open[0], tc.open[1]))
				if err != nil {
					t.Fatal(err)
				}
				s, err := tractor.OpenStream[string, []byte](c, tractor.Window(window, 1<<20))
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Send(ctx, "go"); err != nil {
					t.Fatal(err)
				}
				if items, _ := awaitStall(ctx, t, p, s, key, window, 1<<20, 1<<20); items != window {
					t.Errorf("opened with Window%v, shrunk to %d items: the producer stalled with %d items in flight", tc.open, window, items)
				}
				for i := range n {
					v, err := s.Receive(ctx)
					if err != nil || len(v) != size || v[0] != byte(i) {
						t.Fatalf("opened with Window%v: item %d: %v, %v", tc.open, i, v, err)
					}
				}
				s.Close()
				if sent, err := ctxFlood.Result(ctx, c); err != nil || sent != n {
					t.Fatalf("result: %d, %v; want %d", sent, err, n)
				}
			})
		}
	})
}
