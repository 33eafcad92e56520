package debuglock

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"

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
// frame, so that the user's locals print at once; any other where (a
// post-mortem's "task of endpoint ...") leaves Delve on the goroutine's
// innermost frame. Leaving Delve with "quit -d" detaches and the process
// runs on; a plain "quit" asks whether to kill it.
func delve(in io.Reader, out io.Writer, where string) {
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
	dir, err := os.MkdirTemp("", "debuglock-dlv-")
	if err != nil {
		fmt.Fprintf(out, "debuglock: dlv: %v\n", err)
		return
	}
	defer os.RemoveAll(dir)
	initFile, err := writeInit(dir, goroutineID(), where)
	if err != nil {
		fmt.Fprintf(out, "debuglock: dlv: %v\n", err)
		return
	}
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

// writeInit writes Delve's init file into dir and returns its path. The
// init file sources a Starlark script (Delve runs only plain commands
// from an init file) that selects goroutine gid and, on its stack, the
// frame at where's file and line, and prints what it selected.
func writeInit(dir string, gid int64, where string) (string, error) {
	file, line, fn := "", 0, ""
	if m := whereRE.FindStringSubmatch(where); m != nil {
		file, fn = m[1], m[3]
		line, _ = strconv.Atoi(m[2])
	}
	star := filepath.Join(dir, "land.star")
	script := fmt.Sprintf(landScript, gid, file, line, fn)
	if err := os.WriteFile(star, []byte(script), 0o600); err != nil {
		return "", err
	}
	initFile := filepath.Join(dir, "init")
	if err := os.WriteFile(initFile, []byte("source "+star+"\n"), 0o600); err != nil {
		return "", err
	}
	return initFile, nil
}

// landScript selects the goroutine at the prompt and the user's frame on
// its stack, found by file and line (Delve counts inlined calls and
// runtime frames, so an index computed here would not match its own).
const landScript = `gid = %d
want_file = %q
want_line = %d
want_func = %q
dlv_command("goroutine %%d" %% gid)
found = -1
frames = stacktrace(Id=gid, Depth=100).Locations
for i in range(len(frames)):
	f = frames[i]
	if f.File == want_file and f.Line == want_line:
		found = i
		break
if found >= 0:
	dlv_command("frame %%d" %% found)
	print("debuglock: goroutine %%d, frame %%d: %%s at %%s:%%d (where the prompt stopped); print its locals, then \"quit -d\" to detach" %% (gid, found, want_func, want_file, want_line))
else:
	print("debuglock: goroutine %%d (the prompt's); \"stack\" shows its frames, \"frame N\" selects one; \"quit -d\" detaches" %% gid)
`
