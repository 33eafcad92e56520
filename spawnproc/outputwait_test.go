package spawnproc_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tractor-go/tractor/spawnproc"
)

// TestOutputWaitDelay: a child that exited while a program it started
// still holds its output is reaped after OutputWaitDelay, with
// exec.ErrWaitDelay, not when that program ends. Processes cannot live in
// a synctest bubble (their exits are not events of the bubble), so the
// clock is real: the delay is a lower bound, which a slow machine only
// lengthens, and the upper bound only catches a hang.
func TestOutputWaitDelay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	var out syncBuffer
	start := time.Now()
	p, c, err := spawnproc.Start(ctx, spawnproc.Spec{Env: []string{roleEnv + "=holder"}, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = p.Wait(ctx)
	took := time.Since(start)
	pid, perr := strconv.Atoi(strings.TrimSpace(out.String()))
	if perr == nil {
		defer syscall.Kill(pid, syscall.SIGKILL)
	}
	if !errors.Is(err, exec.ErrWaitDelay) || took < spawnproc.OutputWaitDelay {
		t.Fatalf("Wait returned %v after %v, want ErrWaitDelay after %v", err, took, spawnproc.OutputWaitDelay)
	}
	if perr != nil || !alive(pid) {
		t.Fatalf("the program holding the output (%q) is not running: the wait was not for it", out.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the copying goroutine of exec and
// the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
