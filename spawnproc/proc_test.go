package spawnproc_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tractor-go/tractor/spawnproc"
)

// roleEnv tells a re-executed test binary which child to play.
const roleEnv = "SPAWNPROC_TEST_ROLE"

func TestMain(m *testing.M) {
	if role, ok := os.LookupEnv(roleEnv); ok {
		os.Exit(child(role))
	}
	// Children built with -race would each sleep a second at exit.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	goleak.VerifyTestMain(m)
}

// child plays one of the test roles and returns the exit status.
func child(role string) int {
	ctx := context.Background()
	switch role {
	case "echo": // echo one line to the parent, then exit 0
		c, err := spawnproc.ConnectParent(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer c.Close()
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return 3
		}
		fmt.Fprintf(c, "echo %d %s", os.Getpid(), line)
		return 0
	case "stubborn": // ignore SIGTERM, connect, wait forever
		signal.Ignore(syscall.SIGTERM)
		c, err := spawnproc.ConnectParent(ctx)
		if err != nil {
			return 2
		}
		defer c.Close()
		fmt.Fprintln(c, "ready")
		select {}
	case "slow": // record the pid, then take too long to connect back
		// Written whole, then renamed, so the test never reads it half-done.
		tmp := os.Getenv("PIDFILE") + ".tmp"
		os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o644)
		os.Rename(tmp, os.Getenv("PIDFILE"))
		time.Sleep(time.Minute)
		return 0
	case "middle": // spawn a grandchild that waits forever, print its pid, wait
		p, c, err := spawnproc.Start(ctx, spawnproc.Spec{Env: []string{roleEnv + "=stubborn"}})
		if err != nil {
			fmt.Println("error", err)
			return 2
		}
		defer c.Close()
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			return 3
		}
		fmt.Println("grandchild", p.Pid())
		select {}
	}
	return 99
}

func TestStartEchoes(t *testing.T) {
	for _, w := range []spawnproc.Wire{spawnproc.Pipe, spawnproc.TCP} {
		t.Run(w.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p, c, err := spawnproc.Start(ctx, spawnproc.Spec{Wire: w, Env: []string{roleEnv + "=echo"}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintln(c, "hello")
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("echo %d hello\n", p.Pid()); line != want {
				t.Errorf("got %q, want %q", line, want)
			}
			if err := p.Wait(ctx); err != nil {
				t.Errorf("exit: %v", err)
			}
			if alive(p.Pid()) {
				t.Errorf("pid %d still exists after Wait", p.Pid())
			}
		})
	}
}

// hangBound bounds a wait for something that happens at once when the
// code works: it only catches a hang, generously.
const hangBound = 20 * time.Second

func TestTerminateEscalates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, c, err := spawnproc.Start(ctx, spawnproc.Spec{Env: []string{roleEnv + "=stubborn"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	// The grace is a lower bound, which a slow machine only lengthens;
	// the upper bound only catches a hang.
	start := time.Now()
	p.Terminate(100 * time.Millisecond)
	if d := time.Since(start); d < 100*time.Millisecond || d > hangBound {
		t.Errorf("Terminate took %v", d)
	}
	if got := fmt.Sprint(p.Signals()); got != "[terminated killed]" {
		t.Errorf("signals %s, want SIGTERM then SIGKILL", got)
	}
	var ee *exec.ExitError
	if err := p.Wait(ctx); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("exit status %v, want killed", err)
	}
	if alive(p.Pid()) {
		t.Errorf("pid %d not reaped", p.Pid())
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, spawnproc.ErrExited) {
		t.Errorf("signal after exit: %v", err)
	}
}

// TestCancelledBeforeConnect: a parent cancelled before its child connects
// back kills and reaps that child at once.
func TestCancelledBeforeConnect(t *testing.T) {
	pidFile := t.TempDir() + "/pid"
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if _, err := os.Stat(pidFile); err == nil {
				cancel()
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	start := time.Now()
	_, _, err := spawnproc.Start(ctx, spawnproc.Spec{Wire: spawnproc.TCP, Env: []string{roleEnv + "=slow", "PIDFILE=" + pidFile}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Start = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > hangBound {
		t.Errorf("Start returned after %v", d)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(string(b))
	if pid == 0 || alive(pid) {
		t.Errorf("child %d still exists after a cancelled Start", pid)
	}
}

// TestParentKilledLeavesNoChild: SIGKILL of a parent process kills its
// child too (no orphan), checked through /proc.
func TestParentKilledLeavesNoChild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), roleEnv+"=middle")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var gpid int
	if _, err := fmt.Sscanf(line, "grandchild %d", &gpid); err != nil {
		t.Fatalf("middle said %q", line)
	}
	if !alive(gpid) {
		t.Fatal("grandchild not running")
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(hangBound)
	for alive(gpid) {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d outlived its killed parent", gpid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnectParentOutsideChild(t *testing.T) {
	if spawnproc.IsChild() {
		t.Fatal("test process thinks it is a child")
	}
	if _, err := spawnproc.ConnectParent(context.Background()); err == nil {
		t.Fatal("ConnectParent outside a child succeeded")
	}
}

// alive reports whether pid exists and is not a zombie waiting to be
// reaped (a zombie would mean a missing wait).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'X'
}
