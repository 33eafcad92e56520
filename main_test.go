package tractor_test

import (
	"os"
	"testing"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// A test may re-execute the binary as a program of its own.
	playRole()
	// A test may have every process of its tree send late.
	if os.Getenv(lateSendsEnv) != "" {
		tractor.SetDetachedSendHook(lateSend)
	}
	// A process actor: serve with the options the tests give the tree.
	tractortest.Setup(append(childOptions(), natsChildOptions()...)...)
	// The process-nats row's server ends before the leak check.
	goleak.VerifyTestMain(stoppingNATS{m})
}
