package natsreg_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/tractor-go/tractor/internal/natstest"
)

// hangBound bounds what could hang: never a timing assertion.
const hangBound = 60 * time.Second

// startServer starts a NATS server with JetStream in the test process, on
// a random port, its store in a temporary directory; with users, a client
// must give one's name and password.
func startServer(t testing.TB, users ...*server.User) *server.Server {
	t.Helper()
	return natstest.Server(t, natstest.JetStream(t), func(o *server.Options) { o.Users = users })
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

// closeConn closes nc and waits until its goroutines are done.
func closeConn(nc *nats.Conn) { natstest.Close(nc) }
