package tractor_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"

	"github.com/tractor-go/tractor"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of actors.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func treeWithFailure(ctx context.Context) error {
	return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
		p, err := n.StartActor(ctx, "worker", tractor.Expose(square, fail))
		if err != nil {
			return err
		}
		defer p.CancelActor(ctx)
		_, _ = fail.Call(ctx, p, "logged")
		tractor.CurrentActor(ctx).Logger().Info("from the body")
		return nil
	})
}

// logRecords is a slog.Handler that keeps every record, its attributes
// (those bound with WithAttrs too) flattened into a map with the level and
// the message, as a test reads them.
type logRecords struct {
	mu    *sync.Mutex
	recs  *[]map[string]any
	bound []slog.Attr
}

func newLogRecords() logRecords { return logRecords{mu: new(sync.Mutex), recs: new([]map[string]any)} }

func (h logRecords) Enabled(context.Context, slog.Level) bool { return true }

func (h logRecords) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"level": r.Level.String(), "msg": r.Message}
	add := func(a slog.Attr) bool { m[a.Key] = a.Value.Resolve().Any(); return true }
	for _, a := range h.bound {
		add(a)
	}
	r.Attrs(add)
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.recs = append(*h.recs, m)
	return nil
}

func (h logRecords) WithAttrs(as []slog.Attr) slog.Handler {
	h.bound = append(h.bound[:len(h.bound):len(h.bound)], as...)
	return h
}

func (h logRecords) WithGroup(string) slog.Handler { return h }

func (h logRecords) all() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), *h.recs...)
}

// logWarn logs msg as a warning with the stack, and returns the uid of the
// actor that logged it.
var logWarn = tractor.Func("test.logWarn", func(ctx context.Context, msg string) (string, error) {
	a := tractor.CurrentActor(ctx)
	a.Logger().Warn(msg, tractor.StackAttr(debug.Stack()))
	return a.ID().UID, nil
})

// grandchildWarns starts an actor "grandchild", hosted as the caller's
// children are, has it log msg with logWarn, and returns its uid.
var grandchildWarns = tractor.Func("test.grandchildWarns", func(ctx context.Context, msg string) (uid string, err error) {
	err = tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
		p, err := n.StartActor(ctx, "grandchild", tractor.Expose(logWarn))
		if err != nil {
			return err
		}
		defer p.CancelActor(ctx)
		uid, err = logWarn.Call(ctx, p, msg)
		return err
	})
	return uid, err
})

// debugLines counts the lines at debug level per actor.
func debugLines(lines []map[string]any) map[string]int {
	by := map[string]int{}
	for _, l := range lines {
		if l["level"] == "DEBUG" {
			name, _ := l["actor"].(string)
			by[name]++
		}
	}
	return by
}

func TestLogs(t *testing.T) {
	t.Run("quiet by default", func(t *testing.T) {
		var buf syncBuffer
		if err := run(t, goroutines, treeWithFailure, tractor.LogOutput(&buf)); err != nil {
			t.Fatal(err)
		}
		if lines := buf.lines(t); len(lines) != 0 {
			t.Errorf("default level logged %d lines: %v", len(lines), lines)
		}
	})
	// A process child's lines come back to the root's output through the
	// child's stderr.
	for _, h := range rows(hostings) {
		t.Run("every line names its actor; children inherit the level/"+h.name, func(t *testing.T) {
			var buf syncBuffer
			if err := run(t, h, treeWithFailure, tractor.LogOutput(&buf), tractor.LogLevel(slog.LevelDebug), tractor.Name("boss")); err != nil {
				t.Fatal(err)
			}
			lines := buf.lines(t)
			for _, l := range lines {
				name, _ := l["actor"].(string)
				uid, _ := l["uid"].(string)
				if name == "" || len(uid) != 16 {
					t.Errorf("line without actor name and uid: %v", l)
				}
			}
			if by := debugLines(lines); by["boss"] == 0 || by["worker"] == 0 {
				t.Errorf("debug lines per actor: %v; want lines from boss and from worker", by)
			}
		})
	}
}

// TestLogLevelFromEnv: TRACTOR_LOG sets the level without code, for the
// whole tree; a LogLevel option wins over it.
func TestLogLevelFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		opts      []tractor.Option
		debug     bool // debug lines expected
		bodyInfo  bool // the body's info line expected
	}{
		{name: "debug", env: "debug", debug: true, bodyInfo: true},
		{name: "INFO", env: "INFO", bodyInfo: true},
		{name: "error", env: "error"},
		{name: "LogLevel wins", env: "debug", opts: []tractor.Option{tractor.LogLevel(slog.LevelWarn)}},
		{name: "nonsense", env: "nonsense"}, // not a level: the default, warn
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TRACTOR_LOG", tc.env)
			rec := newLogRecords()
			opts := append([]tractor.Option{tractor.LogHandler(rec), tractor.Name("boss")}, tc.opts...)
			if err := run(t, goroutines, treeWithFailure, opts...); err != nil {
				t.Fatal(err)
			}
			lines := rec.all()
			by := debugLines(lines)
			if got := by["boss"] > 0 && by["worker"] > 0; got != tc.debug {
				t.Errorf("debug lines per actor: %v; want some from boss and worker: %v", by, tc.debug)
			}
			info := false
			for _, l := range lines {
				info = info || l["msg"] == "from the body"
			}
			if info != tc.bodyInfo {
				t.Errorf("the body's info line logged: %v, want %v", info, tc.bodyInfo)
			}
		})
	}
}

