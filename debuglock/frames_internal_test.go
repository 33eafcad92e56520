package debuglock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/tractor-go/tractor"
)

// here returns the file and line of its caller.
func here() (string, int) {
	_, file, line, _ := runtime.Caller(1)
	return file, line
}

// thisLine returns the line of its caller.
func thisLine() int {
	_, _, line, _ := runtime.Caller(1)
	return line
}

// recovered runs f and returns the stack debug.Stack gives inside the
// deferred call that recovers its panic, as tractor's recoverTask takes it.
func recovered(f func()) (stack []byte) {
	defer func() {
		recover()
		stack = debug.Stack()
	}()
	f()
	return nil
}

// TestFailingFramePanic: the user's frame of a panic is the function that
// panicked, below the runtime's panic frames, whether it called panic or
// the runtime panicked for it; the stack starts there.
func TestFailingFramePanic(t *testing.T) {
	var file string
	var line int
	explicit := func() {
		file, line = here()
		panic("boom") // the line after here's
	}
	var s []int
	index := func() {
		file, line = here()
		_ = s[3] // the line after here's
	}
	var m map[string]int
	nilMap := func() {
		file, line = here()
		m["x"] = 1 // the line after here's
	}
	for name, f := range map[string]func(){"explicit": explicit, "index": index, "nil map": nilMap} {
		t.Run(name, func(t *testing.T) {
			stack := recovered(f)
			goid, fr, below, ok := failingFrame(stack)
			if !ok || fr.file != file || fr.line != line+1 {
				t.Fatalf("failing frame %v (ok %v); want %s:%d in:\n%s", fr, ok, file, line+1, stack)
			}
			if !strings.Contains(fr.fn, "TestFailingFramePanic") {
				t.Fatalf("failing function %s", fr.fn)
			}
			self, _ := parseStack(debug.Stack())
			if goid != self || goid == 0 {
				t.Fatalf("goroutine %d; want this one, %d", goid, self)
			}
			v := newView(stack)
			if g, f, b, ok := v.target(); !ok || g != goid || f != fr || b != below {
				t.Fatalf("debugger's target: goroutine %d, %v, %d below; want %d, %v, %d", g, f, b, goid, fr, below)
			}
			if len(v.frames) != below+1 || v.frames[0] != fr {
				t.Fatalf("view %v; want %v first and %d below", v.frames, fr, below)
			}
			for _, f := range v.frames {
				if strings.HasPrefix(f.fn, "runtime/debug.") || f.fn == "panic" || strings.HasPrefix(f.fn, "runtime.gopanic") {
					t.Fatalf("stack holds %s:\n%v", f.fn, v.frames)
				}
			}
			// Its caller is recovered's, the next frame up.
			if !strings.HasSuffix(v.frames[1].fn, ".recovered") {
				t.Fatalf("frame #1 is %s; want recovered", v.frames[1].fn)
			}
		})
	}
}

// breakStack is a stack as Breakpoint takes it, in a user's function.
const breakStack = `goroutine 42 [running]:
runtime/debug.Stack()
	/usr/local/go/src/runtime/debug/stack.go:26 +0x5e
github.com/tractor-go/tractor/debuglock.Breakpoint({0x9f1c30, 0xc000126000})
	/src/tractor/debuglock/prompt.go:36 +0x45
example.com/app/work.(*Job).step(0xc0001a0000, {0x9f1c30, 0xc000126000})
	/src/app/work/job.go:17 +0x1f
example.com/app/work.run[...](...)
	/src/app/work/job.go:30
github.com/tractor-go/tractor.(*FuncEndpoint[...]).runInline(0xc0000b4000, 0xc0000c8000)
	/src/tractor/inline.go:203 +0x9c
created by github.com/tractor-go/tractor.(*session).spawnTask in goroutine 7
	/src/tractor/task.go:60 +0x88
`

