package tractor_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/tractor-go/tractor"
)

func TestMain(m *testing.M) {
	// A test may re-execute the binary as a program of its own.
	playRole()
	// A test may have every process of its tree send late.
	if os.Getenv(lateSendsEnv) != "" {
		tractor.SetDetachedSendHook(lateSend)
	}
	// A process actor is this test binary re-executed: serve and exit.
	tractor.ServeIfChild(childOptions()...)
	// Children built with -race would each sleep a second at exit.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	goleak.VerifyTestMain(m)
}
