package tractor

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/tractor-go/tractor/spawnproc"
)

// TestForcedOnlyBySignal: a process the ladder signalled ended as forced
// only if a signal it sent is what ended it; an exit code of its own (a
// crash that came just before the signal) is a death, never excused as
// the ladder's doing.
func TestForcedOnlyBySignal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	proc, conn, err := spawnproc.Start(ctx, spawnproc.Spec{Path: "/bin/sh", Args: []string{"-c", "exec sleep 60"}, Wire: spawnproc.Pipe})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	killed := proc.Wait(ctx)
	h := processHost{proc: proc}
	if !h.forced(killed) {
		t.Errorf("forced(%v) = false for the SIGTERM the ladder sent", killed)
	}
	crash := exec.Command("/bin/sh", "-c", "exit 2").Run()
	var ee *exec.ExitError
	if !errors.As(crash, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("crash stand-in: %v", crash)
	}
	if h.forced(crash) {
		t.Errorf("forced(%v) = true: a crash's exit code taken for the ladder's signal", crash)
	}
	if h.forced(nil) {
		t.Error("forced(nil) = true: a clean exit taken for the ladder's signal")
	}
	if (goroutineHost{}).forced(killed) {
		t.Error("a goroutine host reports a forced end")
	}
}
