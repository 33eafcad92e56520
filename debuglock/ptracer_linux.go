package debuglock

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// allowTracer lets this process's descendants (the dlv it starts) trace
// it: under Yama's ptrace_scope 1, the default of many distributions, a
// process may only be traced by its ancestors, and dlv is a child. It is
// a no-op where Yama is absent (prctl then fails with EINVAL).
func allowTracer() error {
	err := unix.Prctl(unix.PR_SET_PTRACER, uintptr(os.Getpid()), 0, 0, 0)
	if errors.Is(err, unix.EINVAL) {
		return nil
	}
	return err
}

// disallowTracer undoes allowTracer once Delve has detached.
func disallowTracer() {
	_ = unix.Prctl(unix.PR_SET_PTRACER, 0, 0, 0, 0)
}
