package spawnproc

import (
	"fmt"
	"os"
	"syscall"
)

// sysProcAttr makes the kernel SIGKILL the child when its parent dies, so
// no child outlives a parent killed with SIGKILL.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// socketpair returns two connected Unix stream sockets, both close-on-exec
// (exec.Cmd's ExtraFiles clears it on the child's copy).
func socketpair() (parent, child *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("spawnproc: socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "parent"), os.NewFile(uintptr(fds[1]), "child"), nil
}
