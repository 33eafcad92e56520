package natsreg_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tractor-go/tractor/natsreg"
)

// longTTL is the TTL of the tests of hanging puts: a heartbeat's put tries
// again for as long as the entry lives, far longer than the tests' bound.
const longTTL = 10 * time.Minute

// request is a put or a delete of a registry's entry, received by a
// standIn in place of JetStream.
type request struct {
	key string
	del bool
	msg *nats.Msg
}

// ack answers req as JetStream would once it has stored it.
func (req request) ack(t testing.TB, bucket string) {
	t.Helper()
	if err := req.msg.Respond([]byte(`{"stream":"KV_` + bucket + `","seq":1}`)); err != nil {
		t.Fatal(err)
	}
}

// standIn deletes bucket from the JetStream of the server at url and
// receives, in its place, the puts and deletes of its keys: the test
// answers each (ack) or leaves it unanswered, a request that hangs.
func standIn(t testing.TB, url, bucket string) <-chan request {
	t.Helper()
	nc := connect(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	if err := js.DeleteKeyValue(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	msgs := make(chan *nats.Msg, 1024)
	if _, err := nc.ChanSubscribe("$KV."+bucket+".>", msgs); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	reqs := make(chan request, cap(msgs))
	go func() {
		// Ends as the connection closes at the test's end.
		defer close(reqs)
		for {
			select {
			case m := <-msgs:
				reqs <- request{key: strings.TrimPrefix(m.Subject, "$KV."+bucket+"."), del: m.Header.Get("KV-Operation") == "DEL", msg: m}
			case <-nc.StatusChanged(nats.CLOSED):
				return
			}
		}
	}()
	return reqs
}

// next returns the next request of reqs, failing the test if none comes
// within hangBound.
func next(t testing.TB, reqs <-chan request, what string) request {
	t.Helper()
	select {
	case req := <-reqs:
		return req
	case <-time.After(hangBound):
		t.Fatalf("no request within %v; waiting for %s", hangBound, what)
		panic("unreachable")
	}
}

// await returns the next request of reqs for key, of a delete if del,
// acknowledging the others.
func await(t testing.TB, reqs <-chan request, bucket, key string, del bool) request {
	t.Helper()
	for {
		req := next(t, reqs, key)
		if req.key == key && req.del == del {
			return req
		}
		req.ack(t, bucket)
	}
}

// registeredOnStandIn registers actor w/a1 in a fresh bucket of a registry
// with ttl and a 10 ms heartbeat, then puts a standIn in the bucket's place:
// it returns the registry, the stand-in's requests, the entry's key and a
// ctx bounded by hangBound.
func registeredOnStandIn(t *testing.T, bucket string, ttl time.Duration) (*natsreg.Registry, <-chan request, string, context.Context) {
	t.Helper()
	s := startServer(t)
	r := newRegistry(t, connect(t, s.ClientURL()), natsreg.Bucket(bucket), natsreg.TTL(ttl), natsreg.Heartbeat(10*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	t.Cleanup(cancel)
	if err := r.Register(ctx, info("w", "a1")); err != nil {
		t.Fatal(err)
	}
	return r, standIn(t, s.ClientURL(), bucket), natsreg.Key("w", "a1"), ctx
}

// TestUnregisterWhilePutHangs: while the heartbeat's put of an entry goes
// unanswered (a JetStream electing a leader), Unregister of the entry does
// not wait for it: it deletes the entry at once.
func TestUnregisterWhilePutHangs(t *testing.T) {
	const bucket = "unregister_hang"
	r, reqs, key, ctx := registeredOnStandIn(t, bucket, longTTL)
	await(t, reqs, bucket, key, false) // the heartbeat's put, unanswered
	done := make(chan error, 1)
	go func() { done <- r.Unregister(ctx, "a1") }()
	await(t, reqs, bucket, key, true).ack(t, bucket)
	if err := <-done; err != nil {
		t.Fatalf("Unregister while the heartbeat's put hangs: %v", err)
	}
}

// TestCloseWhilePutHangs: while the heartbeat's put of an entry goes
// unanswered, Close stops the heartbeat at once, and returns by its ctx,
// with ctx's error, while its delete of the entry goes unanswered too.
func TestCloseWhilePutHangs(t *testing.T) {
	const bucket = "close_hang"
	r, reqs, key, ctx := registeredOnStandIn(t, bucket, longTTL)
	await(t, reqs, bucket, key, false) // the heartbeat's put, unanswered
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	done := make(chan error, 1)
	go func() { done <- r.Close(cctx) }()
	await(t, reqs, bucket, key, true) // Close's delete, unanswered
	ccancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "unregister w/a1") && !strings.Contains(err.Error(), "unregister a1") {
		t.Fatalf("Close, its delete unanswered, its ctx cancelled: %v; want context.Canceled, naming the unregistration of a1", err)
	}
}

// TestRegisterHangingKeepsHeartbeat: while a Register's put goes
// unanswered, the heartbeat goes on putting the other entries; and once
// the Register has failed (its ctx ended), the heartbeat never puts its
// entry, which is not registered.
func TestRegisterHangingKeepsHeartbeat(t *testing.T) {
	const bucket = "register_hang"
	r, reqs, a1, ctx := registeredOnStandIn(t, bucket, longTTL)
	b1 := natsreg.Key("w", "b1")
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	done := make(chan error, 1)
	go func() { done <- r.Register(rctx, info("w", "b1")) }()
	await(t, reqs, bucket, b1, false) // Register's put, unanswered
	// Two heartbeats put a1 while b1's Register hangs.
	for range 2 {
		await(t, reqs, bucket, a1, false).ack(t, bucket)
	}
	rcancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Register, its put unanswered, its ctx cancelled: %v; want context.Canceled", err)
	}
	// The second put of a1 from now was sent after Register returned,
	// as was anything after it: b1 is not among them, for a whole beat.
	for puts := 0; puts < 3; {
		req := next(t, reqs, "a heartbeat")
		req.ack(t, bucket)
		switch {
		case req.key == a1:
			puts++
		case req.key == b1 && puts >= 2:
			t.Fatalf("the heartbeat put %s, whose Register failed", b1)
		}
	}
	// Close deletes a1 only.
	go func() { done <- r.Close(ctx) }()
	await(t, reqs, bucket, a1, true).ack(t, bucket)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestExpiredEntryPutAgain: an entry whose heartbeat's puts went
// unanswered until it expired (a cluster that lost its quorum for longer
// than the TTL) is put again by the next heartbeats, so that it comes back
// once JetStream answers, rather than being dropped for good.
func TestExpiredEntryPutAgain(t *testing.T) {
	const (
		bucket = "expired_again"
		ttl    = time.Second // the least TTL
	)
	r, reqs, key, ctx := registeredOnStandIn(t, bucket, ttl)
	// The entry expires at the latest a TTL after now: its last put
	// answered was Register's, before the stand-in took the bucket's place.
	expired := time.Now().Add(ttl)
	for {
		req := await(t, reqs, bucket, key, false) // unanswered until the entry expired
		if time.Now().After(expired.Add(ttl)) {
			req.ack(t, bucket) // a heartbeat's put of the expired entry
			break
		}
	}
	done := make(chan error, 1)
	go func() { done <- r.Close(ctx) }()
	await(t, reqs, bucket, key, true).ack(t, bucket)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
