package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/tractor-go/tractor/transport"
)

func TestMemPairDeliversEveryField(t *testing.T) {
	a, b := transport.MemPair()
	defer a.Close()
	sb := serve(t, b)
	sent := transport.Msg{
		Kind:        transport.KindCmd,
		CID:         42,
		Endpoint:    "pkg.square",
		Mode:        2,
		Credit:      7,
		CreditBytes: 1 << 40,
		Payload:     []string{"x", "y"},
	}
	size, err := a.(transport.SizedSender).SendSized(context.Background(), sent)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	// Serve reports the size SendSized returned: the estimate of the
	// payload's memory: the slice's header and its two strings' headers
	// (what the strings point to is a level deeper, not counted).
	if want := 24 + 2*16; size != want {
		t.Errorf("SendSized returned size %d, want %d", size, want)
	}
	sent.Size = size
	got := sb.col.waitN(t, 1)
	if len(got) != 1 || !reflect.DeepEqual(got[0], sent) {
		t.Fatalf("delivered %+v, want [%+v]", got, sent)
	}
}

func TestMemPairPassesPayloadWithoutCopying(t *testing.T) {
	a, b := transport.MemPair()
	defer a.Close()
	sb := serve(t, b)
	type big struct{ n [64]int }
	p := &big{}
	if err := a.Send(context.Background(), yield(1, p)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := sb.col.waitN(t, 1)
	if q, ok := got[0].Payload.(*big); !ok || q != p {
		t.Fatalf("payload %#v is not the pointer sent (%p)", got[0].Payload, p)
	}
}

func TestMemPairOrderFromOneGoroutine(t *testing.T) {
	const n = 10_000
	a, b := transport.MemPair()
	defer a.Close()
	sb := serve(t, b)
	ctx := context.Background()
	for i := range n {
		if err := a.Send(ctx, yield(uint64(i), i)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	got := sb.col.waitN(t, n)
	if len(got) != n {
		t.Fatalf("delivered %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		if m.Kind != transport.KindYield || m.CID != uint64(i) || m.Payload != i {
			t.Fatalf("message %d is %+v, want yield cid %d payload %d", i, m, i, i)
		}
	}
}

func TestMemPairBothDirectionsIndependent(t *testing.T) {
	a, b := transport.MemPair()
	sa, sb := serve(t, a), serve(t, b)
	ctx := context.Background()
	for i := range 100 {
		if err := a.Send(ctx, yield(uint64(i), "a")); err != nil {
			t.Fatalf("a.Send: %v", err)
		}
		if err := b.Send(ctx, yield(uint64(i), "b")); err != nil {
			t.Fatalf("b.Send: %v", err)
		}
	}
	for name, got := range map[string][]transport.Msg{
		"a->b": sb.col.waitN(t, 100),
		"b->a": sa.col.waitN(t, 100),
	} {
		want := "a"
		if name == "b->a" {
			want = "b"
		}
		for i, m := range got {
			if m.CID != uint64(i) || m.Payload != want {
				t.Fatalf("%s message %d is %+v, want cid %d payload %q", name, i, m, i, want)
			}
		}
	}
}

func TestMemPairSendBeforeServe(t *testing.T) {
	a, b := transport.MemPair()
	defer a.Close()
	ctx := context.Background()
	for i := range 5 {
		if err := a.Send(ctx, yield(uint64(i), i*10)); err != nil {
			t.Fatalf("Send %d before Serve: %v", i, err)
		}
	}
	sb := serve(t, b)
	// Messages sent after Serve starts follow the queued ones.
	for i := 5; i < 10; i++ {
		if err := a.Send(ctx, yield(uint64(i), i*10)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	got := sb.col.waitN(t, 10)
	if len(got) != 10 {
		t.Fatalf("delivered %d messages, want 10", len(got))
	}
	for i, m := range got {
		if m.CID != uint64(i) || m.Payload != i*10 {
			t.Fatalf("message %d is %+v, want cid %d payload %d", i, m, i, i*10)
		}
	}
}

func TestMemPairServeReturnsEOFAfterPeerClose(t *testing.T) {
	const n = 1000
	a, b := transport.MemPair()
	sb := serve(t, b)
	sb.started(t, a)
	ctx := context.Background()
	for i := range n {
		if err := a.Send(ctx, yield(uint64(i), i)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := sb.wait(t); !errors.Is(err, io.EOF) {
		t.Fatalf("Serve after peer Close returned %v, want io.EOF", err)
	}
	got := withoutMarker(sb.col.snapshot())
	if len(got) != n {
		t.Fatalf("Serve returned having delivered %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		if m.CID != uint64(i) {
			t.Fatalf("message %d has cid %d", i, m.CID)
		}
	}
}

func TestMemPairServeReturnsErrClosedAfterLocalClose(t *testing.T) {
	a, b := transport.MemPair()
	sa, sb := serve(t, a), serve(t, b)
	sb.started(t, a)
	sa.started(t, b)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := sb.wait(t); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Serve after local Close returned %v, want ErrClosed", err)
	}
	if err := sa.wait(t); !errors.Is(err, io.EOF) {
		t.Fatalf("peer's Serve returned %v, want io.EOF", err)
	}
}

func TestMemPairServeAfterClose(t *testing.T) {
	// Serve called on an already closed connection returns at once.
	a, b := transport.MemPair()
	a.Close()
	col := &collector{}
	if err := a.Serve(col.deliver); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Serve after local Close returned %v, want ErrClosed", err)
	}
	if err := b.Serve(col.deliver); !errors.Is(err, io.EOF) {
		t.Fatalf("Serve after peer Close returned %v, want io.EOF", err)
	}
	if got := col.snapshot(); len(got) != 0 {
		t.Fatalf("delivered %v after Close with nothing sent", got)
	}
}

func TestMemPairSendAfterClose(t *testing.T) {
	for _, tc := range []struct {
		name   string
		closer func(a, b transport.Conn) error
	}{
		{"local close", func(a, b transport.Conn) error { return a.Close() }},
		{"peer close", func(a, b transport.Conn) error { return b.Close() }},
		{"both closed", func(a, b transport.Conn) error { return errors.Join(b.Close(), a.Close()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := transport.MemPair()
			sa, sb := serve(t, a), serve(t, b)
			if err := tc.closer(a, b); err != nil {
				t.Fatalf("Close: %v", err)
			}
			ctx := context.Background()
			if err := a.Send(ctx, yield(1, "late")); !errors.Is(err, transport.ErrClosed) {
				t.Fatalf("a.Send after close returned %v, want ErrClosed", err)
			}
			if err := b.Send(ctx, yield(2, "late")); !errors.Is(err, transport.ErrClosed) {
				t.Fatalf("b.Send after close returned %v, want ErrClosed", err)
			}
			sa.wait(t)
			sb.wait(t)
			if got := append(sa.col.snapshot(), sb.col.snapshot()...); len(got) != 0 {
				t.Fatalf("messages sent after Close were delivered: %+v", got)
			}
		})
	}
}

func TestMemPairSendToClosedUnservedPeer(t *testing.T) {
	// A peer closed before its Serve ever ran rejects Sends too.
	a, b := transport.MemPair()
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.Send(context.Background(), yield(1, nil)); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Send to a closed, never-served peer returned %v, want ErrClosed", err)
	}
}

func TestMemPairSendWithEndedContext(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	cause := errors.New("caller gave up")
	withCause, cancel3 := context.WithCancelCause(context.Background())
	cancel3(cause)

	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"deadline", expired, context.DeadlineExceeded},
		{"cancel cause", withCause, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := transport.MemPair()
			defer a.Close()
			sb := serve(t, b)
			err := a.Send(tc.ctx, yield(1, "dropped"))
			if !errors.Is(err, tc.want) || err != tc.ctx.Err() {
				t.Fatalf("Send with ended ctx returned %v, want ctx.Err() = %v", err, tc.ctx.Err())
			}
			if err := a.Send(context.Background(), yield(2, "kept")); err != nil {
				t.Fatalf("Send after a failed Send: %v", err)
			}
			got := sb.col.waitN(t, 1)
			if len(got) != 1 || got[0].CID != 2 {
				t.Fatalf("delivered %+v, want only the message with cid 2", got)
			}
		})
	}
}

func TestMemPairCloseIsIdempotent(t *testing.T) {
	a, b := transport.MemPair()
	sa, sb := serve(t, a), serve(t, b)
	for i := range 3 {
		if err := a.Close(); err != nil {
			t.Fatalf("a.Close #%d: %v", i+1, err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatalf("b.Close after a.Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second b.Close: %v", err)
	}
	// The first Close decides how each side ended; later ones change nothing.
	if err := sa.wait(t); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("a's Serve returned %v, want ErrClosed", err)
	}
	if err := sb.wait(t); !errors.Is(err, io.EOF) {
		t.Fatalf("b's Serve returned %v, want io.EOF", err)
	}
}

func TestMemPairConcurrentCloseFromBothSides(t *testing.T) {
	for range 50 {
		a, b := transport.MemPair()
		sa, sb := serve(t, a), serve(t, b)
		var wg sync.WaitGroup
		wg.Add(4)
		for _, c := range []transport.Conn{a, b, a, b} {
			go func() {
				defer wg.Done()
				if err := c.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
		}
		wg.Wait()
		for _, s := range []*serving{sa, sb} {
			if err := s.wait(t); !errors.Is(err, io.EOF) && !errors.Is(err, transport.ErrClosed) {
				t.Fatalf("Serve returned %v, want io.EOF or ErrClosed", err)
			}
		}
	}
}

func TestMemPairConcurrentSend(t *testing.T) {
	const senders, perSender = 8, 2000
	type item struct{ sender, seq int }
	a, b := transport.MemPair()
	defer a.Close()
	sb := serve(t, b)

	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := range perSender {
				if err := a.Send(ctx, yield(uint64(g), item{g, i})); err != nil {
					t.Errorf("sender %d Send %d: %v", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()

	got := sb.col.waitN(t, senders*perSender)
	if len(got) != senders*perSender {
		t.Fatalf("delivered %d messages, want %d", len(got), senders*perSender)
	}
	next := make([]int, senders)
	for _, m := range got {
		it, ok := m.Payload.(item)
		if !ok || uint64(it.sender) != m.CID {
			t.Fatalf("unexpected message %+v", m)
		}
		if it.seq != next[it.sender] {
			t.Fatalf("sender %d: got seq %d, want %d (lost, duplicated or reordered)", it.sender, it.seq, next[it.sender])
		}
		next[it.sender]++
	}
	for g, n := range next {
		if n != perSender {
			t.Fatalf("sender %d: %d messages delivered, want %d", g, n, perSender)
		}
	}
}

// TestMemPairPeerCloseBeforeServeKeepsMessages: what the peer sent before it
// closed is delivered when Serve starts, then Serve reports io.EOF.
func TestMemPairPeerCloseBeforeServeKeepsMessages(t *testing.T) {
	ctx := context.Background()
	a, b := transport.MemPair()
	for i := range 3 {
		if err := a.Send(ctx, transport.Msg{Kind: transport.KindYield, CID: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	var got []uint64
	err := b.Serve(func(m transport.Msg) { got = append(got, m.CID) })
	if !errors.Is(err, io.EOF) {
		t.Fatalf("Serve = %v, want io.EOF", err)
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("delivered %v, want [1 2 3]", got)
	}
}

// TestPayloadSize: the in-memory estimate counts a value's own size and,
// through one pointer and among a struct's fields, what its strings,
// slices and maps refer to, one level down.
func TestPayloadSize(t *testing.T) {
	type fields struct {
		S string
		B []int16
		N int32
	}
	const header = int(unsafe.Sizeof(fields{}))
	for _, tc := range []struct {
		name string
		v    any
		want int
	}{
		{"nil", nil, 0},
		{"int", 7, 8},
		{"string", "hello", 5},
		{"bytes", []byte{1, 2, 3}, 3},
		{"slice", []int32{1, 2, 3}, int(unsafe.Sizeof([]int32{})) + 3*4},
		{"map", map[int32]int64{1: 1, 2: 2}, int(unsafe.Sizeof(map[int32]int64{})) + 2*(4+8)},
		{"struct", fields{S: "abc", B: []int16{1, 2}}, header + 3 + 2*2},
		{"pointer to struct", &fields{S: "abc", B: []int16{1, 2}}, header + 3 + 2*2},
		{"nil pointer", (*fields)(nil), 0},
		{"array", [4]int16{}, 8},
	} {
		if got := transport.PayloadSize(tc.v); got != tc.want {
			t.Errorf("PayloadSize(%s) = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// endRecorder is a Receiver that records what it is given.
type endRecorder struct {
	mu    sync.Mutex
	msgs  int
	ended []error
}

func (r *endRecorder) Deliver(transport.Msg) { r.mu.Lock(); r.msgs++; r.mu.Unlock() }
func (r *endRecorder) Ended(reason error) {
	r.mu.Lock()
	r.ended = append(r.ended, reason)
	r.mu.Unlock()
}

func (r *endRecorder) seen() (int, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs, append([]error(nil), r.ended...)
}

// TestMemPairAttachEnded: a receiver attached to an open connection is
// told nothing of an end until the peer closes, then once, io.EOF; one
// attached after the peer closed gets what was sent, then io.EOF at once.
func TestMemPairAttachEnded(t *testing.T) {
	type attacher interface{ Attach(transport.Receiver) }
	ctx := context.Background()

	a, b := transport.MemPair()
	var open endRecorder
	b.(attacher).Attach(&open)
	if n, ended := open.seen(); n != 0 || len(ended) != 0 {
		t.Fatalf("attached to an open connection: %d messages, ended %v; want neither", n, ended)
	}
	a.Close()
	if _, ended := open.seen(); len(ended) != 1 || ended[0] != io.EOF {
		t.Fatalf("after the peer's Close: ended %v, want [EOF]", ended)
	}
	b.Close()

	a, b = transport.MemPair()
	if err := a.Send(ctx, transport.Msg{Kind: transport.KindYield, Payload: 1}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	var late endRecorder
	b.(attacher).Attach(&late)
	if n, ended := late.seen(); n != 1 || len(ended) != 1 || ended[0] != io.EOF {
		t.Fatalf("attached after the peer's Close: %d messages, ended %v; want 1 and [EOF]", n, ended)
	}
	b.Close()
}
