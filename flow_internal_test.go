package tractor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/tractor-go/tractor/transport"
)

// TestWindowClamped: a window over the caps of credit is the caps, so that
// what the receiver announces and revokes is what its sender's credit
// holds.
func TestWindowClamped(t *testing.T) {
	for _, tc := range []struct {
		items, bytes int
		want         flowWindow
	}{
		{8, 1 << 20, flowWindow{8, 1 << 20}},
		{math.MaxInt32, maxCreditBytes, flowWindow{math.MaxInt32, maxCreditBytes}},
		{math.MaxUint32, math.MaxInt64, flowWindow{math.MaxInt32, maxCreditBytes}},
		{math.MaxInt, math.MaxInt, flowWindow{math.MaxInt32, maxCreditBytes}},
	} {
		if got := Window(tc.items, tc.bytes).w; got != tc.want {
			t.Errorf("Window(%d, %d) = %+v, want %+v", tc.items, tc.bytes, got, tc.want)
		}
	}
}

// TestRevokeClamped: revokes of absurd amounts from a buggy peer hold this
// side's credit at minus the caps, never wrapping it round to credit it
// does not have, so it sends nothing; what the peer grants later counts in
// full from there, and lets it send again.
func TestRevokeClamped(t *testing.T) {
	d := newDialog(nil, 1, modeStream, true, newFlowWindow(8, 1<<20))
	d.ctx = context.Background()
	d.grant(transport.Msg{Credit: 8, CreditBytes: 1 << 20})
	absurd := transport.Msg{Kind: transport.KindRevoke, Credit: math.MaxUint32, CreditBytes: math.MaxUint64}
	for i := range 6 {
		d.revoke(absurd)
		if items, bytes := d.sendCredit(); items > 0 || bytes > 0 {
			t.Fatalf("after %d absurd revokes: credit %d items, %d bytes, want none", i+1, items, bytes)
		}
	}
	if items, bytes := d.sendCredit(); items != -maxCreditItems || bytes != -maxCreditBytes {
		t.Fatalf("after absurd revokes: credit %d items, %d bytes, want the floor, %d and %d",
			items, bytes, -maxCreditItems, -maxCreditBytes)
	}
	// No credit: a Send waits, and returns its ctx's end.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.send(ctx, "item"); !errors.Is(err, context.Canceled) {
		t.Fatalf("send without credit: %v, want context.Canceled", err)
	}
	// Grants count in full from the floor.
	d.addCredit(transport.Msg{Kind: transport.KindCredit, Credit: math.MaxUint32, CreditBytes: math.MaxUint64})
	d.addCredit(transport.Msg{Kind: transport.KindCredit, Credit: 3, CreditBytes: 100})
	if items, bytes := d.sendCredit(); items != 3 || bytes != 100 {
		t.Fatalf("after the peer's grants: credit %d items, %d bytes, want 3 and 100", items, bytes)
	}
	// Grants too never take credit past the caps.
	for range 3 {
		d.addCredit(transport.Msg{Kind: transport.KindCredit, Credit: math.MaxUint32, CreditBytes: math.MaxUint64})
	}
	if items, bytes := d.sendCredit(); items != maxCreditItems || bytes != maxCreditBytes {
		t.Fatalf("after absurd grants: credit %d items, %d bytes, want the caps, %d and %d",
			items, bytes, maxCreditItems, maxCreditBytes)
	}
}

// yieldLink is a connection that measures each yield it sends as size
// bytes and records its payload, or fails it with fail; as a brokenLink,
// its read side waits for Close.
type yieldLink struct {
	brokenLink
	size int
	fail error

	mu     sync.Mutex
	yields []any
}

func (c *yieldLink) Send(ctx context.Context, m transport.Msg) error {
	_, err := c.SendSized(ctx, m)
	return err
}

func (c *yieldLink) SendSized(_ context.Context, m transport.Msg) (int, error) {
	if m.Kind != transport.KindYield {
		return 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return 0, c.fail
	}
	c.yields = append(c.yields, m.Payload)
	return c.size, nil
}

// sent is the payloads of the yields sent so far.
func (c *yieldLink) sent() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]any(nil), c.yields...)
}

// sendingDialog is the caller's side of a stream dialog over link, with
// the credit items and bytes to send on, under ctx.
func sendingDialog(t *testing.T, ctx context.Context, link *yieldLink, items, bytes int) *dialog {
	link.closed = make(chan struct{})
	ch := servedSession(t, defaultConfig(), link)
	d := newDialog(ch, 1, modeStream, true, newFlowWindow(defaultWindow, defaultWindowBytes))
	d.ctx, d.endpoint = ctx, "flow"
	d.grant(transport.Msg{Credit: uint32(items), CreditBytes: uint64(bytes)})
	return d
}

