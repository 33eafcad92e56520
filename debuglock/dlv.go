package debuglock

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// DelveInstall is the command that installs the Delve version debuglock
// is tested with, printed when the prompt's dlv command finds no dlv.
const DelveInstall = "go install github.com/go-delve/delve/cmd/dlv@v1.27.2"

// delve hands the terminal to Delve attached to this process, and
// returns when Delve exits: the prompt command dlv. The caller holds the
// terminal lock throughout, so no other actor prompts meanwhile; the
// process is stopped while Delve is attached, which nothing in the tree
// takes for a death (its connections carry no heartbeat, the kernel
// answers TCP keepalives, and supervision waits for the lock before
// cancelling). Delve starts on the goroutine at the prompt and, when
// where reads "file:line (function)", as a breakpoint's does, on that
// frame, the one with below more frames of that file:line under it (see
// [view.landing]), so that the user's locals print at once; any other where (a post-mortem's
// "task of endpoint ...") leaves Delve on the goroutine's innermost
// frame. Leaving Delve with "quit -d" detaches and the process runs on;
// a plain "quit" asks whether to kill it, which Delve does, for a process
// it attached to, with SIGINT: [NotifyContext] ignores that while the
// prompt holds the terminal, and the prompt comes back.
func delve(in io.Reader, out io.Writer, where string, below int) {
	tty, ok := in.(*os.File)
	if !ok {
		fmt.Fprintln(out, "debuglock: dlv needs the prompt on a terminal")
		return
	}
	path, err := exec.LookPath("dlv")
	if err != nil {
		fmt.Fprintf(out, "debuglock: dlv (Delve) is not on PATH; install it with\n  %s\nand make sure $(go env GOPATH)/bin is on PATH\n", DelveInstall)
		return
	}
	initFile, cleanup, err := writeInit(goroutineID(), where, below)
	if err != nil {
		fmt.Fprintf(out, "debuglock: dlv: %v\n", err)
		return
	}
	defer cleanup()
	pid := os.Getpid()
	fmt.Fprintf(out, "debuglock: handing the terminal to Delve (dlv attach %d); leave it with \"quit -d\" to detach and come back here\n", pid)
	if err := allowTracer(); err != nil {
		fmt.Fprintf(out, "debuglock: dlv may not be able to attach: %v\n", err)
	}
	defer disallowTracer()
	// Delve puts the terminal in raw mode and restores it when it exits;
	// restore it here too, in case it did not (killed, crashed).
	fd := int(tty.Fd())
	st, stErr := term.GetState(fd)
	cmd := exec.Command(path, "attach", strconv.Itoa(pid), "--init", initFile)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	err = cmd.Run()
	if stErr == nil {
		_ = term.Restore(fd, st)
	}
	if err != nil {
		fmt.Fprintf(out, "debuglock: dlv attach %d: %v\n", pid, err)
	}
	fmt.Fprintln(out, "debuglock: back from Delve")
}

// goroutineID returns the id of the calling goroutine, as Delve numbers
// goroutines, from the header of its stack ("goroutine 7 [running]:").
func goroutineID() int64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := bytes.Fields(buf)
	if len(f) < 2 {
		return 0
	}
	id, _ := strconv.ParseInt(string(f[1]), 10, 64)
	return id
}

// whereRE parses a location as [caller] writes it: file:line, then the
// function in parentheses, if known.
var whereRE = regexp.MustCompile(`^(.+):(\d+)(?: \((.+)\))?$`)

