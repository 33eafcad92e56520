package debuglock_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/creack/pty"

	"github.com/tractor-go/tractor/debuglock"
)

// findDelve returns the path of dlv: on PATH (.ci/run puts it there),
// else where go install puts it ($GOBIN, $(go env GOPATH)/bin), else it
// installs it into a temporary GOBIN, so that the README's go test
// command passes on a fresh machine too (at the cost of building Delve
// once per run: its module and objects are then in Go's caches). Delve
// is a prerequisite of this test, not an option: it fails, rather than
// skips, when none of these gives a dlv, so that CI cannot pass without
// the feature.
func findDelve(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("dlv"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(string(out), "\n")
		dirs := []string{lines[0]}
		for _, dir := range filepath.SplitList(lines[1]) {
			dirs = append(dirs, filepath.Join(dir, "bin"))
		}
		for _, dir := range dirs {
			p := filepath.Join(dir, "dlv")
			if _, err := os.Stat(p); dir != "" && err == nil {
				return p
			}
		}
	}
	bin := t.TempDir()
	args := strings.Fields(debuglock.DelveInstall)
	install := exec.Command(args[0], args[1:]...)
	install.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("dlv (Delve) is neither on PATH nor in $GOBIN or $(go env GOPATH)/bin, and installing it failed (%v):\n%s\n.ci/run installs it; or run\n  %s", err, out, debuglock.DelveInstall)
	}
	return filepath.Join(bin, "dlv")
}

// debuggable is testdata/dlvprog as buildDebuggable built it: once per
// test binary, for every test that runs it, in a directory TestMain
// removes.
var debuggable struct {
	once sync.Once
	dir  string // the directory the binary is in
	bin  string // the binary's path, if it built
	err  error  // why it did not build
}

// buildDebuggable builds testdata/dlvprog without optimisations, so
// that Delve reads its locals, and returns the binary's path. The first
// call builds it; the others wait for that build and share its binary.
func buildDebuggable(t *testing.T) string {
	t.Helper()
	debuggable.once.Do(func() {
		dir, err := os.MkdirTemp("", "debuglock-dlvprog")
		if err != nil {
			debuggable.err = err
			return
		}
		debuggable.dir = dir
		bin := filepath.Join(dir, "dlvprog")
		out, err := exec.Command("go", "build", "-gcflags=all=-N -l", "-o", bin, "./testdata/dlvprog").CombinedOutput()
		if err != nil {
			debuggable.err = fmt.Errorf("%w\n%s", err, out)
			return
		}
		debuggable.bin = bin
	})
	if debuggable.err != nil {
		t.Fatalf("building testdata/dlvprog: %v", debuggable.err)
	}
	return debuggable.bin
}

// startDlvprog starts the program bin built by buildDebuggable with args
// on a pseudo-terminal, with dlv on its PATH, and its own temporary and
// cache directories (where Delve's init files go), which the test reads
// with envOf.
func startDlvprog(t *testing.T, dlv, bin string, args ...string) *term {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(withPath(filepath.Dir(dlv)+string(filepath.ListSeparator)+os.Getenv("PATH")), "TMPDIR="+t.TempDir(), "XDG_CACHE_HOME="+t.TempDir())
	tm := runOnPty(t, cmd)
	// A terminal's size, as a person's has: on a 0x0 one Delve pages
	// every answer.
	if err := pty.Setsize(tm.pty, &pty.Winsize{Rows: 50, Cols: 160}); err != nil {
		t.Fatal(err)
	}
	return tm
}

// transcript returns what the program printed, without carriage returns
// and colours: the session as a person read it.
func transcript(tm *term) string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return regexp.MustCompile(`\r|\x1b\[[0-9;]*[A-Za-z]`).ReplaceAllString(tm.out.String(), "")
}

