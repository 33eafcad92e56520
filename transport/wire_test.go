package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// Compile-time checks of what the wire types implement.
var (
	_ transport.Conn        = (*transport.WireConn)(nil)
	_ transport.SizedSender = (*transport.WireConn)(nil)
)

type inner struct {
	Names []string
	Score float64
	Seen  map[string]bool
}

type record struct {
	ID      uint64
	Name    string
	Tags    []string
	Inner   inner
	Ptr     *inner
	Matrix  [][]int
	ByName  map[string][]int
	Blob    []byte
	Enabled bool
}

func TestWireDeliversEveryField(t *testing.T) {
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, _, _, sb := connected(t, ct)
		sent := []transport.Msg{
			{Kind: transport.KindCmd, CID: 42, Endpoint: "pkg.square", Mode: 2, Credit: 7, Payload: 7},
			{Kind: transport.KindCredit, CID: math.MaxUint64, Mode: math.MaxUint8, Credit: math.MaxUint32, CreditBytes: math.MaxUint64},
			{Kind: transport.KindStarted, CID: 3, Credit: 1, CreditBytes: 1, Payload: "first"},
			{Kind: transport.KindYield, CID: 3, Payload: strings.Repeat("compressible ", 1000)},
			{Kind: transport.KindYield, CID: 1 << 40, Endpoint: strings.Repeat("e", 300), Credit: 1 << 16},
			{Kind: transport.Kind(math.MaxUint8), CID: 0},
		}
		sizes := make([]int, len(sent))
		for i, m := range sent {
			size, err := a.SendSized(context.Background(), m)
			if err != nil {
				t.Fatalf("Send %+v: %v", m, err)
			}
			sizes[i] = size
		}
		got := sb.col.waitN(t, len(sent))
		for i, m := range got {
			want := sent[i]
			if m.Kind != want.Kind || m.CID != want.CID || m.Endpoint != want.Endpoint || m.Mode != want.Mode ||
				m.Credit != want.Credit || m.CreditBytes != want.CreditBytes {
				t.Errorf("message %d: got %+v, want %+v", i, m, want)
			}
			// Both sides measure the encoded message alike.
			if m.Size != sizes[i] || m.Size <= 0 {
				t.Errorf("message %d: delivered with size %d, SendSized said %d", i, m.Size, sizes[i])
			}
			if want.Payload == nil && m.Payload != nil {
				t.Errorf("message %d: nil payload arrived as %#v", i, m.Payload)
			}
		}
		if v := decodeAs[int](t, got[0].Payload); v != 7 {
			t.Errorf("payload: got %d, want 7", v)
		}
	})
}

