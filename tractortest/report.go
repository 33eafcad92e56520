package tractortest

import (
	"fmt"
	"regexp"
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
	name   string // of the property: rapid keeps and replays its failures by name
	mu     sync.Mutex
	log    strings.Builder
	failed bool
}

func (r *reporter) Helper() {}
func (r *reporter) Name() string {
	if r.name == "" {
		return "tractortest.Run"
	}
	return r.name
}
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

// runName names a property checked by [Run] after its cases, so that rapid
// replays a saved failure only for the property it came from.
func runName(cfg Config) string {
	names := make([]string, len(cfg.Cases))
	for i, c := range cfg.Cases {
		names[i] = c.GoString()
	}
	return "tractortest.Run " + strings.Join(names, ", ")
}

// fatalf fails the run with a message that is the same on every replay of
// the run: rapid shrinks a failure only while its replays fail with the
// same text, and a tree's actor uids, pids and ports differ on each. The
// message as it was is logged first, so nothing of it is lost.
func fatalf(t *rapid.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if s := stable(msg); s != msg {
		t.Log(msg)
		msg = s
	}
	t.Fatal(msg)
}

// unstable matches what differs between replays of one run: an actor's
// uid in brackets, a pid, a loopback port.
var unstable = regexp.MustCompile(`\[[0-9a-f]{8}\]|\b(pid|process|kill) [0-9]+|(127\.0\.0\.1|localhost):[0-9]+`)

// stable is msg with what differs between replays replaced by placeholders.
func stable(msg string) string {
	return unstable.ReplaceAllStringFunc(msg, func(m string) string {
		switch {
		case strings.HasPrefix(m, "127.") || strings.HasPrefix(m, "localhost"):
			return m[:strings.LastIndexByte(m, ':')] + ":port"
		case m[0] == '[':
			return "[uid]"
		default:
			return m[:strings.IndexByte(m, ' ')] + " N"
		}
	})
}
