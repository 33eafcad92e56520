package debuglock

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
)

// recorder keeps the messages of the records it handles, with their
// "dropped" attribute if any.
type recorder struct {
	mu   *sync.Mutex
	msgs *[]string
}

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	msg := rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "dropped" {
			msg += " dropped=" + a.Value.String()
		}
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.msgs = append(*r.msgs, msg)
	return nil
}

func (r recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r recorder) WithGroup(string) slog.Handler      { return r }

func (r recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), *r.msgs...)
}

// TestHeldLogs: while a prompt is open, records wait, in order, up to
// maxHeldLogs; the rest are dropped and counted in a record written after
// the ones kept, at the release; then records go through again.
func TestHeldLogs(t *testing.T) {
	rec := recorder{mu: new(sync.Mutex), msgs: new([]string)}
	l := slog.New(holdLogs(rec))
	l.Warn("before")
	logs.hold()
	const extra = 5
	for i := range maxHeldLogs + extra {
		l.Warn(strconv.Itoa(i))
	}
	if got := rec.all(); len(got) != 1 || got[0] != "before" {
		t.Fatalf("written while held: %q; want only the record before the hold", got)
	}
	logs.release()
	l.Warn("after")
	got := rec.all()
	want := 1 + maxHeldLogs + 2
	if len(got) != want {
		t.Fatalf("%d records written, want %d", len(got), want)
	}
	for i := range maxHeldLogs {
		if got[1+i] != strconv.Itoa(i) {
			t.Fatalf("record %d is %q, want %d: the first ones kept, in order", 1+i, got[1+i], i)
		}
	}
	if d := got[1+maxHeldLogs]; d != "debuglock: log records dropped while an actor held the terminal dropped="+strconv.Itoa(extra) {
		t.Errorf("after the kept records: %q, want the count of the dropped ones", d)
	}
	if got[len(got)-1] != "after" {
		t.Errorf("last record %q, want the one after the release, written at once", got[len(got)-1])
	}
}

// lineWriter keeps the lines written to it among the recorder's messages.
type lineWriter recorder

func (w lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	*w.msgs = append(*w.msgs, "raw "+string(p))
	return len(p), nil
}

// TestHeldStderrLines: a process child's stderr lines that are not
// records wait with the records while a prompt is open, and are written
// with them, in the order they came, at the release.
func TestHeldStderrLines(t *testing.T) {
	rec := recorder{mu: new(sync.Mutex), msgs: new([]string)}
	l := slog.New(holdLogs(rec))
	w := holdStderr(lineWriter(rec))
	logs.hold()
	l.Warn("first")
	w.Write([]byte("panic: boom\n"))
	l.Warn("last")
	if got := rec.all(); len(got) != 0 {
		t.Fatalf("written while held: %q", got)
	}
	logs.release()
	w.Write([]byte("after\n"))
	want := []string{"first", "raw panic: boom\n", "last", "raw after\n"}
	if got := rec.all(); !slices.Equal(got, want) {
		t.Fatalf("written %q, want %q", got, want)
	}
}