func TestWirePayloadRoundTrip(t *testing.T) {
	rec := record{
		ID:      1<<63 + 5,
		Name:    "worker",
		Tags:    []string{"a", "", "ccc"},
		Inner:   inner{Names: []string{"x"}, Score: -2.5, Seen: map[string]bool{"y": true}},
		Ptr:     &inner{Score: 1},
		Matrix:  [][]int{{1, 2}, {}, {-3}},
		ByName:  map[string][]int{"p": {1}, "q": nil},
		Blob:    []byte{0, 1, 2, 255},
		Enabled: true,
	}
	cases := []struct {
		name    string
		payload any
		dst     func() any // a fresh pointer to decode into
	}{
		{"int", 49, func() any { return new(int) }},
		{"negative int", -70000, func() any { return new(int) }},
		{"max int64", int64(math.MaxInt64), func() any { return new(int64) }},
		{"max uint64", uint64(math.MaxUint64), func() any { return new(uint64) }},
		{"uint8", uint8(200), func() any { return new(uint8) }},
		{"float", 3.25, func() any { return new(float64) }},
		{"bool", true, func() any { return new(bool) }},
		{"string", "hi there", func() any { return new(string) }},
		{"empty string", "", func() any { return new(string) }},
		{"long string", strings.Repeat("long ", 20000), func() any { return new(string) }},
		{"bytes", []byte("raw\x00bytes"), func() any { return new([]byte) }},
		{"ints", []int{1, -2, 300, 1 << 40}, func() any { return new([]int) }},
		{"nested slices", [][]string{{"a"}, {}, {"b", "c"}}, func() any { return new([][]string) }},
		{"map", map[string]int{"a": 1, "b": -2}, func() any { return new(map[string]int) }},
		{"nested maps", map[string]map[string][]int{"x": {"y": {1, 2}}}, func() any { return new(map[string]map[string][]int) }},
		{"struct", rec, func() any { return new(record) }},
		{"struct pointer", &rec, func() any { return new(*record) }},
		{"slice of structs", []inner{{Score: 1}, {Names: []string{"n"}}}, func() any { return new([]inner) }},
	}
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, _, _, sb := connected(t, ct)
		for i, tc := range cases {
			if err := a.Send(context.Background(), yield(uint64(i), tc.payload)); err != nil {
				t.Fatalf("%s: Send: %v", tc.name, err)
			}
		}
		got := sb.col.waitN(t, len(cases))
		for i, tc := range cases {
			if _, ok := got[i].Payload.(transport.Raw); !ok {
				t.Errorf("%s: payload arrived as %T, want a transport.Raw", tc.name, got[i].Payload)
				continue
			}
			dst := tc.dst()
			if err := transport.Decode(got[i].Payload, dst); err != nil {
				t.Errorf("%s: Decode: %v", tc.name, err)
				continue
			}
			if v := reflect.ValueOf(dst).Elem().Interface(); !reflect.DeepEqual(v, tc.payload) {
				t.Errorf("%s: got %#v, want %#v", tc.name, v, tc.payload)
			}
		}
		// A payload can be decoded again, into another type.
		var generic map[string]any
		if err := transport.Decode(got[15].Payload, &generic); err != nil || generic["Name"] != "worker" {
			t.Errorf("struct payload into map[string]any: %v, %v", generic, err)
		}
	})
}

// TestWireTimePayload: times round-trip, including those whose compact
// encodings start with a byte msgpack could read as a map header (the
// receiver carries them in the 12-byte form), and a time decoded into a map
// fails cleanly.
func TestWireTimePayload(t *testing.T) {
	times := []time.Time{
		time.Unix(1e9, 0),             // 4-byte form
		time.Unix(0x80000001, 0),      // 4-byte form starting 0x80
		time.Unix(1e9, 5),             // 8-byte form
		time.Unix(1e9, 0x21000000),    // 8-byte form starting 0x84
		time.Unix(1<<40, 999_999_999), // 12-byte form
		time.Unix(-5, 0),              // 12-byte form, before 1970
		time.Date(2100, 1, 1, 0, 0, 0, 0x23ffffff, time.UTC),
	}
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, _, _, sb := connected(t, ct)
		for i, tm := range times {
			if err := a.Send(context.Background(), yield(uint64(i), map[string]time.Time{"t": tm})); err != nil {
				t.Fatal(err)
			}
		}
		for i, m := range sb.col.waitN(t, len(times)) {
			got := decodeAs[map[string]time.Time](t, m.Payload)["t"]
			if !got.Equal(times[i]) {
				t.Errorf("time %d: got %v, want %v", i, got, times[i])
			}
			var wrong map[string]map[string]int
			if err := transport.Decode(m.Payload, &wrong); !errors.Is(err, transport.ErrType) {
				t.Errorf("time %d into a map: %v, want ErrType", i, err)
			}
		}
	})
}

func TestWireNilPayload(t *testing.T) {
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, _, _, sb := connected(t, ct)
		for i, p := range []any{nil, (*record)(nil), []int(nil), map[string]int(nil)} {
			if err := a.Send(context.Background(), yield(uint64(i), p)); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		for i, m := range sb.col.waitN(t, 4) {
			if m.Payload != nil {
				t.Errorf("message %d: nil payload arrived as %#v", i, m.Payload)
			}
		}
		m := sb.col.snapshot()[0]
		if v := decodeAs[int](t, m.Payload); v != 0 {
			t.Errorf("nil into *int: %d", v)
		}
		if v := decodeAs[record](t, m.Payload); !reflect.DeepEqual(v, record{}) {
			t.Errorf("nil into *record: %#v", v)
		}
		if v := decodeAs[*record](t, m.Payload); v != nil {
			t.Errorf("nil into **record: %#v", v)
		}
		if v := decodeAs[any](t, m.Payload); v != nil {
			t.Errorf("nil into *any: %#v", v)
		}
	})
}

