package tractortest

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Proc names a process beyond the reuse of its pid: its pid and its
// start time (in clock ticks since boot, from /proc/PID/stat), which a
// new process given the same pid does not share.
type Proc struct {
	PID   int
	Start uint64
}

// ProcOf returns the process now running as pid, and whether there is
// one that has not exited: a zombie, which has exited but was not reaped,
// counts as gone (Linux).
func ProcOf(pid int) (Proc, bool) {
	fields, ok := statFields(pid)
	// fields[0] is the state, fields[19] the start time (the stat
	// fields 3 and 22).
	if !ok || len(fields) < 20 || fields[0] == "Z" || fields[0] == "X" {
		return Proc{}, false
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return Proc{}, false
	}
	return Proc{pid, start}, true
}

// Alive reports whether p still runs: its pid names the same process,
// which has not exited.
func (p Proc) Alive() bool {
	q, ok := ProcOf(p.PID)
	return ok && q == p
}

// statFields returns the fields of /proc/PID/stat after the command name.
func statFields(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:]), true
}

// kinVar is the environment variable that marks the processes of one
// test process's tree: the test process sets it to a value naming itself
// (see markKin), and every process it spawns inherits it, as do theirs,
// since spawnproc passes a child its parent's environment.
const kinVar = "TRACTORTEST_KIN"

var kinMark = sync.OnceValue(func() string {
	p, _ := ProcOf(os.Getpid())
	v := strconv.Itoa(p.PID) + "." + strconv.FormatUint(p.Start, 10)
	os.Setenv(kinVar, v)
	return kinVar + "=" + v
})

// markKin marks this process's tree for [Kin]: it sets kinVar to this
// process's pid and start time, which no other process shares, replacing
// a value inherited from a test process this one descends from. [Main]
// and [Check] call it before they spawn anything.
func markKin() { kinMark() }

// Kin lists the processes other than this one that this process's tree
// started (after [Main], [Check] or Kin was first called), that run this
// process's executable in its process group and have not exited: this
// process's children, theirs, and those of them orphaned by the death of
// their parent and reparented to init (or a subreaper), which
// [Descendants], walking down from a pid, cannot find. An actor hosted in
// a process is this executable re-executed, in the group of its parent,
// with its parent's environment, so Kin finds every actor process of the
// test binary's tree that still runs, however its parents died. The
// environment marks the tree (see markKin): another copy of the test
// binary run from the same shell, in the same group, is not kin (Linux).
func Kin() []int {
	mark := kinMark()
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil
	}
	pgrp := syscall.Getpgrp()
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		fields, ok := statFields(pid)
		// fields[2] is the process group (the stat field 5).
		if !ok || len(fields) < 3 || fields[0] == "Z" || fields[2] != strconv.Itoa(pgrp) {
			continue
		}
		if exe, err := os.Readlink("/proc/" + e.Name() + "/exe"); err != nil || exe != self {
			continue
		}
		// The environment a process was started with, NUL-separated.
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && slices.Contains(strings.Split(string(env), "\x00"), mark) {
			out = append(out, pid)
		}
	}
	return out
}

// Descendants lists the processes below pid that still exist, zombies
// included, from /proc (Linux).
func Descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) >= 2 {
			pp, _ := strconv.Atoi(fields[1])
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}