// envOf returns the value of the variable key in tm's environment.
func envOf(tm *term, key string) string {
	for _, kv := range tm.cmd.Env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// withPath returns the environment with PATH set to path.
func withPath(path string) []string {
	env := []string{"PATH=" + path}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	return env
}

// TestDelve: at an actor's breakpoint, dlv hands the terminal to Delve
// attached to that actor's process, on the goroutine at the prompt and
// the frame of the user's function, so that its local prints at once;
// Delve detaches, the prompt is back and still works, and continuing
// lets the function finish with the same local. A process actor's dlv
// attaches to it, a child of the root, over either wire; a goroutine
// actor's to the root, the parent of its dlv.
func TestDelve(t *testing.T) {
	t.Parallel()
	dlv := findDelve(t)
	bin := buildDebuggable(t)
	for _, hosting := range []string{"process", "tcp", "goroutine"} {
		t.Run(hosting, func(t *testing.T) {
			t.Parallel()
			tm := startDlvprog(t, dlv, bin, hosting, "breakpoint")
			tm.expect(`debuglock: breakpoint in actor w0\[`)
			pid := tm.expect(`dlv attach (\d+)`)[1]
			if root := strconv.Itoa(tm.cmd.Process.Pid); (hosting == "goroutine") != (pid == root) {
				t.Fatalf("%s actor at pid %s, the root's is %s", hosting, pid, root)
			}
			tm.expect(`\(tractor w0\) `)
			tm.send("dlv\n")
			tm.expect(`handing the terminal to Delve \(dlv attach ` + pid + `\)`)
			m := tm.expect(`debuglock: goroutine (\d+), frame (\d+): main\.secretive at \S+/dlvprog/main\.go:\d+`)
			gid, frame := m[1], m[2]
			tm.expect(`\(dlv\) `)
			tm.send("print secret\n")
			tm.expect(`(?m)^42\r?$`)
			// Delve's own numbering agrees: the selected frame is the user's.
			tm.send("goroutine\n")
			tm.expect(`Goroutine ` + gid + `:`)
			// Down to that frame only: no pager on 50 rows. \S*: bold.
			tm.send("stack " + frame + "\n")
			tm.expect(`(?m)^\s*` + frame + `\s+0x[0-9a-f]+ in \S*main\.secretive\S*\r?$`)
			tm.expect(`\(dlv\) `)
			tm.send("quit -d\n")
			tm.expect(`debuglock: back from Delve`)
			tm.expect(`\(tractor w0\) `)
			tm.send("where\n")
			tm.expect(`dlvprog/main\.go:\d+ \(main\.secretive\)`)
			tm.expect(`\(tractor w0\) `)
			tm.send("c\n")
			tm.expect(`result 43 <nil>`)
			tm.expect(`program ends: <nil>`)
			if code := tm.wait(); code != 0 {
				t.Fatalf("program exited with %d", code)
			}
			t.Logf("the session:\n%s", transcript(tm))
		})
	}
}

// TestDelveMissing: without dlv on PATH, the dlv command says how to
// install it, and the prompt carries on.
func TestDelveMissing(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(withPath(t.TempDir()), roleEnv+"=quit") // nothing on PATH
	tm := runOnPty(t, cmd)
	tm.expect(`\(tractor w0\) `)
	tm.send("dlv\n")
	tm.expect(`dlv \(Delve\) is not on PATH; install it with\s+` + regexp.QuoteMeta(debuglock.DelveInstall))
	tm.expect(`\(tractor w0\) `)
	tm.send("c\n")
	tm.expect(`result continued <nil>`)
	tm.expect(`program ends: <nil>`)
	if code := tm.wait(); code != 0 {
		t.Fatalf("program exited with %d", code)
	}
}

// TestDelvePostMortem: dlv works at a post-mortem prompt too: Delve
// attaches on the goroutine of the failed task (on the failing frame,
// with its locals, when the prompt knows its file and line), detaches,
// and continuing lets the error propagate. (The test binary itself would
// not do: go test strips its debug information.)
func TestDelvePostMortem(t *testing.T) {
	t.Parallel()
	dlv := findDelve(t)
	tm := startDlvprog(t, dlv, buildDebuggable(t), "process", "postmortem")
	tm.expect(`endpoint "dlvprog.betray" failed: kaboom 43`)
	tm.expect(`\(tractor w0\) `)
	tm.send("dlv\n")
	gid := tm.expect(`debuglock: goroutine (\d+)(?:, frame \d+: | \(the prompt's\))`)[1]
	tm.expect(`\(dlv\) `)
	tm.send("goroutine\n")
	tm.expect(`Goroutine ` + gid + `:`)
	tm.expect(`\(dlv\) `)
	tm.send("quit -d\n")
	tm.expect(`debuglock: back from Delve`)
	tm.expect(`\(tractor w0\) `)
	tm.send("c\n")
	tm.expect(`result 0 .*kaboom 43`)
	tm.expect(`program ends: <nil>`)
	if code := tm.wait(); code != 0 {
		t.Fatalf("program exited with %d", code)
	}
	t.Logf("the session:\n%s", transcript(tm))
}

// TestDelvePanicFrame: the post-mortem of a panic runs before the stack
// unwinds, so Delve, attached from its prompt, lands on the panicking
// frame with its locals alive, in a process actor (over either wire) and
// in the root's.
func TestDelvePanicFrame(t *testing.T) {
	t.Parallel()
	dlv := findDelve(t)
	bin := buildDebuggable(t)
	for _, hosting := range []string{"process", "tcp", "goroutine"} {
		t.Run(hosting, func(t *testing.T) {
			t.Parallel()
			tm := startDlvprog(t, dlv, bin, hosting, "panic")
			tm.expect(`endpoint "dlvprog.shatter" failed: .*index out of range`)
			tm.expect(`\(tractor w0\) `)
			tm.send("where\n")
			tm.expect(`dlvprog/main\.go:\d+ \(main\.panicking\)`)
			tm.expect(`\(tractor w0\) `)
			tm.send("list\n")
			tm.expect(`=>\s*\d+\s+return shelf\[secret\+x\]`)
			tm.expect(`\(tractor w0\) `)
			tm.send("up\n")
			tm.expect(`dlvprog/main\.go:\d+ \(main\.init\.func\d+\)`)
			tm.expect(`=>\s*\d+\s+return panicking\(x\), nil`)
			tm.expect(`\(tractor w0\) `)
			tm.send("down\n")
			tm.expect(`\(tractor w0\) `)
			tm.send("dlv\n")
			tm.expect(`debuglock: goroutine \d+, frame \d+: main\.panicking at \S+/dlvprog/main\.go:\d+`)
			tm.expect(`\(dlv\) `)
			tm.send("print secret\n")
			tm.expect(`(?m)^42\r?$`)
			tm.expect(`\(dlv\) `)
			tm.send("quit -d\n")
			tm.expect(`debuglock: back from Delve`)
			tm.expect(`\(tractor w0\) `)
			tm.send("c\n")
			tm.expect(`result 0 .*index out of range`)
			tm.expect(`program ends: <nil>`)
			if code := tm.wait(); code != 0 {
				t.Fatalf("program exited with %d", code)
			}
			t.Logf("the session:\n%s", transcript(tm))
		})
	}
}

// TestDelveRecursion: in a recursive function, stopped three calls deep,
// where the first and the second call are at the same file and line, dlv
// lands on the call up and down moved to: up twice, on the first (not
// the innermost at that line); down once, on the second (not the
// outermost). Delve prints that call's local.
func TestDelveRecursion(t *testing.T) {
	t.Parallel()
	tm := startDlvprog(t, findDelve(t), buildDebuggable(t), "process", "recursive")
	tm.expect(`debuglock: breakpoint in actor w0\[`)
	tm.expect(`\(tractor w0\) `)
	for _, step := range []struct{ move, frame, depth string }{
		{"up\nup\n", "#2", "1"},
		{"down\n", "#1", "2"},
	} {
		tm.send(step.move)
		tm.expect(step.frame + ` \S+/dlvprog/main\.go:\d+ \(main\.recurse\)`)
		tm.expect(`\(tractor w0\) `)
		tm.send("dlv\n")
		tm.expect(`debuglock: goroutine \d+, frame \d+: main\.recurse at \S+/dlvprog/main\.go:\d+`)
		tm.expect(`\(dlv\) `)
		tm.send("print depth\n")
		if depth := tm.expect(`(?m)^(\d+)\r?$`)[1]; depth != step.depth {
			t.Fatalf("at frame %s Delve printed depth %s; want %s\n%s", step.frame, depth, step.depth, transcript(tm))
		}
		tm.expect(`\(dlv\) `)
		tm.send("quit -d\n")
		tm.expect(`debuglock: back from Delve`)
		tm.expect(`\(tractor w0\) `)
	}
	tm.send("c\n")
	tm.expect(`result 6 <nil>`) // 1+2+3
	tm.expect(`program ends: <nil>`)
	if code := tm.wait(); code != 0 {
		t.Fatalf("program exited with %d", code)
	}
}

// TestDelveKillLeavesNoTempDir: when the user kills the process from
// Delve (a plain quit, answered yes: a SIGINT for a process Delve attached
// to, which kills a program without debuglock.NotifyContext), its
// cleanup never runs: Delve's
// init files are then in the user's cache directory under the process's
// pid, where the next dlv command removes them (see
// TestDelveInitFilesSwept), and nothing is left in the temporary
// directory.
func TestDelveKillLeavesNoTempDir(t *testing.T) {
	t.Parallel()
	tm := startDlvprog(t, findDelve(t), buildDebuggable(t), "goroutine", "breakpoint", "plain")
	tm.expect(`\(tractor w0\) `)
	tm.send("dlv\n")
	tm.expect(`\(dlv\) `)
	tm.send("quit\n")
	tm.expect(`(?i)kill the process\?`)
	tm.send("y\n")
	if code := tm.wait(); code == 0 {
		t.Fatalf("the program killed from Delve exited with 0:\n%s", transcript(tm))
	}
	if left, err := os.ReadDir(envOf(tm, "TMPDIR")); err != nil || len(left) != 0 {
		t.Fatalf("the temporary directory holds %v (%v)", left, err)
	}
	pid := strconv.Itoa(tm.cmd.Process.Pid)
	left, err := os.ReadDir(filepath.Join(envOf(tm, "XDG_CACHE_HOME"), "debuglock-dlv"))
	if err != nil || len(left) != 2 || left[0].Name() != pid+".init" || left[1].Name() != pid+".star" {
		t.Fatalf("the cache directory holds %v (%v); want the init files of %s", left, err, pid)
	}
}