// TestFlowByteCreditSpentExactly: yields that spend the byte credit to
// exactly nothing leave the sender waiting for a grant, though it has item
// credit left: a yield goes only with at least one byte of credit
// (PROTOCOL.md §8).
func TestFlowByteCreditSpentExactly(t *testing.T) {
	link := &yieldLink{size: 25}
	d := sendingDialog(t, context.Background(), link, 10, 100)
	for n := range 4 {
		if err := d.send(context.Background(), n); err != nil {
			t.Fatalf("send %d within the credit: %v", n, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.send(ctx, 4); !errors.Is(err, context.Canceled) {
		t.Fatalf("send with the byte credit spent: %v, want it to wait (and return its ctx's end)", err)
	}
	if got := fmt.Sprint(link.sent()); got != "[0 1 2 3]" {
		t.Fatalf("sent %s, want [0 1 2 3]: nothing beyond the byte credit", got)
	}
}

// TestFlowSendersPassWakeUp: senders waiting for credit each send once a
// grant of enough credit for all arrives, though its wake-up wakes one:
// the one that sends passes the wake-up on while credit is left. Whoever
// is left waiting with credit there is found at once, in virtual time.
func TestFlowSendersPassWakeUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		link := &yieldLink{}
		ctx, cancel := context.WithCancel(context.Background())
		d := sendingDialog(t, ctx, link, 0, 0)
		var wg sync.WaitGroup
		errs := make(chan error, 3)
		for n := range 3 {
			wg.Go(func() { errs <- d.send(ctx, n) })
		}
		synctest.Wait() // all three wait for credit
		d.addCredit(transport.Msg{Kind: transport.KindCredit, CID: 1, Credit: 3, CreditBytes: 3})
		synctest.Wait() // each sent, or one waits with credit there
		if got := len(link.sent()); got != 3 {
			t.Errorf("%d of 3 senders sent after a grant of 3; the others wait with credit left", got)
		}
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("send: %v", err)
			}
		}
	})
}

// TestFlowSendFailures: a stream item that cannot be encoded fails alone,
// as ErrUnencodable naming the endpoint, its credit given back, and the
// stream goes on; one the broken connection refused fails as the loss of
// the peer (ErrActorGone), never as nothing or as the transport's error.
func TestFlowSendFailures(t *testing.T) {
	link := &yieldLink{fail: fmt.Errorf("transport: encode: %w", transport.ErrEncode)}
	d := sendingDialog(t, context.Background(), link, 1, 100)
	err := d.send(context.Background(), "unencodable")
	if !errors.Is(err, ErrUnencodable) || errors.Is(err, ErrActorGone) {
		t.Fatalf("send of an unencodable item: %v, want ErrUnencodable", err)
	}
	link.mu.Lock()
	link.fail = fmt.Errorf("transport: send yield: %w (write: broken pipe)", transport.ErrClosed)
	link.mu.Unlock()
	err = d.send(context.Background(), "item")
	var re *RemoteError
	if !errors.Is(err, ErrActorGone) || !errors.As(err, &re) || re.Actor != d.ch.peer {
		t.Fatalf("send over a broken connection, after an unencodable item: %v, want ErrActorGone naming the peer", err)
	}
	link.mu.Lock()
	link.fail = nil
	link.mu.Unlock()
	if err := d.send(context.Background(), "item"); err != nil {
		t.Fatalf("send after the failed ones, whose credit came back: %v", err)
	}
}

// TestFlowSendEndsWithDialog: a Send waiting for credit when the caller's
// dialog ends (its opener's ctx, before the cancel it asks for is
// recorded) returns the dialog's end, not nil as if the item went; one
// whose dialog broke returns the loss, the most specific reason.
func TestFlowSendEndsWithDialog(t *testing.T) {
	t.Run("ctx ended", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		d := sendingDialog(t, ctx, &yieldLink{}, 0, 0)
		cancel()
		if err := d.send(context.Background(), "item"); !errors.Is(err, context.Canceled) {
			t.Fatalf("send on an ended dialog: %v, want context.Canceled", err)
		}
	})
	t.Run("broken", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		d := sendingDialog(t, ctx, &yieldLink{}, 0, 0)
		gone := lostActor(d.ch.peer, transport.ErrClosed)
		d.mu.Lock()
		d.state |= broken
		d.gone = gone
		d.mu.Unlock()
		cancel()
		if err := d.endErr(); err != gone {
			t.Fatalf("the end of a broken dialog: %v, want the loss %v", err, gone)
		}
	})
}
