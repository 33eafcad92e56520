package transport_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" { // re-executed by TestSocketpairSubprocess
		os.Exit(socketpairChildEcho())
	}
	goleak.VerifyTestMain(m)
}
