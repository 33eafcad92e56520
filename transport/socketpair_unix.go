//go:build unix

package transport

import (
	"os"
	"syscall"
)

// Socketpair returns the two ends of a connected AF_UNIX stream socket,
// the pipe backend between a parent and the child process it spawns. The
// parent keeps parent and wraps it with [FileConn]; child goes to the
// subprocess as an extra file (exec.Cmd.ExtraFiles), where the child wraps
// its descriptor the same way, and the parent closes its copy of child once
// the subprocess has started. Both ends then speak the same framing.
//
// Both descriptors are close-on-exec. That is what the parent end needs,
// and the child end too: ExtraFiles duplicates it into the subprocess
// without the flag, while without it every other process spawned in the
// meantime would inherit the child end as well, and the parent would not
// see EOF until all of them exited.
func Socketpair() (parent, child *os.File, err error) {
	// ForkLock keeps a concurrent fork from inheriting the descriptors
	// between their creation and CloseOnExec, as package net does where
	// SOCK_CLOEXEC is missing.
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	return os.NewFile(uintptr(fds[0]), "tractor-parent"), os.NewFile(uintptr(fds[1]), "tractor-child"), nil
}
