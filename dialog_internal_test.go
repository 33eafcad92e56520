package tractor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/tractor-go/tractor/transport"
)

// grantLink is a connection that records the credit grants and revokes
// this side sends; as a brokenLink, its read side waits for Close.
type grantLink struct {
	brokenLink
	grants chan transport.Msg
}

func (c *grantLink) Send(_ context.Context, m transport.Msg) error {
	if m.Kind == transport.KindCredit || m.Kind == transport.KindRevoke {
		c.grants <- m
	}
	return nil
}

// granted returns the grant sent since the last call, if any.
func (c *grantLink) granted() (transport.Msg, bool) {
	select {
	case m := <-c.grants:
		return m, true
	default:
		return transport.Msg{}, false
	}
}

// streamDialog is the caller's side of a stream dialog that receives with
// window w, on a served session whose link records the grants it sends.
func streamDialog(t *testing.T, w flowWindow) (*dialog, *grantLink) {
	link := &grantLink{brokenLink: brokenLink{closed: make(chan struct{})}, grants: make(chan transport.Msg, 64)}
	ch := servedSession(t, defaultConfig(), link)
	d := newDialog(ch, 1, modeStream, true, w)
	d.ctx = context.Background()
	return d, link
}

// yield is the n-th yield of a test stream, of size bytes.
func yield(n, size int) transport.Msg {
	return transport.Msg{Kind: transport.KindYield, CID: 1, Payload: n, Size: size}
}

// TestFlowGrantAtHalfWindow: the receiver grants credit back once its user
// has taken half the item window, or half the byte window, and not one
// yield later (PROTOCOL.md §8, "Grants"); the grant names what was taken.
func TestFlowGrantAtHalfWindow(t *testing.T) {
	for _, tc := range []struct {
		name        string
		window      flowWindow
		size, grant int // each yield's size; the yields taken when the grant goes
	}{
		{"half the items", newFlowWindow(8, 1<<20), 1, 4},
		{"half the bytes", newFlowWindow(1000, 100), 10, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, link := streamDialog(t, tc.window)
			for n := range tc.grant {
				d.push(yield(n, tc.size))
			}
			for n := range tc.grant {
				m, err := d.next(context.Background())
				if err != nil || m.Payload != n {
					t.Fatalf("take %d: %v, %v", n, m.Payload, err)
				}
				g, ok := link.granted()
				if n+1 < tc.grant {
					if ok {
						t.Fatalf("granted %d items, %d bytes after %d yields taken, want no grant before %d",
							g.Credit, g.CreditBytes, n+1, tc.grant)
					}
					continue
				}
				if !ok || g.Credit != uint32(tc.grant) || g.CreditBytes != uint64(tc.grant*tc.size) {
					t.Fatalf("after %d yields taken: grant %v (%d items, %d bytes), want %d items, %d bytes",
						tc.grant, ok, g.Credit, g.CreditBytes, tc.grant, tc.grant*tc.size)
				}
			}
		})
	}
}

// TestFlowReceiversPassWakeUp: concurrent receivers of one stream each get
// a message that is queued, though the messages' wake-ups coalesced into
// one: the receiver that takes one passes the wake-up on while more are
// queued, in the batch or in the inbox. Whoever is left waiting with a
// message queued is found at once, in virtual time.
func TestFlowReceiversPassWakeUp(t *testing.T) {
	for _, tc := range []struct {
		name string
		// queue files the messages the receivers wait for, with d.mu and
		// takeMu held, as push would have filed them by the time a
		// receiver runs.
		queue func(d *dialog)
	}{
		{
			// Two yields land before a woken receiver runs: it moves
			// both from the inbox to the batch and takes the first.
			"a burst moved to the batch", func(d *dialog) {
				d.inbox = append(d.inbox, yield(1, 1), yield(2, 1))
			},
		},
		{
			// A receiver took the first of a burst and passed the
			// wake-up on; before the next receiver ran, another yield
			// came, and its wake-up coalesced with that one: one left
			// in the batch, one in the inbox.
			"the batch's last and the inbox", func(d *dialog) {
				d.batch, d.bhead = []transport.Msg{{}, yield(1, 1)}, 1
				d.inbox = append(d.inbox, yield(2, 1))
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				d := newDialog(nil, 1, modeStream, true, newFlowWindow(defaultWindow, defaultWindowBytes))
				ctx, cancel := context.WithCancel(context.Background())
				got := make(chan any, 2)
				var wg sync.WaitGroup
				for range 2 {
					wg.Go(func() {
						if v, err := d.receivePayload(ctx); err == nil {
							got <- v
						}
					})
				}
				synctest.Wait() // both wait for a message
				d.takeMu.Lock()
				d.mu.Lock()
				d.inFlight, d.inFlightSize = 2, 2
				tc.queue(d)
				d.mu.Unlock()
				d.takeMu.Unlock()
				signal(d.wake)
				synctest.Wait() // both took one, or one waits in vain
				close(got)
				var vs []any
				for v := range got {
					vs = append(vs, v)
				}
				if len(vs) != 2 || vs[0] == vs[1] {
					t.Errorf("the receivers got %v, want yields 1 and 2, one each; the other waits with one queued", vs)
				}
				cancel()
				wg.Wait()
			})
		})
	}
}

