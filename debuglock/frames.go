package debuglock

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"

	"github.com/tractor-go/tractor"
)

// frame is one call on a goroutine's stack.
type frame struct {
	fn   string // the function, package-qualified, without its arguments
	file string
	line int
}

func (f frame) String() string { return fmt.Sprintf("%s:%d (%s)", f.file, f.line, f.fn) }

// parseStack reads the frames of the first goroutine of a stack as
// runtime.Stack (and debug.Stack) print it, innermost first. It returns
// the goroutine's id (0 if the header is missing) and its frames; the
// "created by" line and elided frames are not frames of the goroutine.
func parseStack(stack []byte) (goid int, frames []frame) {
	lines := strings.Split(strings.TrimSpace(string(stack)), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], "goroutine ") {
		goid, _ = strconv.Atoi(strings.Fields(lines[0])[1])
		lines = lines[1:]
	}
	for i := 0; i+1 < len(lines); i++ {
		call, loc := lines[i], lines[i+1]
		if call == "" {
			break // the next goroutine's
		}
		if strings.HasPrefix(call, "\t") || strings.HasPrefix(call, "created by ") || !strings.HasPrefix(loc, "\t") {
			continue
		}
		i++
		fn := call
		if j := strings.LastIndexByte(call, '('); j > 0 && strings.HasSuffix(call, ")") {
			fn = call[:j]
		}
		loc = strings.TrimPrefix(loc, "\t")
		if j := strings.LastIndex(loc, " +0x"); j >= 0 {
			loc = loc[:j]
		}
		f := frame{fn: fn, file: loc}
		if j := strings.LastIndexByte(loc, ':'); j >= 0 {
			if n, err := strconv.Atoi(loc[j+1:]); err == nil {
				f.file, f.line = loc[:j], n
			}
		}
		frames = append(frames, f)
	}
	return goid, frames
}

// pkgOf returns the package path of a function name as the runtime
// prints it: "a/b.(*T).m" is in "a/b".
func pkgOf(fn string) string {
	slash := strings.LastIndexByte(fn, '/')
	if dot := strings.IndexByte(fn[slash+1:], '.'); dot >= 0 {
		return fn[:slash+1+dot]
	}
	return fn
}

// isRuntime reports whether fn is the runtime's (its panic machinery,
// runtime/debug.Stack) rather than code that called it.
func isRuntime(fn string) bool {
	p := pkgOf(fn)
	return fn == "panic" || p == "runtime" || strings.HasPrefix(p, "runtime/") || strings.HasPrefix(p, "internal/")
}

// isStd reports whether fn belongs to the standard library: its path's
// first element has no dot, as in "os" or "internal/poll" (but "main").
func isStd(fn string) bool {
	p := pkgOf(fn)
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".") && p != "main" && fn != ""
}

// isOurs reports whether fn is tractor's or debuglock's own machinery,
// not the user's code (its tests, named …_test, are the user's).
func isOurs(fn string) bool {
	p := pkgOf(fn)
	const mod = "github.com/tractor-go/tractor"
	return p == mod || p == mod+"/debuglock" || p == mod+"/transport" || strings.HasPrefix(p, mod+"/transport/")
}

// fromUser returns frames from the user's frame down: for a panic, the
// frame below the runtime's panic frames (the one that panicked,
// whoever's it is); otherwise the first below runtime/debug.Stack and
// debuglock's own (Breakpoint's).
func fromUser(frames []frame) []frame {
	skip := func(fn string) bool {
		return isRuntime(fn) || pkgOf(fn) == "github.com/tractor-go/tractor/debuglock"
	}
	for i, f := range frames {
		if f.fn == "panic" {
			frames, skip = frames[i+1:], isRuntime
			break
		}
	}
	for len(frames) > 0 && skip(frames[0].fn) {
		frames = frames[1:]
	}
	return frames
}

