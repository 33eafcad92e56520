package natsreg_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/internal/natstest"
	"github.com/tractor-go/tractor/natsreg"
)

func newRegistry(t testing.TB, nc *nats.Conn, opts ...natsreg.Option) *natsreg.Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	r, err := natsreg.New(ctx, nc, append([]natsreg.Option{natsreg.TTL(testTTL)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Bounded, so that a test failed with its servers down ends.
		ctx, cancel := context.WithTimeout(context.Background(), hangBound)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return r
}

func info(name, uid string) tractor.ActorInfo {
	return tractor.ActorInfo{ID: tractor.ActorID{Name: name, UID: uid}, Hosting: tractor.Process, PID: 1, Addr: "127.0.0.1:1"}
}

func uids(infos []tractor.ActorInfo) []string {
	var out []string
	for _, i := range infos {
		out = append(out, i.ID.Name+"/"+i.ID.UID)
	}
	return out
}

// TestRegistryConformance: two registries on one server, as two programs
// would be: what one registers the other finds, lists, waits for, and no
// longer finds once unregistered, by either; names with characters keys
// do not allow round-trip.
func TestRegistryConformance(t *testing.T) {
	s := startServer(t)
	r1 := newRegistry(t, connect(t, s.ClientURL()))
	r2 := newRegistry(t, connect(t, s.ClientURL()))
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	check := func(what string, got []tractor.ActorInfo, err error, want ...string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if g := uids(got); !slices.Equal(g, want) {
			t.Fatalf("%s = %q; want %q", what, g, want)
		}
	}
	got, err := r2.Find(ctx, "w")
	check("Find(w) before", got, err)
	odd := "we.ird *name/>"
	for _, i := range []tractor.ActorInfo{info("w", "a1"), info("w", "a2"), info(odd, "u.1"), info("", "e")} {
		if err := r1.Register(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	got, err = r2.Find(ctx, "w")
	check("Find(w)", got, err, "w/a1", "w/a2")
	if got[0] != info("w", "a1") {
		t.Fatalf("Find(w)[0] = %+v; want %+v", got[0], info("w", "a1"))
	}
	got, err = r2.Find(ctx, odd)
	check("Find(odd)", got, err, odd+"/u.1")
	got, err = r2.List(ctx)
	check("List", got, err, "/e", "w/a1", "w/a2", odd+"/u.1")

	if err := r1.Unregister(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	got, err = r2.Find(ctx, "w")
	check("Find(w) after r1 unregistered a1", got, err, "w/a2")
	if err := r2.Unregister(ctx, "a2"); err != nil { // registered by r1
		t.Fatal(err)
	}
	got, err = r1.Find(ctx, "w")
	check("Find(w) after r2 unregistered a2", got, err)

	// Wait blocks until the other registers the name.
	waited := make(chan []tractor.ActorInfo, 1)
	go func() {
		infos, err := r2.Wait(ctx, "late")
		if err != nil {
			t.Error(err)
		}
		waited <- infos
	}()
	if err := r1.Register(ctx, info("late", "l1")); err != nil {
		t.Fatal(err)
	}
	got = <-waited
	check("Wait(late)", got, nil, "late/l1")

	// Wait ends with its ctx.
	wctx, wcancel := context.WithCancel(ctx)
	wcancel()
	if _, err := r2.Wait(wctx, "never"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait(never) with a cancelled ctx: %v; want context.Canceled", err)
	}
}

// TestThreeProgramsKill: three programs, on 127.0.0.1, .2 and .3, find
// each other through NATS only and call each other's workers (p1's is a
// process actor, with a registry connection of its own); p3 killed with
// SIGKILL vanishes from the registry within the TTL, for Find, List and
// the bucket's watchers.
func TestThreeProgramsKill(t *testing.T) {
	s := startServer(t)
	ps := []*program{
		startProgram(t, "p1", "127.0.0.1", s.ClientURL(), procEnv+"=1"),
		startProgram(t, "p2", "127.0.0.2", s.ClientURL()),
		startProgram(t, "p3", "127.0.0.3", s.ClientURL()),
	}
	for _, p := range ps {
		p.expect(t, "ready")
	}
	callAll(t, ps)
	ps[0].say(t, "list")
	list := ps[0].expect(t, "list ")
	for _, want := range []string{"p1-worker@127.0.0.1", "p2-worker@127.0.0.2", "p3-worker@127.0.0.3", "root-p1@127.0.0.1", "root-p2@127.0.0.2", "root-p3@127.0.0.3"} {
		if !strings.Contains(list, want) {
			t.Errorf("p1's list %q lacks %s", list, want)
		}
	}

	// Watch p3's entries, then kill it.
	nc := connect(t, s.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, natsreg.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.WatchFiltered(ctx, []string{"p3-worker.*", "root-p3.*"}, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		w.Stop()
		for range w.Updates() {
		}
	}()
	if err := ps[2].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	ps[2].cmd.Wait()
	gone := map[string]bool{}
	for len(gone) < 2 {
		select {
		case e := <-w.Updates():
			if e.Operation() != jetstream.KeyValuePut {
				gone[e.Key()] = true
			}
		case <-ctx.Done():
			t.Fatalf("p3's entries still there %v after SIGKILL (TTL %v); gone: %v", hangBound, testTTL, gone)
		}
	}
	t.Logf("SIGKILL to disappearance of p3's entries from the watch: %v (TTL %v)", time.Since(killed), testTTL)

	r := newRegistry(t, nc)
	if got, err := r.Find(ctx, "p3-worker"); err != nil || len(got) != 0 {
		t.Fatalf("Find(p3-worker) after p3 was killed = %v, %v; want none", got, err)
	}
	ps[0].say(t, "list")
	list = ps[0].expect(t, "list ")
	if strings.Contains(list, "p3") || !strings.Contains(list, "p2-worker@127.0.0.2") {
		t.Fatalf("p1's list after p3 was killed: %q", list)
	}
	callAll(t, ps[:2])
	ps[0].end(t)
	ps[1].end(t)
}

// TestClusterServerLost: two programs on a 3-node cluster (the bucket
// replicated on all three) go on finding and calling each other after the
// server they are connected to shuts down, and a third joins them.
func TestClusterServerLost(t *testing.T) {
	ss := natstest.Cluster(t)
	u := natstest.URLs(ss)
	ps := []*program{startProgram(t, "p1", "127.0.0.1", u), startProgram(t, "p2", "127.0.0.2", u)}
	for _, p := range ps {
		p.expect(t, "ready")
	}
	callAll(t, ps)
	ss[0].Shutdown() // the first URL: both programs' server
	ss[0].WaitForShutdown()
	callAll(t, ps)
	// A program that joins now registers with the two servers left.
	ps = append(ps, startProgram(t, "p3", "127.0.0.3", u))
	ps[2].expect(t, "ready")
	callAll(t, ps)
	ps[1].say(t, "list")
	list := ps[1].expect(t, "list ")
	for _, want := range []string{"p1-worker@127.0.0.1", "p2-worker@127.0.0.2"} {
		if !strings.Contains(list, want) {
			t.Errorf("p2's list %q lacks %s", list, want)
		}
	}
	for _, p := range ps {
		p.end(t)
	}
}

// TestRegistryOutage: while a 3-node cluster has lost two of its servers,
// its JetStream has no leader, and the one left, a follower, refuses
// every request at once; the registry's operations keep trying within
// their ctx rather than fail with the refusal: a Find in the outage ends
// with its ctx, and a Wait begun in the outage and a Register made as the
// servers come back both succeed.
func TestRegistryOutage(t *testing.T) {
	ss := natstest.Cluster(t)
	// The meta leader is lost; a leader that loses its quorum would
	// rather leave requests unanswered for a while.
	i := slices.IndexFunc(ss, func(s *server.Server) bool { return !s.JetStreamIsLeader() })
	survivor, lost := ss[i], slices.Delete(slices.Clone(ss), i, i+1)
	r := newRegistry(t, connect(t, survivor.ClientURL()), natsreg.Replicas(3))
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	for _, s := range lost {
		s.Shutdown()
		s.WaitForShutdown()
	}
	natstest.Leaderless(t, survivor)
	fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
	got, err := r.Find(fctx, "w")
	fcancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Find in the outage = %q, %v; want %v", uids(got), err, context.DeadlineExceeded)
	}
	type result struct {
		infos []tractor.ActorInfo
		err   error
	}
	waited := make(chan result, 1) // not left blocked if the test fails first
	go func() {
		infos, err := r.Wait(ctx, "w")
		waited <- result{infos, err}
	}()
	for _, s := range lost {
		natstest.Restart(t, s)
	}
	if err := r.Register(ctx, info("w", "a1")); err != nil {
		t.Errorf("Register as the servers come back: %v", err)
		cancel()
	}
	w := <-waited
	if g := uids(w.infos); w.err != nil || !slices.Equal(g, []string{"w/a1"}) {
		t.Fatalf("Wait begun in the outage = %q, %v; want [w/a1]", g, w.err)
	}
	// Now, while the restarted servers run: they stop before r closes.
	if err := r.Unregister(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
}

// TestNoCredentialsRefused: on a server that requires a user and password,
// a program without them is refused, with an error naming the
// authorization failure; with them it runs.
func TestNoCredentialsRefused(t *testing.T) {
	s := startServer(t, &server.User{Username: "tree", Password: "s3cret"})
	if _, err := nats.Connect(s.ClientURL()); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connecting without credentials: %v; want nats.ErrAuthorization", err)
	}
	refused := startProgram(t, "p1", "127.0.0.1", s.ClientURL())
	line := refused.expect(t, "error: ")
	if !strings.Contains(strings.ToLower(line), "authorization violation") {
		t.Fatalf("program without credentials said %q; want an authorization violation", line)
	}
	if err := refused.cmd.Wait(); err == nil {
		t.Fatal("program without credentials exited 0")
	}
	ok := startProgram(t, "p2", "127.0.0.2", s.ClientURL(), userEnv+"=tree", passEnv+"=s3cret")
	ok.expect(t, "ready")
	ok.end(t)
}
