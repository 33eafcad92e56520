//go:build unix && !linux

package spawnproc

import "syscall"

// sysProcAttr has no parent-death signal outside Linux: there a child
// notices its parent's death only through its closed connection.
func sysProcAttr() *syscall.SysProcAttr { return nil }