// TestFlowWindowShrunkAfterBurst: a receiver that shrinks its window
// while a burst received with the larger one is in its batch still gets
// every message of the burst, in order: the batch's storage, now over the
// smaller window's bound, is let go only once drained.
func TestFlowWindowShrunkAfterBurst(t *testing.T) {
	const burst = 17
	d, _ := streamDialog(t, newFlowWindow(32, 1<<20))
	for n := range burst {
		d.push(yield(n, 1))
	}
	// A ctx already ended: the queued messages come first, and a lost one
	// shows at once as the ctx's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m, err := d.next(ctx)
	if err != nil || m.Payload != 0 {
		t.Fatalf("first take: %v, %v", m.Payload, err)
	}
	d.resize(newFlowWindow(2, 1<<20))
	if c := cap(d.batch); c <= 4*d.recv.items {
		t.Fatalf("the batch holds %d, not over the shrunk window's bound %d: the test would prove nothing", c, 4*d.recv.items)
	}
	for n := 1; n < burst; n++ {
		m, err := d.next(ctx)
		if err != nil || m.Payload != n {
			t.Fatalf("take %d of the burst after the window shrank: %v, %v", n, m.Payload, err)
		}
	}
}

// TestFlowBurstsReuseStorage: a stream whose messages come in bursts within
// the window takes them without allocating: the inbox and the batch trade
// their storage, which a drained batch keeps unless it is over four
// windows.
func TestFlowBurstsReuseStorage(t *testing.T) {
	d, _ := streamDialog(t, newFlowWindow(defaultWindow, defaultWindowBytes))
	ctx := context.Background()
	n := 0
	round := func() {
		d.push(yield(n, 1))
		d.push(yield(n+1, 1))
		for range 2 {
			if m, err := d.next(ctx); err != nil || m.Payload != n {
				panic(fmt.Sprintf("take %d: %v, %v", n, m.Payload, err))
			}
			n++
		}
	}
	round()
	round() // the inbox and the batch each have their storage
	if a := testing.AllocsPerRun(100, round); a != 0 {
		t.Errorf("a burst of two allocates %v times, want none", a)
	}
}

// TestContextErrCause: a wait that its ctx ends returns the ctx's cause
// when the cause is a cancellation itself (naming who cancelled), else
// the ctx's own error, as a Receive does.
func TestContextErrCause(t *testing.T) {
	naming := fmt.Errorf("cancelled by its caller: %w", context.Canceled)
	unrelated := errors.New("unrelated")
	for _, tc := range []struct {
		name   string
		cause  error
		want   error // errors.Is
		notIs  error // !errors.Is, if not nil
		wantEq bool  // the cause itself
	}{
		{"no cause", nil, context.Canceled, nil, false},
		{"a cause wrapping Canceled", naming, naming, nil, true},
		{"a cause not wrapping it", unrelated, context.Canceled, unrelated, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(tc.cause)
			d := newDialog(nil, 1, modeStream, true, newFlowWindow(defaultWindow, defaultWindowBytes))
			_, recvErr := d.receivePayload(ctx)
			for what, err := range map[string]error{"ctxErr": ctxErr(ctx), "receive": recvErr} {
				if !errors.Is(err, tc.want) || !errors.Is(err, context.Canceled) ||
					(tc.notIs != nil && errors.Is(err, tc.notIs)) || (tc.wantEq && err != tc.cause) {
					t.Errorf("%s = %v, want %v", what, err, tc.want)
				}
			}
		})
	}
}

// TestFlowResizeSendsWhatChanged: a window that grows is granted, one
// that shrinks revoked, each in one message naming exactly what changed,
// and no message names nothing.
func TestFlowResizeSendsWhatChanged(t *testing.T) {
	d, link := streamDialog(t, newFlowWindow(8, 1<<10))
	for _, tc := range []struct {
		w    flowWindow
		want []transport.Msg
	}{
		{newFlowWindow(12, 1<<11), []transport.Msg{{Kind: transport.KindCredit, CID: 1, Credit: 4, CreditBytes: 1 << 10}}},
		{newFlowWindow(10, 1<<10), []transport.Msg{{Kind: transport.KindRevoke, CID: 1, Credit: 2, CreditBytes: 1 << 10}}},
		{newFlowWindow(16, 1<<9), []transport.Msg{
			{Kind: transport.KindCredit, CID: 1, Credit: 6},
			{Kind: transport.KindRevoke, CID: 1, CreditBytes: 1 << 9},
		}},
		{newFlowWindow(16, 1<<9), nil},
	} {
		d.resize(tc.w)
		var got []transport.Msg
		for m, ok := link.granted(); ok; m, ok = link.granted() {
			got = append(got, m)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("resize to %+v sent %+v, want %+v", tc.w, got, tc.want)
		}
	}
}