// TestParseBreakpointStack: a breakpoint's stack starts at the user's
// frame, below runtime/debug.Stack and Breakpoint; arguments, offsets,
// inlined frames ("(...)") and the "created by" line are read right.
func TestParseBreakpointStack(t *testing.T) {
	goid, all := parseStack([]byte(breakStack))
	if goid != 42 || len(all) != 5 {
		t.Fatalf("goroutine %d, %d frames: %v", goid, len(all), all)
	}
	want := []frame{
		{"example.com/app/work.(*Job).step", "/src/app/work/job.go", 17},
		{"example.com/app/work.run[...]", "/src/app/work/job.go", 30},
		{"github.com/tractor-go/tractor.(*FuncEndpoint[...]).runInline", "/src/tractor/inline.go", 203},
	}
	got := fromUser(all)
	if len(got) != len(want) {
		t.Fatalf("from the user's frame: %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("frame #%d is %v; want %v", i, got[i], want[i])
		}
	}
	// What formatStack prints, parseStack reads back.
	if _, back := parseStack(formatStack("goroutine 42 [x]:", got)); len(back) != len(got) || back[1] != got[1] {
		t.Fatalf("round trip: %v; want %v", back, got)
	}
}

// TestViewListAndMove: list shows the lines around the current frame,
// marking its line; up and down move along the stack, within it, and
// show the frame with its source; a missing file is said to be.
func TestViewListAndMove(t *testing.T) {
	dir := t.TempDir()
	var src strings.Builder
	for i := 1; i <= 40; i++ {
		src.WriteString("line " + strconv.Itoa(i) + "\n")
	}
	a, b := filepath.Join(dir, "a.go"), filepath.Join(dir, "b.go")
	if err := os.WriteFile(a, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	v := &view{goid: 1, frames: []frame{{"app.f", a, 20}, {"app.g", b, 3}}}
	var out bytes.Buffer
	v.list(&out)
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 2*listContext+1 || !strings.HasPrefix(lines[0], "      15\tline 15") || !strings.HasPrefix(lines[listContext], "=>    20\tline 20") {
		t.Fatalf("list:\n%s", out.String())
	}
	out.Reset()
	v.move(&out, 1)
	if v.cur != 1 || !strings.Contains(out.String(), "#1 "+b+":3 (app.g)") || !strings.Contains(out.String(), "source of "+b+":3 (app.g) unavailable") {
		t.Fatalf("up: frame %d:\n%s", v.cur, out.String())
	}
	if goid, f, below, ok := v.target(); !ok || goid != 1 || f != v.frames[1] || below != 0 {
		t.Fatalf("debugger's target after up: goroutine %d, %v, %d below", goid, f, below)
	}
	out.Reset()
	v.move(&out, 1)
	if v.cur != 1 || !strings.Contains(out.String(), "no frame there") {
		t.Fatalf("up past the last frame: frame %d:\n%s", v.cur, out.String())
	}
	out.Reset()
	v.move(&out, -1)
	if v.cur != 0 || !strings.Contains(out.String(), "=>    20\tline 20") {
		t.Fatalf("down: frame %d:\n%s", v.cur, out.String())
	}
	out.Reset()
	v.stack(&out)
	if want := ">#0 app.f\n\t" + a + ":20\n #1 app.g\n"; !strings.Contains(out.String(), want) {
		t.Fatalf("stack:\n%s\nwant it to hold:\n%s", out.String(), want)
	}
}

// TestGoroutineLines: one line per goroutine, with its id, its state and
// the frame that tells what it does, this one marked.
func TestGoroutineLines(t *testing.T) {
	block, unblock := make(chan struct{}), make(chan struct{})
	go func() {
		close(block)
		parked(unblock)
	}()
	<-block
	defer close(unblock)
	self, _ := parseStack(debug.Stack())
	var out bytes.Buffer
	goroutineLines(&out, allStacks(), self)
	var mine, other bool
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.Fields(l)
		if strings.HasPrefix(l, "*") {
			mine = f[1] == strconv.Itoa(self) && f[2] == "running"
		}
		if strings.Contains(l, "debuglock.parked") {
			other = strings.Contains(l, "chan receive") && strings.Contains(l, "frames_internal_test.go:")
		}
	}
	if !mine || !other {
		t.Fatalf("goroutines:\n%s", out.String())
	}
}

// parked waits for unblock.
//
//go:noinline
func parked(unblock chan struct{}) { <-unblock }

// stackError records the frames it was made in, as errors packages do.
type stackError struct{ pcs []uintptr }

func (e *stackError) Error() string         { return "failed" }
func (e *stackError) StackTrace() []uintptr { return e.pcs }

