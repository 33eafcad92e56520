package tractortest_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/tractor-go/tractor"
)

func TestMain(m *testing.M) {
	tractor.ServeIfChild()
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	goleak.VerifyTestMain(m)
}
