package tractor_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/internal/natstest"
	"github.com/tractor-go/tractor/natsnet"
	"github.com/tractor-go/tractor/transport"
)

// processNATS hosts actors in processes whose whole tree, the root and
// every process actor, listens and dials over NATS subjects (package
// natsnet): the root, the registrar's process, at a fresh "nats:" address,
// and each process actor at one of its own, with the NATS connection its
// main gives it (see childOptions). Only a child's link to its parent
// stays the spawn wire; every other dialog between processes, the
// registrar's included, crosses the NATS server.
var processNATS = hosting{"process-nats", []tractor.Option{tractor.Spawn(tractor.Process), tractor.PeerNetwork(testNATS)}}

// natsURLEnv names, for a process actor of the test binary, the NATS
// server of its tree: the test process sets it once it has started the
// server, and a child's main (TestMain, see childOptions) connects to it.
const natsURLEnv = "TRACTOR_TEST_NATS_URL"

// testNATS is the test process's NATS network: one embedded server and
// one connection shared by every tree of the process-nats row, started on
// the first address of the row to be listened on or dialled, so that a
// run that selects no such test starts none; stopNATS ends both.
var testNATS = &lazyNATS{connect: startNATS}

// natsServer is the server testNATS started, if it did.
var natsServer *server.Server

// startNATS starts the test process's NATS server on a fresh port of
// 127.0.0.1, tells the process actors spawned from now on where it is
// (natsURLEnv), and connects to it.
func startNATS() (*nats.Conn, error) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, err
	}
	s.Start()
	if !s.ReadyForConnections(time.Minute) {
		s.Shutdown()
		return nil, fmt.Errorf("nats server not ready within a minute")
	}
	natsServer = s
	os.Setenv(natsURLEnv, s.ClientURL())
	nc, err := nats.Connect(s.ClientURL(), nats.NoReconnect())
	if err != nil {
		return nil, err
	}
	// The connection's subscription for the replies to its requests, and
	// its goroutine, open on its first request and last as long as it
	// does: open them now, with a request nobody answers, so that they
	// run before the row's trees, as the rest of the connection does (a
	// tree's leak check takes those for the process's own; see rows).
	if _, err := nc.Request("tractor.test.nobody", nil, time.Minute); !errors.Is(err, nats.ErrNoResponders) {
		nc.Close()
		return nil, fmt.Errorf("a request nobody answers: %v, want nats.ErrNoResponders", err)
	}
	return nc, nil
}

// natsChildOptions are the options of a process actor of the test binary
// whose parent runs a NATS server (natsURLEnv): a NATS network of its own,
// connected on first use, as a program's main would give it to Run. A
// child of another row never uses it, and so never connects.
func natsChildOptions() []tractor.Option {
	url := os.Getenv(natsURLEnv)
	if url == "" {
		return nil
	}
	return []tractor.Option{tractor.PeerNetwork(&lazyNATS{connect: func() (*nats.Conn, error) {
		return nats.Connect(url, nats.NoReconnect())
	}})}
}

// stopNATS closes the test process's NATS connection and shuts its server
// down, if they were started, so that the leak check after the tests
// does not see their goroutines.
func stopNATS() {
	testNATS.mu.Lock()
	defer testNATS.mu.Unlock()
	if testNATS.nw != nil {
		natstest.Close(testNATS.nw.Conn)
	}
	if natsServer != nil {
		natsServer.Shutdown()
		natsServer.WaitForShutdown()
	}
}

// lazyNATS is a natsnet network that connects on first use.
type lazyNATS struct {
	connect func() (*nats.Conn, error)
	mu      sync.Mutex
	nw      *natsnet.Network
	err     error
}

// network returns the network, connecting on the first call; a failure
// to connect is every call's.
func (l *lazyNATS) network() (*natsnet.Network, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.nw == nil && l.err == nil {
		nc, err := l.connect()
		if err != nil {
			l.err = fmt.Errorf("test NATS network: %w", err)
		} else {
			l.nw = &natsnet.Network{Conn: nc}
		}
	}
	return l.nw, l.err
}