func TestWireWrongTypeFailsOnlyThatMessage(t *testing.T) {
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, _, _, sb := connected(t, ct)
		ctx := context.Background()
		if err := a.Send(ctx, yield(1, "not a number")); err != nil {
			t.Fatal(err)
		}
		if err := a.Send(ctx, yield(2, record{Name: "r"})); err != nil {
			t.Fatal(err)
		}
		got := sb.col.waitN(t, 2)

		var n int
		err := transport.Decode(got[0].Payload, &n)
		if !errors.Is(err, transport.ErrType) || !strings.Contains(err.Error(), "*int") {
			t.Fatalf("string into *int: got %v, want ErrType naming *int", err)
		}
		var s []string
		if err := transport.Decode(got[1].Payload, &s); !errors.Is(err, transport.ErrType) {
			t.Fatalf("struct into *[]string: got %v, want ErrType", err)
		}
		if err := transport.Decode(got[1].Payload, record{}); !errors.Is(err, transport.ErrType) {
			t.Fatalf("into a non-pointer: got %v, want ErrType", err)
		}
		// The same payloads still decode into the right types, and the
		// connection carries on.
		if v := decodeAs[string](t, got[0].Payload); v != "not a number" {
			t.Fatalf("string payload: %q", v)
		}
		if err := a.Send(ctx, yield(3, 3)); err != nil {
			t.Fatalf("Send after a bad decode: %v", err)
		}
		if v := decodeAs[int](t, sb.col.waitN(t, 3)[2].Payload); v != 3 {
			t.Fatalf("next payload: %d", v)
		}
	})
}

func TestWireOrderFromOneGoroutine(t *testing.T) {
	const n = 10_000
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, _, _, sb := connected(t, ct)
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
			if m.CID != uint64(i) || decodeAs[int](t, m.Payload) != i {
				t.Fatalf("message %d is %+v", i, m)
			}
		}
	})
}

