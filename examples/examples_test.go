// Package examples_test builds every example program and runs it, checking
// its exit status and the key lines of its output.
package examples_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor/tractortest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	tractortest.Setup()
	goleak.VerifyTestMain(m)
}

// examples maps each program to lines its output must contain, in order.
var examples = map[string][]string{
	"quickstart": {
		"root actor started: root",
		"live actors: [root worker]",
		"square(7) = 49",
		"refused with ErrNotExposed",
		"stream count(5) yielded [0 1 2 3 4] then io.EOF",
		`context shout("hello") started with "HELLO"`,
		`  sent "actors", echoed "ACTORS"`,
		"context shout returned 3",
		"stream ticks outcome: tractor: context cancelled",
		"context wait outcome: tractor: context cancelled",
		"cancelled actor worker; live actors: [root]",
		"square(8) in a child process = 64",
		"stream count(5) yielded [0 1 2 3 4] then io.EOF",
		"cancelled the process actor; its process has exited",
		"done",
	},
	"cluster-nats": {
		"started an embedded NATS server with JetStream",
		`[alpha] found gamma-greeter through NATS and called it: "hello alpha, from gamma-greeter"`,
		"every program has called the two others; ending them",
		"the three programs have exited",
		"done",
	},
	"crash": {
		"daemon actor server answers ping with pong",
		"parser's Result: failed in actor parser",
		"OpenNursery returned; live actors: [root]",
		`OpenNursery error: actor parser[…]: cannot parse "12x"`,
		"error from actor: parser",
		"error type:       *main.parseError",
		"1 error in all",
		"done",
	},
	"nested": {
		"  branch-0: sum of squares of [1 2] = 5",
		"  branch-1: sum of squares of [3 4 5] = 50",
		"  trunk: total = 55",
		"root: one-shot actors have ended; live actors: [root trunk]",
		"root: trunk holds a tree of 6 actors below it; live actors:",
		"  branch-1.leaf-1",
		"root: trunk has ended; live actors: [root]",
		"root: the holdTree dialog ended with a RemoteError matching ErrContextCancelled: task in actor trunk cancelled by actor root",
		"done",
	},
}

func TestExamples(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the examples are built with the go command: %v", err)
	}
	// Build every example with one go command; with -race when this test
	// runs with it, so a race in an example fails the test.
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled() {
		args = append(args, "-race")
	}
	for name := range examples {
		args = append(args, "./"+name)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	for name, want := range examples {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, filepath.Join(dir, name))
			// The race runtime sleeps 1s at exit by default; skip that.
			cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if stderr.Len() > 0 {
				t.Logf("stderr:\n%s", stderr.String())
			}
			if err != nil {
				t.Fatalf("%s: %v (ctx: %v)\nstdout:\n%s", name, err, ctx.Err(), stdout.String())
			}
			checkLines(t, stdout.String(), want)
		})
	}
}

// checkLines checks that every line of want appears in out as a whole line,
// in the order given.
func checkLines(t *testing.T, out string, want []string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	i := 0
	for _, w := range want {
		for i < len(lines) && !strings.Contains(lines[i], w) {
			i++
		}
		if i == len(lines) {
			t.Fatalf("output lacks %q (in order)\noutput:\n%s", w, out)
		}
		i++
	}
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