func (l *lazyNATS) Scheme() string { return natsnet.Scheme }

func (l *lazyNATS) Listen(ctx context.Context, addr string) (net.Listener, error) {
	nw, err := l.network()
	if err != nil {
		return nil, err
	}
	return nw.Listen(ctx, addr)
}

func (l *lazyNATS) Dial(ctx context.Context, addr string) (net.Conn, error) {
	nw, err := l.network()
	if err != nil {
		return nil, err
	}
	return nw.Dial(ctx, addr)
}

// stoppingNATS runs the tests of m, then stops the test process's NATS
// server (stopNATS), before goleak checks for leaks.
type stoppingNATS struct{ m *testing.M }

func (s stoppingNATS) Run() int {
	defer stopNATS()
	return s.m.Run()
}

// TestChildWithoutPeerNetwork: a process actor told to listen on its
// tree's NATS network, whose main gave Run no PeerNetwork (the option
// cannot travel from its parent), fails to start at once, with an error
// that names it and what its main lacks.
func TestChildWithoutPeerNetwork(t *testing.T) {
	if _, err := testNATS.network(); err != nil { // the server, before its address is hidden
		t.Fatal(err)
	}
	// The child's main (TestMain) finds no server to connect to, so it
	// gives Run no PeerNetwork.
	t.Setenv(natsURLEnv, "")
	err := run(t, processNATS, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			_, err := n.StartActor(ctx, "stranded", tractor.Expose(square))
			if !errors.Is(err, tractor.ErrNoPeerNetwork) || !errors.Is(err, tractor.ErrMisuse) ||
				!strings.Contains(err.Error(), `"stranded"`) || !strings.Contains(err.Error(), `PeerNetwork for "nats:" addresses`) {
				t.Errorf("StartActor of a child without a NATS network: %v; want ErrNoPeerNetwork naming the actor and the missing network", err)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUnknownNATSAddress: an address on NATS that nobody listens at (NATS
// has no responder) fails a dial at once, with an error that names it;
// and a program whose main gave Run no NATS network, given such an
// address, fails at once too, saying so, rather than taking it for a TCP
// host to look up.
func TestUnknownNATSAddress(t *testing.T) {
	const nobody = "nats:tractor.test.nobody"
	for _, tc := range []struct {
		name string
		opts []tractor.Option
		want error
		// naming is the address the error must name (default: nobody).
		naming string
	}{
		{"with-network", []tractor.Option{tractor.PeerNetwork(testNATS)}, transport.ErrNoListener, ""},
		{"without-network", nil, tractor.ErrNoPeerNetwork, ""},
		{"listen-without-network", []tractor.Option{tractor.ListenAddr(nobody)}, tractor.ErrNoPeerNetwork, ""},
		// A fresh NATS address, which has no port: not a TCP host "nats"
		// to look up (where a host of that name resolves, as in a
		// container network, a listen there would fail obscurely).
		{"fresh-listen-without-network", []tractor.Option{tractor.ListenAddr("nats:")}, tractor.ErrNoPeerNetwork, `"nats:"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			opts := append([]tractor.Option{tractor.Registrar(nobody), tractor.Secret("tree"), tractor.LogOutput(testLog{t})}, tc.opts...)
			err := tractor.Run(ctx, func(context.Context) error {
				t.Error("joined a registrar nobody serves")
				return nil
			}, opts...)
			if ctx.Err() != nil {
				t.Fatalf("Run with registrar %s did not end within %v", nobody, testTimeout)
			}
			naming := cmp.Or(tc.naming, nobody)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), naming) {
				t.Errorf("Run with %s: %v; want %v, naming %s", nobody, err, tc.want, naming)
			}
		})
	}
}
