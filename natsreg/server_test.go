package natsreg_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// hangBound bounds what could hang: never a timing assertion.
const hangBound = 60 * time.Second

// startServer starts a NATS server with JetStream in the test process, on
// a random port, its store in a temporary directory; with users, a client
// must give one's name and password.
func startServer(t testing.TB, users ...*server.User) *server.Server {
	t.Helper()
	opts := &server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(), Users: users,
	}
	return runServer(t, opts)
}

func runServer(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(hangBound) {
		t.Fatalf("nats server %s not ready", opts.ServerName)
	}
	return s
}

// startCluster starts a 3-node NATS cluster with JetStream and waits
// until it has a JetStream leader, so that a replicated bucket can be
// made at once.
func startCluster(t *testing.T) []*server.Server {
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
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: t.TempDir(),
			Cluster: server.ClusterOpts{Name: "tractor", Host: "127.0.0.1", Port: p},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		}
		ss = append(ss, runServer(t, opts))
	}
	nc := connect(t, urls(ss))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The cluster is ready once its JetStream meta group has a leader,
	// which answers account info; until then requests fail at once.
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	for {
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(rctx)
		rcancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("cluster has no JetStream leader: %v", err)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	return ss
}

// urls returns the client URLs of servers, comma-separated, in order.
func urls(ss []*server.Server) string {
	var us []string
	for _, s := range ss {
		us = append(us, s.ClientURL())
	}
	return strings.Join(us, ",")
}

// connect connects to urls (tried in order) and closes the connection at
// the test's end, waiting for it to be closed.
func connect(t testing.TB, urls string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(urls, append(opts, nats.DontRandomize())...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeConn(nc) })
	return nc
}

// closeConn closes nc and waits until its goroutines are done: Close
// returns before its handlers have run.
func closeConn(nc *nats.Conn) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	nc.Close()
	<-closed
}
