package debuglock_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/debuglock"
)

// shatter fails by indexing past its slice, one call below the endpoint.
var shatter = tractor.Func("debuglocktest.shatter", func(ctx context.Context, n int) (int, error) {
	return shatterAt(n), nil // shatter's call
})

//go:noinline
func shatterAt(n int) int {
	items := make([]int, n)
	return items[n] // shatterAt panics
}

func init() {
	programs["panicking-process"] = func() int { return panicking(tractor.Spawn(tractor.Process)) }
	programs["panicking-goroutine"] = func() int { return panicking() }
}

// panicking runs a root whose actor w0, hosted per opts, panics in
// shatter under post-mortem.
func panicking(opts ...tractor.Option) int {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(_ context.Context, nu *tractor.Nursery) error {
			defer nu.Cancel()
			p, err := nu.StartActor(ctx, "w0", append(opts, tractor.Expose(shatter))...)
			if err != nil {
				return err
			}
			_, err = shatter.Call(ctx, p, 3)
			fmt.Println("propagated:", err)
			return nil
		})
	}, debuglock.Enable(debuglock.PostMortem())...)
	fmt.Println("program ends:", err)
	if err != nil {
		return 1
	}
	return 0
}

// lineOf returns the line of this file that ends with the comment
// marker.
func lineOf(t *testing.T, marker string) (string, int) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.HasSuffix(sc.Text(), "// "+marker) {
			return file, n
		}
	}
	t.Fatalf("no line of %s ends with %q", file, marker)
	return "", 0
}

// TestPostMortemWhereItFailed: a panic in an actor opens the post-mortem
// where it happened: where names the panicking file:line, list shows
// that line's source, up moves to its caller with its source, and stack
// begins at the panicking frame, without runtime/debug.Stack, debuglock
// or the runtime's panic frames; goroutines prints one line each, this
// goroutine marked; the full dump shows the panicking call still live.
func TestPostMortemWhereItFailed(t *testing.T) {
	t.Parallel()
	file, line := lineOf(t, "shatterAt panics")
	_, callLine := lineOf(t, "shatter's call")
	at := regexp.QuoteMeta(file + ":" + strconv.Itoa(line))
	for _, role := range []string{"panicking-process", "panicking-goroutine"} {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			tm := startOnPty(t, role)
			tm.expect(`debuglock: post-mortem in actor w0\[`)
			tm.expect(`endpoint "debuglocktest.shatter" failed: .*index out of range`)
			tm.expect(`\(tractor w0\) `)
			tm.send("where\n")
			tm.expect(`#0 ` + at + ` \(github.com/tractor-go/tractor/debuglock_test\.shatterAt\)`)
			tm.expect(`\(tractor w0\) `)
			tm.send("list\n")
			tm.expect(fmt.Sprintf(`=> +%d\t\treturn items\[n\] // shatterAt panics`, line))
			tm.expect(`\(tractor w0\) `)
			tm.send("up\n")
			tm.expect(fmt.Sprintf(`#1 %s:%d \(github.com/tractor-go/tractor/debuglock_test\.init\.func\d+\)`, regexp.QuoteMeta(file), callLine))
			tm.expect(fmt.Sprintf(`=> +%d\t\treturn shatterAt\(n\), nil // shatter's call`, callLine))
			tm.expect(`\(tractor w0\) `)
			tm.send("stack\n")
			stack := strings.ReplaceAll(tm.expect(`(?s)goroutine \d+:\r?\n(.*?)\(tractor w0\) `)[1], "\r", "")
			if !regexp.MustCompile(`^ #0 github.com/tractor-go/tractor/debuglock_test\.shatterAt\n\t` + at + `\n>#1 `).MatchString(stack) {
				t.Fatalf("stack does not begin at the panicking frame:\n%s", stack)
			}
			if strings.Contains(stack, "runtime/debug") || strings.Contains(stack, "debuglock.") || strings.Contains(stack, "runtime.gopanic") || strings.Contains(stack, "panic(") {
				t.Fatalf("stack holds the machinery's frames:\n%s", stack)
			}
			tm.send("goroutines\n")
			tm.expect(`(?m)^\*\s+\d+ \S.*debuglock_test`)
			tm.expect(`\(tractor w0\) `)
			// The prompt runs before the stack unwinds: the live dump
			// holds the panicking call (its argument reads 0x3 in a
			// -race build, "0x0?" in an optimised one, which keeps it
			// in a register).
			tm.send("goroutines -a\n")
			tm.expect(`(?s)every goroutine of process.*panic\(.*debuglock_test\.shatterAt\(.*\(tractor w0\) `)
			tm.send("c\n")
			tm.expect(`propagated: .*index out of range`)
			tm.expect(`program ends: <nil>`)
			if code := tm.wait(); code != 0 {
				t.Fatalf("program exited with %d", code)
			}
		})
	}
}

// TestPostMortemReturnedError: for an error returned without frames of
// its own, where names the endpoint's function and list shows it.
func TestPostMortemReturnedError(t *testing.T) {
	t.Parallel()
	tm := startOnPty(t, "postmortem")
	tm.expect(`endpoint "debuglocktest.kaboom" failed: kaboom`)
	tm.expect(`\(tractor w0\) `)
	tm.send("where\n")
	tm.expect(`#0 \S+debuglock_test\.go:\d+ \(github.com/tractor-go/tractor/debuglock_test\.init\.func\d+\)`)
	tm.expect(`\(tractor w0\) `)
	tm.send("list\n")
	tm.expect(`=> +\d+\t\tkaboom = tractor\.Func\("debuglocktest\.kaboom"`)
	tm.expect(`\(tractor w0\) `)
	tm.send("c\n")
	tm.expect(`propagated: .*kaboom`)
	if code := tm.wait(); code != 0 {
		t.Fatalf("program exited with %d", code)
	}
}
