package tractor_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tractor-go/tractor"
)

// refusingRegistry is a Registry that cannot be reached.
type refusingRegistry struct{}

var errRefused = errors.New("registry refused")

func (refusingRegistry) Register(context.Context, tractor.ActorInfo) error { return errRefused }
func (refusingRegistry) Unregister(context.Context, string) error          { return errRefused }
func (refusingRegistry) Find(context.Context, string) ([]tractor.ActorInfo, error) {
	return nil, errRefused
}
func (refusingRegistry) Wait(context.Context, string) ([]tractor.ActorInfo, error) {
	return nil, errRefused
}
func (refusingRegistry) List(context.Context) ([]tractor.ActorInfo, error) { return nil, errRefused }

// TestUseRegistry: Run keeps its directory in the Registry given, whose
// failure to register the root fails Run, matching ErrRegistrar and the
// Registry's own error, without running the body; UseRegistry with
// Registrar is a misuse.
func TestUseRegistry(t *testing.T) {
	ran := false
	body := func(context.Context) error { ran = true; return nil }
	err := tractor.Run(context.Background(), body, tractor.UseRegistry(refusingRegistry{}))
	if !errors.Is(err, tractor.ErrRegistrar) || !errors.Is(err, errRefused) || ran {
		t.Fatalf("Run with a refusing registry: %v (body ran: %v); want ErrRegistrar and errRefused", err, ran)
	}
	err = tractor.Run(context.Background(), body, tractor.UseRegistry(refusingRegistry{}), tractor.Registrar("127.0.0.1:1"))
	if !errors.Is(err, tractor.ErrMisuse) || ran {
		t.Fatalf("Run with UseRegistry and Registrar: %v (body ran: %v); want ErrMisuse", err, ran)
	}
}