func TestWireConcurrentSendersExactlyOnce(t *testing.T) {
	const senders, perSender = 8, 2000
	type item struct{ Sender, Seq int }
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, _, _, sb := connected(t, ct)
		var wg sync.WaitGroup
		for g := range senders {
			wg.Go(func() {
				ctx := context.Background()
				for i := range perSender {
					// Every 100th payload is large, so that frames of
					// mixed sizes interleave in the batches.
					var pad string
					if i%100 == 0 {
						pad = strings.Repeat("x", 5000)
					}
					if err := a.Send(ctx, yield(uint64(g), struct {
						Sender, Seq int
						Pad         string
					}{g, i, pad})); err != nil {
						t.Errorf("sender %d Send %d: %v", g, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		got := sb.col.waitN(t, senders*perSender)
		if len(got) != senders*perSender {
			t.Fatalf("delivered %d messages, want %d", len(got), senders*perSender)
		}
		next := make([]int, senders)
		for _, m := range got {
			it := decodeAs[item](t, m.Payload)
			if uint64(it.Sender) != m.CID || it.Seq != next[it.Sender] {
				t.Fatalf("sender %d: got seq %d, want %d (lost, duplicated or reordered)", it.Sender, it.Seq, next[it.Sender])
			}
			next[it.Sender]++
		}
	})
}

func TestWireBothDirections(t *testing.T) {
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, b, sa, sb := connected(t, ct)
		ctx := context.Background()
		var wg sync.WaitGroup
		for _, c := range []*transport.WireConn{a, b} {
			wg.Go(func() {
				for i := range 500 {
					if err := c.Send(ctx, yield(uint64(i), strings.Repeat("y", i))); err != nil {
						t.Errorf("Send: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		for _, s := range []*serving{sa, sb} {
			for i, m := range s.col.waitN(t, 500) {
				if m.CID != uint64(i) || len(decodeAs[string](t, m.Payload)) != i {
					t.Fatalf("message %d: %+v", i, m)
				}
			}
		}
	})
}

func TestWireCloseGivesPeerEOFAfterEverything(t *testing.T) {
	const n = 1000
	forEachConnType(t, func(t *testing.T, ct connType) {
		for _, closer := range []string{"dialer", "acceptor"} {
			t.Run("closed by "+closer, func(t *testing.T) {
				a, b, sa, sb := connected(t, ct)
				if closer == "acceptor" {
					a, b, sa, sb = b, a, sb, sa
				}
				ctx := context.Background()
				big := strings.Repeat("z", 100_000) // so that Close finds frames queued
				for i := range n {
					p := any(i)
					if i%100 == 99 {
						p = big
					}
					if err := a.Send(ctx, yield(uint64(i), p)); err != nil {
						t.Fatalf("Send %d: %v", i, err)
					}
				}
				if err := a.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if err := sb.wait(t); err != io.EOF {
					t.Fatalf("peer's Serve returned %v, want io.EOF", err)
				}
				if got := sb.col.snapshot(); len(got) != n {
					t.Fatalf("peer's Serve returned having delivered %d messages, want %d", len(got), n)
				}
				if err := sa.wait(t); err != transport.ErrClosed {
					t.Fatalf("closer's Serve returned %v, want ErrClosed", err)
				}
				for _, c := range []*transport.WireConn{a, b} {
					if err := c.Send(ctx, yield(1, "late")); !errors.Is(err, transport.ErrClosed) {
						t.Fatalf("Send after close returned %v, want ErrClosed", err)
					}
				}
			})
		}
	})
}

func TestWireCloseIsIdempotentAndUnblocksServe(t *testing.T) {
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, b, sa, sb := connected(t, ct)
		for range 3 {
			if err := a.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		if err := sa.wait(t); err != transport.ErrClosed {
			t.Fatalf("Serve after local Close returned %v, want ErrClosed", err)
		}
		if err := sb.wait(t); err != io.EOF {
			t.Fatalf("Serve after peer Close returned %v, want io.EOF", err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("Close after the peer's: %v", err)
		}
	})
}

func TestWireConcurrentCloseAndSend(t *testing.T) {
	forEachConnType(t, func(t *testing.T, ct connType) {
		for range 20 {
			a, b, sa, sb := connected(t, ct)
			sa.started(t, b)
			sb.started(t, a)
			var wg sync.WaitGroup
			for _, c := range []*transport.WireConn{a, b, a, b} {
				wg.Go(func() {
					for i := 0; ; i++ {
						if err := c.Send(context.Background(), yield(uint64(i), i)); err != nil {
							if !errors.Is(err, transport.ErrClosed) {
								t.Errorf("Send: %v, want ErrClosed", err)
							}
							return
						}
					}
				})
			}
			// Close races Sends under way: each side has received some.
			sa.col.waitN(t, 1)
			sb.col.waitN(t, 1)
			wg.Go(func() { a.Close() })
			wg.Go(func() { b.Close() })
			wg.Wait()
			for _, s := range []*serving{sa, sb} {
				// A Close from each side: each Serve sees one of them first.
				if err := s.wait(t); err != io.EOF && err != transport.ErrClosed {
					t.Fatalf("Serve returned %v, want io.EOF or ErrClosed", err)
				}
			}
		}
	})
}

func TestWireSendBadPayloadFailsOnlyThatSend(t *testing.T) {
	deep := any(nil)
	for range transport.MaxNesting + 1 {
		deep = []any{deep}
	}
	cases := []struct {
		name    string
		payload any
		want    error
		say     string // what the error names
	}{
		{"channel", make(chan int), transport.ErrEncode, "chan int"},
		{"func", func() {}, transport.ErrEncode, "func()"},
		{"struct with a channel", struct{ C chan int }{make(chan int)}, transport.ErrEncode, "chan int"},
		{"nested too deep", deep, transport.ErrEncode, fmt.Sprintf("nested over %d deep", transport.MaxNesting)},
		{"over the frame limit", strings.Repeat("x", 1<<16), transport.ErrFrameTooLarge, ""},
	}
	forEachConnType(t, func(t *testing.T, ct connType) {
		cfg := transport.Config{MaxFrame: 1 << 15} // incompressible: compression is off
		a, b := ct.make(t, transport.DefaultConfig(), cfg)
		shake(t, a, b, transport.Hello{}, transport.Hello{})
		sb := serve(t, b)
		serve(t, a)
		ctx := context.Background()
		for i, tc := range cases {
			if err := a.Send(ctx, yield(uint64(i), tc.payload)); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.say) {
				t.Errorf("%s: Send returned %v, want %v saying %q", tc.name, err, tc.want, tc.say)
			}
			if err := a.Send(ctx, yield(uint64(i), i)); err != nil {
				t.Fatalf("%s: next Send: %v", tc.name, err)
			}
		}
		got := sb.col.waitN(t, len(cases))
		for i, m := range got {
			if decodeAs[int](t, m.Payload) != i {
				t.Fatalf("message %d: %+v", i, m)
			}
		}
		// Just under the limit passes.
		fits := strings.Repeat("x", 1<<15-64)
		if err := a.Send(ctx, yield(99, fits)); err != nil {
			t.Fatalf("Send of a frame under the limit: %v", err)
		}
		if v := decodeAs[string](t, sb.col.waitN(t, len(cases)+1)[len(cases)].Payload); v != fits {
			t.Fatalf("payload under the limit arrived as %d bytes", len(v))
		}
	})
}

func TestWireSendWithEndedContext(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, _, _, sb := connected(t, ct)
		if err := a.Send(cancelled, yield(1, "dropped")); err != context.Canceled {
			t.Fatalf("Send with a cancelled ctx returned %v, want context.Canceled", err)
		}
		if err := a.Send(context.Background(), yield(2, "kept")); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if got := sb.col.waitN(t, 1); got[0].CID != 2 {
			t.Fatalf("delivered %+v, want only cid 2", got)
		}
	})
}

// TestWireSendWaitsForSlowPeer: a peer that does not read fills the
// socket buffers, then the pending bound; Send then waits for its ctx, and
// Close releases Sends that wait.
func TestWireSendWaitsForSlowPeer(t *testing.T) {
	defer transport.SetCloseLinger(50 * time.Millisecond)()
	c, raw := rawPair(t, transport.Config{})
	_ = raw // never read
	payload := strings.Repeat("p", 64<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// One goroutine becomes the flusher and blocks in write; the others
	// queue behind it until the pending bound is reached.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				if err := c.Send(ctx, yield(uint64(g), payload)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	timedOut := 0
	for err := range errs {
		if err == context.DeadlineExceeded {
			timedOut++
		}
	}
	if timedOut == 0 {
		t.Fatalf("no Send gave up with its ctx")
	}
	// The flusher is still blocked in write. Sends that wait without a
	// deadline are released by Close.
	done := make(chan error, 4)
	for range 4 {
		go func() { done <- c.Send(context.Background(), yield(1, payload)) }()
	}
	waitBlocked(t, "transport.(*WireConn).Send")
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range 4 {
		select {
		case err := <-done:
			// The one that found room returned nil; the rest ErrClosed.
			if err != nil && !errors.Is(err, transport.ErrClosed) {
				t.Fatalf("waiting Send returned %v, want ErrClosed", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("Close did not release a waiting Send")
		}
	}
}

func TestWireServeTwicePanics(t *testing.T) {
	a, b := socketpairConns(t, transport.Config{}, transport.Config{})
	defer closeBoth(a, b)
	sa := serve(t, a)
	sa.started(t, b) // the first Serve runs
	defer func() {
		if recover() == nil {
			t.Fatal("second Serve did not panic")
		}
	}()
	a.Serve(func(transport.Msg) {})
}

func TestWireForwardsUndecodedPayload(t *testing.T) {
	// A payload received on one connection can be sent on another without
	// decoding it: it is encoded as the value it holds, alone or nested.
	a1, b1, _, sb1 := connected(t, connTypes[0])
	_ = b1
	a2, _, _, sb2 := connected(t, connTypes[1])
	want := record{Name: "relayed", Tags: []string{"t"}}
	if err := a1.Send(context.Background(), yield(1, want)); err != nil {
		t.Fatal(err)
	}
	raw := sb1.col.waitN(t, 1)[0].Payload
	if err := a2.Send(context.Background(), yield(1, raw)); err != nil {
		t.Fatalf("forward: %v", err)
	}
	if err := a2.Send(context.Background(), yield(2, map[string]any{"inner": raw})); err != nil {
		t.Fatalf("forward nested: %v", err)
	}
	got := sb2.col.waitN(t, 2)
	if v := decodeAs[record](t, got[0].Payload); !reflect.DeepEqual(v, want) {
		t.Fatalf("forwarded payload: %#v", v)
	}
	if v := decodeAs[map[string]record](t, got[1].Payload); !reflect.DeepEqual(v["inner"], want) {
		t.Fatalf("nested forwarded payload: %#v", v)
	}
	if s := fmt.Sprint(raw); !strings.HasPrefix(s, "msgpack(") {
		t.Fatalf("a Raw prints as %q", s)
	}
}

// TestWirePeerClosesWhileSending: the peer sends, then closes while this
// side keeps sending to it. This side's Sends start failing with ErrClosed,
// and its Serve still delivers everything the peer sent, then io.EOF.
func TestWirePeerClosesWhileSending(t *testing.T) {
	const n = 2000
	forEachConnType(t, func(t *testing.T, ct connType) {
		for range 5 {
			a, b, _, sb := connected(t, ct)
			ctx := context.Background()
			sent := make(chan error, 1)
			go func() {
				for i := 0; ; i++ {
					if err := b.Send(ctx, yield(uint64(i), strings.Repeat("b", i%3000))); err != nil {
						sent <- err
						return
					}
				}
			}()
			for i := range n {
				if err := a.Send(ctx, yield(uint64(i), i)); err != nil {
					t.Fatalf("Send %d: %v", i, err)
				}
			}
			a.Close()
			if err := sb.wait(t); err != io.EOF {
				t.Fatalf("Serve returned %v, want io.EOF", err)
			}
			if got := len(sb.col.snapshot()); got != n {
				t.Fatalf("delivered %d messages, want %d", got, n)
			}
			if err := <-sent; !errors.Is(err, transport.ErrClosed) {
				t.Fatalf("Send to a closed peer returned %v, want ErrClosed", err)
			}
		}
	})
}

// TestWireCloseWithoutServe: a side that never serves, with data from the
// peer unread, closes without destroying what it sent: the peer's Serve
// delivers it all and returns io.EOF, and Close returns once the peer has
// closed in turn.
func TestWireCloseWithoutServe(t *testing.T) {
	const n = 1000
	forEachConnType(t, func(t *testing.T, ct connType) {
		a, b := ct.make(t, transport.DefaultConfig(), transport.DefaultConfig())
		shake(t, a, b, transport.Hello{}, transport.Hello{})
		sb := serve(t, b)
		ctx := context.Background()
		for i := range 100 {
			if err := b.Send(ctx, yield(uint64(i), strings.Repeat("u", 1000))); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			if err := a.Send(ctx, yield(uint64(i), i)); err != nil {
				t.Fatal(err)
			}
		}
		// Close waits for the peer's close, not out its linger (here far
		// beyond the test's bound).
		defer transport.SetCloseLinger(time.Hour)()
		closed := make(chan error, 1)
		go func() { closed <- a.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("Close still waiting after %v with a responsive peer", waitLimit)
		}
		if err := sb.wait(t); err != io.EOF {
			t.Fatalf("peer's Serve returned %v, want io.EOF", err)
		}
		if got := len(sb.col.snapshot()); got != n {
			t.Fatalf("peer got %d messages, want %d", got, n)
		}
		if err := a.Serve(func(transport.Msg) {}); err != transport.ErrClosed {
			t.Fatalf("Serve after Close returned %v, want ErrClosed", err)
		}
	})
}
