package natsreg_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/natsreg"
	"github.com/tractor-go/tractor/tractortest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// A test may re-execute the binary as a program of its own.
	playRole()
	// A process actor of such a program: it uses the program's registry,
	// reached by its own connection (a Registry cannot travel).
	tractortest.Setup(childOptions()...)
	goleak.VerifyTestMain(m)
}

// urlsEnv holds the NATS URLs of a program's server(s), which its process
// actors inherit.
const urlsEnv = "NATSREG_TEST_URLS"

// childOptions are those of a process actor spawned by a test program:
// UseRegistry with a registry of its own on the program's NATS servers.
func childOptions() []tractor.Option {
	u := os.Getenv(urlsEnv)
	if u == "" {
		return nil
	}
	nc, err := nats.Connect(u, nats.UserInfo(os.Getenv(userEnv), os.Getenv(passEnv)))
	if err != nil {
		panic(err)
	}
	reg, err := natsreg.New(context.Background(), nc, registryOptions()...)
	if err != nil {
		panic(err)
	}
	return []tractor.Option{tractor.UseRegistry(reg)}
}

// registryOptions are the tests' registry options: a short TTL, and three
// replicas on a cluster (several URLs).
func registryOptions() []natsreg.Option {
	opts := []natsreg.Option{natsreg.TTL(testTTL)}
	if strings.Contains(os.Getenv(urlsEnv), ",") {
		opts = append(opts, natsreg.Replicas(3))
	}
	return opts
}
