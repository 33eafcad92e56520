package pubsub_test

import (
	"testing"

	"github.com/tractor-go/tractor/tractortest"
)

func TestMain(m *testing.M) { tractortest.Main(m) }
