package spawnproc

import "syscall"

// sysProcAttr makes the kernel SIGKILL the child when its parent dies, so
// no child outlives a parent killed with SIGKILL.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
