package spawnproc_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tractor-go/tractor/spawnproc"
)

// roleEnv tells a re-executed test binary which child to play.
const roleEnv = "SPAWNPROC_TEST_ROLE"

// TestMain does without tractortest.Setup: the runtime is built
// on this package, and its tests run without the runtime linked in; the
// children it re-executes play roles of their own, not actors.
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
	case "secret": // send the parent the secret it handed over, and the environment
		secret, err := spawnproc.ReadSecret()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		c, err := spawnproc.ConnectParent(ctx)
		if err != nil {
			return 2
		}
		defer c.Close()
		env, _ := os.ReadFile("/proc/self/environ")
		fmt.Fprintf(c, "%q %q\n", secret, env)
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
	case "slow": // print the pid, then take too long to connect back
		fmt.Println(os.Getpid())
		<-time.After(time.Minute) // not a synchronisation: a child that hangs until killed
		return 0
	case "holder": // start a program that holds stdout, print its pid, exit 0
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), roleEnv+"=hang")
		cmd.Stdout = os.Stdout
		if err := cmd.Start(); err != nil {
			return 2
		}
		fmt.Println(cmd.Process.Pid)
		return 0
	case "hang": // hang until killed
		<-time.After(time.Minute) // not a synchronisation: a program that hangs until killed
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

// TestTerminateEscalates: the ladder over a real process that ignores
// SIGTERM. A real process cannot live in a synctest bubble (its exit is
// not an event of the bubble), so the clock here is real and only the
// order of the signals and the exit status are exact; TestTerminateLadder
// checks the timing, exactly, in virtual time over a fake process.
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
// back kills and reaps that child at once, and closes the connections
// others made to the child's port meanwhile.
func TestCancelledBeforeConnect(t *testing.T) {
	for _, intruders := range []int{0, 100} {
		t.Run(fmt.Sprintf("intruders=%d", intruders), func(t *testing.T) {
			out, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// Cancel once the child runs: it prints its pid.
			pid := make(chan int, 1)
			var wg sync.WaitGroup
			wg.Go(func() {
				var n int
				fmt.Fscan(out, &n)
				pid <- n
				cancel()
			})
			var conns []net.Conn
			start := time.Now()
			p, c, err := spawnproc.Start(ctx, spawnproc.Spec{Wire: spawnproc.TCP, Env: []string{roleEnv + "=slow"}, Stdout: w,
				OnListen: func(addr net.Addr) { conns = intrude(t, addr, intruders/2, intruders/2) }})
			w.Close()
			wg.Wait()
			defer closeAll(conns)
			if err == nil {
				c.Close()
				p.Kill()
				p.Wait(context.Background())
				t.Fatalf("Start returned a connection from %v, not the child's", c.RemoteAddr())
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Start = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > hangBound {
				t.Errorf("Start returned after %v", d)
			}
			if n := <-pid; n == 0 || alive(n) {
				t.Errorf("child %d still exists after a cancelled Start", n)
			}
			wantDropped(t, conns)
		})
	}
}

// TestDialBackIntruders: connections made to a TCP child's port before it
// dials back, silent or sending a wrong token, one or hundreds, are not
// taken for the child's: Start returns the child's, which serves, and
// closes theirs, leaving no goroutine.
func TestDialBackIntruders(t *testing.T) {
	for _, tc := range []struct {
		name          string
		silent, wrong int
	}{
		{"silent", 1, 0},
		{"wrong-token", 0, 1},
		{"hundreds", 200, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), hangBound)
			defer cancel()
			var conns []net.Conn
			p, c, err := spawnproc.Start(ctx, spawnproc.Spec{Wire: spawnproc.TCP, Env: []string{roleEnv + "=echo"},
				OnListen: func(addr net.Addr) { conns = intrude(t, addr, tc.silent, tc.wrong) }})
			defer closeAll(conns)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, ic := range conns {
				if c.RemoteAddr().String() == ic.LocalAddr().String() {
					t.Fatalf("Start returned the connection from %v, an intruder's", ic.LocalAddr())
				}
			}
			c.SetDeadline(time.Now().Add(hangBound))
			fmt.Fprintln(c, "hello")
			line, err := bufio.NewReader(c).ReadString('\n')
			if want := fmt.Sprintf("echo %d hello\n", p.Pid()); err != nil || line != want {
				t.Fatalf("the child said %q, %v; want %q", line, err, want)
			}
			if err := p.Wait(ctx); err != nil {
				t.Errorf("exit: %v", err)
			}
			wantDropped(t, conns)
			closeAll(conns)
			c.Close()
			goleak.VerifyNone(t)
		})
	}
}

// intrude connects to addr as anyone on the host could before a child
// dials back there: silent times saying nothing, then wrong times sending
// as many bytes as a token, not the child's.
func intrude(t *testing.T, addr net.Addr, silent, wrong int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for i := range silent + wrong {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Errorf("intruder %d: %v", i, err)
			break
		}
		conns = append(conns, c)
		if i >= silent {
			if _, err := c.Write([]byte("not the token, though 32 bytes.\n")); err != nil {
				t.Errorf("intruder %d: %v", i, err)
			}
		}
	}
	return conns
}

// wantDropped checks that the other end of each of conns was closed.
func wantDropped(t *testing.T, conns []net.Conn) {
	t.Helper()
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(hangBound))
		if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("intruder %d still connected", i)
		}
	}
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
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
	// The grandchild is not this process's child: nothing here can wait
	// for its end, which is polled (and bounded only against a hang).
	deadline := time.Now().Add(hangBound)
	for alive(gpid) {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d outlived its killed parent", gpid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSecret: a child reads the secret its parent handed it, on either
// wire, and finds it neither in its environment nor, unset, a variable of
// its parent's; a secret over MaxSecret is refused before any child runs.
func TestSecret(t *testing.T) {
	const secret = "a secret 7e3d\x00\n with any bytes"
	t.Setenv("UNSET_ME", "inherited")
	for _, w := range []spawnproc.Wire{spawnproc.Pipe, spawnproc.TCP} {
		t.Run(w.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), hangBound)
			defer cancel()
			p, c, err := spawnproc.Start(ctx, spawnproc.Spec{Wire: w, Env: []string{roleEnv + "=secret"},
				Unset: []string{"UNSET_ME"}, Secret: []byte(secret)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Wait(ctx); err != nil {
				t.Fatalf("child: %v", err)
			}
			var got, env string
			if _, err := fmt.Sscanf(line, "%q %q", &got, &env); err != nil {
				t.Fatalf("child said %q: %v", line, err)
			}
			if got != secret {
				t.Errorf("child read secret %q, want %q", got, secret)
			}
			if strings.Contains(env, "7e3d") || strings.Contains(env, "UNSET_ME") || !strings.Contains(env, roleEnv) {
				t.Errorf("child's environment %q", env)
			}
		})
	}
	_, _, err := spawnproc.Start(context.Background(), spawnproc.Spec{Env: []string{roleEnv + "=secret"},
		Secret: make([]byte, spawnproc.MaxSecret+1)})
	if err == nil {
		t.Fatal("a secret over MaxSecret was handed over")
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
