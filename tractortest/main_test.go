package tractortest_test

import (
	"testing"

	"github.com/tractor-go/tractor/tractortest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	playKinRole() // a process of TestKin, if this is one
	tractortest.Setup()
	goleak.VerifyTestMain(m)
}
