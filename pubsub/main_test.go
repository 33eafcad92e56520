package pubsub_test

import (
	"testing"

	"github.com/tractor-go/tractor/tractortest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	tractortest.Setup()
	goleak.VerifyTestMain(m)
}
