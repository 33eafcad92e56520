//go:build !linux

package debuglock

// allowTracer is a no-op outside Linux: Delve's attach there is governed
// by the system (developer mode, code signing), not by the target.
func allowTracer() error { return nil }

// disallowTracer undoes allowTracer.
func disallowTracer() {}
