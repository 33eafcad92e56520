// Package natstest runs NATS servers inside a test process, as the tests
// of natsnet and natsreg need them, on fresh loopback ports, shut down
// when the test ends.
package natstest

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(readyBound) {
		t.Fatalf("nats server %s not ready within %v", opts.ServerName, readyBound)
	}
	return s
}

// JetStream is an edit for Server: JetStream on, its store in a
// directory of the test's.
func JetStream(t testing.TB) func(*server.Options) {
	dir := t.TempDir()
	return func(o *server.Options) { o.JetStream, o.StoreDir = true, dir }
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
