package tractor_test

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/tractor-go/tractor"
)

// TestLogConsoleMultiline: in the console format, a value of several
// lines (an error that carries a panic's stack) is printed as its lines,
// indented under the record's line, not as one string with escaped
// newlines.
func TestLogConsoleMultiline(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(tractor.NewOutputHandler(&buf, true)).With("actor", "worker", "uid", "0123456789abcdef")
	failure := errors.New("panic: boom\ngoroutine 7 [running]:\nmain.f()\n\t/src/main.go:12 +0x1d\n")
	l.Warn("no terminal lock; continuing", "failure", failure, "at", "main.go:12")
	out := buf.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []string{
		"  failure:",
		"    panic: boom",
		"    goroutine 7 [running]:",
		"    main.f()",
		"    \t/src/main.go:12 +0x1d",
	}
	if len(lines) != 1+len(want) || !slices.Equal(lines[1:], want) {
		t.Fatalf("console output %q: want the record's line, then %q", out, want)
	}
	if !strings.HasSuffix(lines[0], " WRN no terminal lock; continuing actor=worker uid=0123456789abcdef at=main.go:12") {
		t.Errorf("first line %q: want the record's line without the failure", lines[0])
	}
}
