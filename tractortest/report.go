package tractortest

import (
	"fmt"
	"runtime"
	"strings"
	"sync"

	"pgregory.net/rapid"
)

// runLog writes a tree's log lines to a run's log until the run ends.
type runLog struct {
	t      *rapid.T
	mu     sync.Mutex
	closed bool
}

func (l *runLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.t.Logf("%s", strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (l *runLog) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
}

// reporter is the rapid.TB of [Run]: it keeps what a test would log, and
// whether it failed. A failing or skipping FailNow ends the calling
// goroutine, as testing's does.
type reporter struct {
	mu     sync.Mutex
	log    strings.Builder
	failed bool
}

func (r *reporter) Helper()      {}
func (r *reporter) Name() string { return "tractortest.Run" }
func (r *reporter) Log(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(&r.log, args...)
}
func (r *reporter) Logf(format string, args ...any) { r.Log(fmt.Sprintf(format, args...)) }
func (r *reporter) Error(args ...any)               { r.Log(args...); r.Fail() }
func (r *reporter) Errorf(format string, args ...any) {
	r.Logf(format, args...)
	r.Fail()
}
func (r *reporter) Fatal(args ...any)                 { r.Error(args...); r.FailNow() }
func (r *reporter) Fatalf(format string, args ...any) { r.Errorf(format, args...); r.FailNow() }
func (r *reporter) Skip(args ...any)                  { r.Log(args...); r.SkipNow() }
func (r *reporter) Skipf(format string, args ...any)  { r.Logf(format, args...); r.SkipNow() }
func (r *reporter) SkipNow()                          { runtime.Goexit() }
func (r *reporter) FailNow()                          { r.Fail(); runtime.Goexit() }
func (r *reporter) Fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
}
func (r *reporter) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}
