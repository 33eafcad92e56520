package tractor

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
)

// TestLogRelay: the relay of a child's stderr hands the JSON records of
// actors to the handler, whole, even when they come in pieces, and passes
// every other line, such as a panic's, to its output as it came.
func TestLogRelay(t *testing.T) {
	var child bytes.Buffer
	slog.New(newOutputHandler(&child, false)).With("actor", "grandchild", "uid", "0123456789abcdef").
		Warn("look here", "n", 3, slog.Group("g", "k", "v"), StackAttr([]byte("goroutine 1 [running]:\nmain.main()\n")))
	record := child.String()
	input := "panic: boom\n" + `{"msg":"not an actor's"}` + "\n" + record + "goroutine 1 [running]:\n"

	var got []slog.Record
	var out bytes.Buffer
	h := recordsHandler{&got}
	r := &logRelay{h: h, out: &out}
	for i := 0; i < len(input); i += 7 { // in pieces that split lines
		r.Write([]byte(input[i:min(i+7, len(input))]))
	}
	if want := "panic: boom\n" + `{"msg":"not an actor's"}` + "\n" + "goroutine 1 [running]:\n"; out.String() != want {
		t.Errorf("passed on %q, want %q", out.String(), want)
	}
	if len(got) != 1 {
		t.Fatalf("relayed %d records, want 1", len(got))
	}
	var again bytes.Buffer
	newOutputHandler(&again, false).Handle(context.Background(), got[0])
	if again.String() != record {
		t.Errorf("relayed record written again:\n%s\nwant as the child wrote it:\n%s", again.String(), record)
	}
}

// recordsHandler keeps the records it is handed.
type recordsHandler struct{ recs *[]slog.Record }

func (h recordsHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordsHandler) Handle(_ context.Context, r slog.Record) error {
	*h.recs = append(*h.recs, r.Clone())
	return nil
}
func (h recordsHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordsHandler) WithGroup(string) slog.Handler      { return h }