// formatStack prints frames under header as runtime.Stack does, so that
// parseStack reads them back.
func formatStack(header string, frames []frame) []byte {
	var b bytes.Buffer
	b.WriteString(header + "\n")
	for _, f := range frames {
		fmt.Fprintf(&b, "%s(...)\n\t%s:%d\n", f.fn, f.file, f.line)
	}
	return b.Bytes()
}

// errorFrames returns where a task's returned error err was made, when
// it carries the frames it was made in (a method Callers() []uintptr, or
// StackTrace() returning program counters, as github.com/pkg/errors'
// and cockroachdb's errors have), else the frame of the endpoint's Go
// function (its declaration; see [tractor.EndpointFunc]), else nil.
func errorFrames(endpoint string, err error) []frame {
	if pcs := errorPCs(err); len(pcs) > 0 {
		var out []frame
		fs := runtime.CallersFrames(pcs)
		for {
			f, more := fs.Next()
			out = append(out, frame{fn: f.Function, file: f.File, line: f.Line})
			if !more {
				return out
			}
		}
	}
	pc, ok := tractor.EndpointFunc(endpoint)
	fn := runtime.FuncForPC(pc)
	if !ok || fn == nil {
		return nil
	}
	file, line := fn.FileLine(pc)
	return []frame{{fn: fn.Name(), file: file, line: line}}
}

// errorPCs returns the program counters recorded by the first error of
// err's tree (depth first, as errors.As looks) that records them.
func errorPCs(err error) []uintptr {
	if err == nil {
		return nil
	}
	if c, ok := err.(interface{ Callers() []uintptr }); ok {
		return c.Callers()
	}
	if m := reflect.ValueOf(err).MethodByName("StackTrace"); m.IsValid() && m.Type().NumIn() == 0 && m.Type().NumOut() == 1 {
		if st := m.Call(nil)[0]; st.Kind() == reflect.Slice && st.Type().Elem().Kind() == reflect.Uintptr {
			pcs := make([]uintptr, st.Len())
			for i := range pcs {
				pcs[i] = uintptr(st.Index(i).Uint())
			}
			return pcs
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return errorPCs(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if pcs := errorPCs(e); len(pcs) > 0 {
				return pcs
			}
		}
	}
	return nil
}

// failingFrame returns the goroutine that failed (or stopped) and its
// user's frame, from the stack a session was given: the id, the frame,
// and how many frames lie below it on that goroutine. The frames below
// do not change while the prompt runs above them, so a debugger that
// numbers frames from the top (Delve's frame N) finds the user's frame
// as its stack's length - 1 - below. ok is false if the stack names none.
func failingFrame(stack []byte) (goid int, f frame, below int, ok bool) {
	goid, all := parseStack(stack)
	user := fromUser(all)
	if len(user) == 0 {
		return goid, frame{}, 0, false
	}
	return goid, user[0], len(user) - 1, true
}

// view is what the prompt shows of the stopped goroutine: its frames from
// the user's down, and the current one, which up and down move.
type view struct {
	goid   int
	frames []frame
	cur    int
}

// newView parses the stack a session was given.
func newView(stack []byte) *view {
	goid, all := parseStack(stack)
	return &view{goid: goid, frames: fromUser(all)}
}

// where prints the current frame, or fallback when the stack names none.
func (v *view) where(out io.Writer, fallback string) {
	if len(v.frames) == 0 {
		fmt.Fprintln(out, fallback)
		return
	}
	fmt.Fprintf(out, "#%d %s\n", v.cur, v.frames[v.cur])
}

// stack prints the frames from the user's down, marking the current one.
func (v *view) stack(out io.Writer) {
	fmt.Fprintf(out, "goroutine %d:\n", v.goid)
	for i, f := range v.frames {
		mark := " "
		if i == v.cur {
			mark = ">"
		}
		fmt.Fprintf(out, "%s#%d %s\n\t%s:%d\n", mark, i, f.fn, f.file, f.line)
	}
}

// move moves the current frame by n (up is towards the callers) and
// shows it with its source.
func (v *view) move(out io.Writer, n int) {
	to := v.cur + n
	if len(v.frames) == 0 || to < 0 || to >= len(v.frames) {
		fmt.Fprintf(out, "no frame there: the stack has frames #0 to #%d\n", len(v.frames)-1)
		return
	}
	v.cur = to
	v.where(out, "")
	v.list(out)
}

// listContext is how many lines list shows either side of the line.
const listContext = 5

// list prints the source around the current frame's line, read from the
// file on disk.
func (v *view) list(out io.Writer) {
	if len(v.frames) == 0 {
		fmt.Fprintln(out, "no frame to list")
		return
	}
	f := v.frames[v.cur]
	src, err := os.Open(f.file)
	if err != nil {
		fmt.Fprintf(out, "source of %s unavailable: %v\n", f, err)
		return
	}
	defer src.Close()
	sc := bufio.NewScanner(src)
	for n := 1; sc.Scan() && n <= f.line+listContext; n++ {
		if n < f.line-listContext {
			continue
		}
		mark := "  "
		if n == f.line {
			mark = "=>"
		}
		fmt.Fprintf(out, "%s %5d\t%s\n", mark, n, sc.Text())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "reading %s: %v\n", f.file, err)
	}
}