// writeInit writes Delve's init file and returns its path, and cleanup,
// which removes what it wrote. The init file sources a Starlark script
// (Delve runs only plain commands from an init file) that selects
// goroutine gid and, on its stack, the frame at where's file and line
// with below more of them under it, and prints what it selected.
//
// Delve reads the files while this process is stopped, and a plain
// "quit" in Delve may kill the process, so that cleanup never runs: the
// files are therefore named by pid in one directory per user (see
// [initDir]), which each dlv command sweeps of the files of processes
// gone, so that they do not accumulate.
func writeInit(gid int64, where string, below int) (initFile string, cleanup func(), err error) {
	file, line, fn := "", 0, ""
	if m := whereRE.FindStringSubmatch(where); m != nil {
		file, fn = m[1], m[3]
		line, _ = strconv.Atoi(m[2])
	}
	dir, cleanDir, err := initDir()
	if err != nil {
		return "", nil, err
	}
	sweepInit(dir)
	pid := strconv.Itoa(os.Getpid())
	star := filepath.Join(dir, pid+".star")
	initFile = filepath.Join(dir, pid+".init")
	cleanup = func() {
		os.Remove(star)
		os.Remove(initFile)
		cleanDir()
	}
	script := fmt.Sprintf(landScript, gid, file, line, fn, below, delveDepth)
	if err := os.WriteFile(star, []byte(script), 0o600); err != nil {
		cleanup()
		return "", nil, err
	}
	if err := os.WriteFile(initFile, []byte("source "+star+"\n"), 0o600); err != nil {
		cleanup()
		return "", nil, err
	}
	return initFile, cleanup, nil
}

// delveDepth is how many frames the script asks Delve for: enough for
// the whole of a prompt's goroutine, whose frames it counts from the
// outer end.
const delveDepth = 1000

// initDir returns the directory of Delve's init files: debuglock-dlv in
// the user's cache directory, private to the user, made if need be; if
// there is none, a new temporary directory, which cleanDir removes.
func initDir() (dir string, cleanDir func(), err error) {
	if cache, err := os.UserCacheDir(); err == nil {
		dir = filepath.Join(cache, "debuglock-dlv")
		if err := os.MkdirAll(dir, 0o700); err == nil {
			return dir, func() {}, nil
		}
	}
	dir, err = os.MkdirTemp("", "debuglock-dlv-")
	if err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// sweepInit removes from dir the init files of processes that have
// exited: those Delve killed, whose own cleanup did not run.
func sweepInit(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		pid, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSuffix(name, ".star"), ".init"))
		if err != nil || pid == os.Getpid() || alive(pid) {
			continue
		}
		os.Remove(filepath.Join(dir, name))
	}
}

// landScript selects the goroutine at the prompt and the user's frame on
// its stack: the one at want_file:want_line with want_below more frames
// at that file and line under it, as a recursive function has. It
// counts from the outer end, because the frames under the prompt's do
// not change while it runs, and only frames at that file and line,
// because Delve lists frames that tracebacks hide (the runtime's, the
// wrappers of generic functions), so that neither an index nor a count
// of frames computed from the prompt's stack would match Delve's.
// Without as many, it takes the innermost at that file and line.
const landScript = `gid = %d
want_file = %q
want_line = %d
want_func = %q
want_below = %d
dlv_command("goroutine %%d" %% gid)

def land():
	frames = stacktrace(Id=gid, Depth=%d).Locations
	found = -1
	below = 0
	for i in range(len(frames) - 1, -1, -1):
		f = frames[i]
		if f.File == want_file and f.Line == want_line:
			if below == want_below:
				return i
			found = i
			below += 1
	return found

found = land()
if found >= 0:
	dlv_command("frame %%d" %% found)
	print("debuglock: goroutine %%d, frame %%d: %%s at %%s:%%d (where the prompt stopped); print its locals, then \"quit -d\" to detach" %% (gid, found, want_func, want_file, want_line))
else:
	print("debuglock: goroutine %%d (the prompt's); \"stack\" shows its frames, \"frame N\" selects one; \"quit -d\" detaches" %% gid)
`

// alive reports whether process pid exists, as far as signalling it
// tells: one of another user's still counts.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH)
}

// landing returns where Delve should land for the prompt's view v: its
// current frame (the user's, or where up and down moved), or where when
// the view has none, and how many frames under it are at the same file
// and line (a recursive function's), for landScript to tell them apart.
func (v *view) landing(where string) (at string, below int) {
	_, f, n, ok := v.target()
	if !ok {
		return where, 0
	}
	for _, g := range v.frames[len(v.frames)-n:] {
		if g.file == f.file && g.line == f.line {
			below++
		}
	}
	return f.String(), below
}