// TestLogHandler: the handler given with LogHandler receives the tree's
// records, each with its actor's name and uid, the records of a process
// grandchild included: they travel from its stderr to its parent's
// handler, which writes them to its own stderr, and so on to the root's.
func TestLogHandler(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			rec := newLogRecords()
			var uid string
			err := run(t, h, func(ctx context.Context) error {
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "child", tractor.Expose(grandchildWarns))
					if err != nil {
						return err
					}
					defer p.CancelActor(ctx)
					uid, err = grandchildWarns.Call(ctx, p, "look here")
					return err
				})
			}, tractor.LogHandler(rec))
			if err != nil {
				t.Fatal(err)
			}
			var got []map[string]any
			for _, l := range rec.all() {
				if l["msg"] == "look here" {
					got = append(got, l)
				}
			}
			if len(got) != 1 {
				t.Fatalf("records of the grandchild's warning: %v, want 1 (all: %v)", got, rec.all())
			}
			l := got[0]
			if l["level"] != "WARN" || l["actor"] != "grandchild" || l["uid"] != uid {
				t.Errorf("record %v: want level WARN, actor grandchild, uid %s", l, uid)
			}
			stack, _ := l["stack"].([]string)
			if len(stack) < 2 || !strings.HasPrefix(stack[0], "goroutine ") {
				t.Errorf("stack %#v: want its lines, the first naming the goroutine", l["stack"])
			}
		})
	}
}

// TestLogFormat: console lines for a terminal, a stack as an indented
// block under its line; JSON lines otherwise, a stack as a list of lines.
func TestLogFormat(t *testing.T) {
	stack := []byte("goroutine 7 [running]:\nmain.f()\n\t/src/main.go:12 +0x1d\n")
	log := func(terminal bool) string {
		var buf bytes.Buffer
		l := slog.New(tractor.NewOutputHandler(&buf, terminal)).With("actor", "worker", "uid", "0123456789abcdef")
		l.Warn("connection to peer failed", "err", errors.New("connection reset"), tractor.StackAttr(stack))
		return buf.String()
	}
	t.Run("console", func(t *testing.T) {
		out := log(true)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		want := []string{
			` WRN connection to peer failed actor=worker uid=0123456789abcdef err="connection reset"`,
			"  stack:",
			"    goroutine 7 [running]:",
			"    main.f()",
			"    \t/src/main.go:12 +0x1d",
		}
		if len(lines) != len(want) {
			t.Fatalf("console output %q: want %d lines", out, len(want))
		}
		if _, err := time.Parse("15:04:05.000", lines[0][:12]); err != nil || lines[0][12:] != want[0] {
			t.Errorf("first line %q: want a time then %q", lines[0], want[0])
		}
		if !slices.Equal(lines[1:], want[1:]) {
			t.Errorf("stack lines %q, want %q", lines[1:], want[1:])
		}
	})
	t.Run("json", func(t *testing.T) {
		out := log(false)
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("output %q is not one JSON line: %v", out, err)
		}
		if m["level"] != "WARN" || m["actor"] != "worker" || m["uid"] != "0123456789abcdef" || m["err"] != "connection reset" {
			t.Errorf("record %v", m)
		}
		want := []any{"goroutine 7 [running]:", "main.f()", "\t/src/main.go:12 +0x1d"}
		if !reflect.DeepEqual(m["stack"], want) {
			t.Errorf("stack %#v, want the list %#v", m["stack"], want)
		}
	})
}

// TestLogPanicStack: the debug record of a task that panicked carries the
// panic's stack as its lines, from every hosting.
func TestLogPanicStack(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			rec := newLogRecords()
			withWorker(t, h, eps(boom), func(ctx context.Context, p *tractor.Portal) {
				if _, err := boom.Call(ctx, p, "kaboom"); !errors.Is(err, tractor.ErrPanic) {
					t.Errorf("call: %v, want ErrPanic", err)
				}
			}, tractor.LogHandler(rec), tractor.LogLevel(slog.LevelDebug))
			for _, l := range rec.all() {
				if l["msg"] != "task failed" || l["actor"] != "worker" {
					continue
				}
				if stack, _ := l["stack"].([]string); len(stack) < 2 || !strings.HasPrefix(stack[0], "goroutine ") {
					t.Errorf("stack %#v: want its lines, the first naming the goroutine", l["stack"])
				}
				return
			}
			t.Errorf("no record of the failed task from worker: %v", rec.all())
		})
	}
}