// goroutineLines prints one line per goroutine of a dump as runtime.Stack
// prints it: its id, its state, and the frame that says what it is
// doing (the first of the user's, else the first outside the standard
// library, else its innermost), marking goroutine self with "*".
func goroutineLines(out io.Writer, dump []byte, self int) {
	for _, rec := range strings.Split(strings.TrimSpace(string(dump)), "\n\n") {
		head, _, _ := strings.Cut(rec, "\n")
		id, frames := parseStack([]byte(rec))
		state := ""
		if i, j := strings.IndexByte(head, '['), strings.LastIndexByte(head, ']'); i >= 0 && j > i {
			state = head[i+1 : j]
		}
		mark := " "
		if id == self {
			mark = "*"
		}
		fmt.Fprintf(out, "%s%6d %-20s %s\n", mark, id, state, telling(frames))
	}
}

// telling returns the frame of a goroutine that says what it is doing.
func telling(frames []frame) string {
	if len(frames) == 0 {
		return "?"
	}
	for _, ok := range []func(string) bool{
		func(fn string) bool { return !isStd(fn) && !isOurs(fn) },
		func(fn string) bool { return !isStd(fn) },
	} {
		for _, f := range frames {
			if ok(f.fn) {
				return f.String()
			}
		}
	}
	return frames[0].String()
}

// failureStack returns the stack a post-mortem shows for the failure err
// of a task of endpoint, given the hook's stack: a panic's stack is the
// failure's; a returned error's is where errorFrames says it was made,
// on the task's goroutine, or, if that is unknown, the hook's.
func failureStack(endpoint string, err error, stack []byte) []byte {
	goid, all := parseStack(stack)
	for _, f := range all {
		if f.fn == "panic" {
			return stack
		}
	}
	frames := errorFrames(endpoint, err)
	if len(frames) == 0 {
		return stack
	}
	return formatStack(fmt.Sprintf("goroutine %d [returned an error]:", goid), frames)
}

// target returns what a debugger attached to this process should show
// (the dlv command's init script): the goroutine at the prompt, its
// current frame (the user's, or where up and down moved), and how many
// of the goroutine's frames lie below that one, not counting the
// runtime's. Those do not change while the prompt, and what it runs, sit
// above them. Delve's "goroutine <goid> stack" also lists runtime frames
// that tracebacks hide (runtime.gopanic and the panic's, runtime.main,
// runtime.goexit): there the frame is the one with below frames outside
// package runtime under it, and the one of its function and file:line.
// ok is false if the stack names no frame.
func (v *view) target() (goid int, f frame, below int, ok bool) {
	if len(v.frames) == 0 {
		return v.goid, frame{}, 0, false
	}
	return v.goid, v.frames[v.cur], len(v.frames) - 1 - v.cur, true
}
