// Package natstest runs NATS servers inside a test process, as the tests
// of natsnet and natsreg need them: a single server or a 3-node cluster
// with JetStream, on fresh loopback ports, shut down when the test ends.
package natstest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// readyBound bounds the wait for a server, or a cluster, to be ready: it
// only guards against a hang.
const readyBound = 60 * time.Second

// Server runs a NATS server on a fresh port of 127.0.0.1 until the test
// ends; edit changes its options first (see JetStream).
func Server(t testing.TB, edit ...func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	for _, e := range edit {
		e(opts)
	}
	return start(t, opts)
}

// started holds the options each server was started with, its client
// port made fixed, so that Restart starts it again as it was.
var started sync.Map // *server.Server -> *server.Options

// Restart starts again, until the test ends, a server of Server's that
// was shut down: same name, ports, routes and store.
func Restart(t testing.TB, s *server.Server) *server.Server {
	t.Helper()
	opts, ok := started.Load(s)
	if !ok {
		t.Fatalf("nats server %s was not started by natstest", s.Name())
	}
	return start(t, opts.(*server.Options).Clone())
}

func start(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
		started.Delete(s)
	})
	if !s.ReadyForConnections(readyBound) {
		t.Fatalf("nats server %s not ready within %v", opts.ServerName, readyBound)
	}
	again := opts.Clone()
	again.Port = s.Addr().(*net.TCPAddr).Port
	started.Store(s, again)
	return s
}

// JetStream is an edit for Server: JetStream on, its store in a
// directory of the test's.
func JetStream(t testing.TB) func(*server.Options) {
	dir := t.TempDir()
	return func(o *server.Options) { o.JetStream, o.StoreDir = true, dir }
}

// Cluster runs a 3-node cluster with JetStream and returns once it can
// place a stream on all three servers, so that a replicated stream can be
// made at once.
func Cluster(t testing.TB) []*server.Server {
	t.Helper()
	ports := make([]int, 3)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var ss []*server.Server
	for i, p := range ports {
		ss = append(ss, Server(t, JetStream(t), func(o *server.Options) {
			o.ServerName = fmt.Sprintf("n%d", i)
			o.Cluster = server.ClusterOpts{Name: "tractor", Host: "127.0.0.1", Port: p}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}))
	}
	nc, err := nats.Connect(URLs(ss))
	if err != nil {
		t.Fatal(err)
	}
	defer Close(nc)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The cluster is ready once its JetStream meta group has a leader
	// that knows the three servers as peers: until then, requests fail
	// ("temporarily unavailable"), or a stream with three replicas does
	// ("no suitable peers for placement"). A probe stream is made and
	// deleted.
	ctx, cancel := context.WithTimeout(context.Background(), readyBound)
	defer cancel()
	probe := jetstream.StreamConfig{Name: "natstest_ready", Subjects: []string{"natstest.ready"}, Replicas: len(ss), Storage: jetstream.MemoryStorage}
	for {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.CreateStream(rctx, probe)
		if err == nil {
			err = js.DeleteStream(rctx, probe.Name)
		}
		rcancel()
		if err == nil {
			return ss
		}
		if ctx.Err() != nil {
			t.Fatalf("nats cluster cannot place a stream on its %d servers within %v: %v", len(ss), readyBound, err)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// Leaderless returns once s knows that its cluster's JetStream meta group
// has no leader (a quorum of servers lost): from then on s refuses
// JetStream requests at once, "JetStream system temporarily unavailable",
// rather than pass them to a leader that is gone.
func Leaderless(t testing.TB, s *server.Server) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	end := time.After(readyBound)
	for {
		j, err := s.Jsz(&server.JSzOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if j.Meta == nil || j.Meta.Leader == "" {
			return
		}
		select {
		case <-tick.C:
		case <-end:
			t.Fatalf("nats server %s still sees JetStream leader %s after %v", s.Name(), j.Meta.Leader, readyBound)
		}
	}
}

// URLs returns the client URLs of servers, comma-separated, in order.
func URLs(ss []*server.Server) string {
	var us []string
	for _, s := range ss {
		us = append(us, s.ClientURL())
	}
	return strings.Join(us, ",")
}

// Close closes nc and waits until its goroutines are done (nats.Conn's
// Close returns before its handlers have run), so that a test's leak
// check does not see them.
func Close(nc *nats.Conn) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	nc.Close()
	<-closed
}
