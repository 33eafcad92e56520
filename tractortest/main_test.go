package tractortest_test

import (
	"testing"

	"github.com/tractor-go/tractor/tractortest"
)

func TestMain(m *testing.M) {
	playKinRole() // a process of TestKin, if this is one
	tractortest.Main(m)
}