func newStackError() (error, int) {
	pcs := make([]uintptr, 32)
	n, line := runtime.Callers(1, pcs), thisLine()
	return &stackError{pcs[:n]}, line
}

var failing = tractor.Func("debuglocktest.failing", func(ctx context.Context, _ struct{}) (int, error) {
	return 0, errors.New("plain")
})

// TestErrorFrames: a returned error's frames are those it carries, found
// through wrapping; without them, the endpoint function's own.
func TestErrorFrames(t *testing.T) {
	err, line := newStackError()
	fs := errorFrames("debuglocktest.failing", errors.Join(errors.New("other"), err))
	if len(fs) == 0 || fs[0].line != line || !strings.HasSuffix(fs[0].fn, ".newStackError") {
		t.Fatalf("frames of an error that carries them: %v; want newStackError at line %d", fs, line)
	}
	fs = errorFrames("debuglocktest.failing", errors.New("plain"))
	if len(fs) != 1 || !strings.HasSuffix(fs[0].file, "frames_internal_test.go") || !strings.Contains(fs[0].fn, "init") {
		t.Fatalf("frames of a plain error: %v; want the endpoint's function", fs)
	}
	stack := failureStack("debuglocktest.failing", errors.New("plain"), []byte("goroutine 9 [running]:\n"))
	if goid, all := parseStack(stack); goid != 9 || len(all) != 1 || all[0] != fs[0] {
		t.Fatalf("failure stack of a plain error: %s", stack)
	}
	if fs := errorFrames("debuglocktest.nosuch", errors.New("plain")); fs != nil {
		t.Fatalf("frames of an unknown endpoint's error: %v", fs)
	}
}

// TestPromptCommands drives the prompt without a terminal: where, list,
// up, down and stack act on the stack it was given.
func TestPromptCommands(t *testing.T) {
	var file string
	var line int
	stack := recovered(func() {
		file, line = here()
		panic("boom")
	})
	var out bytes.Buffer
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return prompt(tractor.CurrentActor(ctx), strings.NewReader("where\nlist\nup\ndown\nstack\ngs\nc\n"), &out, nil, "fallback", stack)
	})
	if err != nil {
		t.Fatal(err)
	}
	at := file + ":" + strconv.Itoa(line+1)
	for _, want := range []string{
		"#0 " + at + " (",
		fmt.Sprintf("=> %5d\t\t\tpanic(\"boom\")", line+1), // list marks the line
		"#1 ", "debuglock.recovered",
		">#0 ",
		"goroutines of process",
	} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("the prompt printed:\n%s\nwant it to hold %q", out.String(), want)
		}
	}
	if strings.Contains(out.String(), "runtime/debug.Stack") {
		t.Fatalf("the stack shows runtime/debug.Stack:\n%s", out.String())
	}
}

// refuser serves an endpoint through a method value.
type refuser struct{ why string }

func (r *refuser) refuse(ctx context.Context, _ struct{}) (int, error) {
	return 0, errors.New(r.why)
}

var refusing = tractor.Func("debuglocktest.refusing", (&refuser{why: "no"}).refuse)

// TestErrorFramesMethodValue: an endpoint given as a method value is
// served by the compiler's wrapper, which has no source; a returned
// error's post-mortem then names no frame, and where says which
// endpoint's task failed, rather than <autogenerated>:1 or the frames of
// tractor's machinery that ran the hook.
func TestErrorFramesMethodValue(t *testing.T) {
	if fs := errorFrames("debuglocktest.refusing", errors.New("no")); fs != nil {
		t.Fatalf("frames of a method value's error: %v; want none", fs)
	}
	hook := debug.Stack()
	stack := failureStack("debuglocktest.refusing", errors.New("no"), hook)
	if goid, all := parseStack(stack); goid == 0 || len(all) != 0 {
		t.Fatalf("failure stack of a method value's error: %s", stack)
	}
	var out bytes.Buffer
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return prompt(tractor.CurrentActor(ctx), strings.NewReader("where\nlist\nc\n"), &out, nil, `task of endpoint "debuglocktest.refusing"`, stack)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `task of endpoint "debuglocktest.refusing"`) || !strings.Contains(out.String(), "no frame to list") ||
		strings.Contains(out.String(), "<autogenerated>") || strings.Contains(out.String(), "unavailable") {
		t.Fatalf("the prompt printed:\n%s", out.String())
	}
}
