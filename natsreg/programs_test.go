package natsreg_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/natsreg"
)

const (
	roleEnv = "NATSREG_TEST_ROLE" // the program's name: p1, p2, p3
	hostEnv = "NATSREG_TEST_HOST" // the loopback address it listens on
	procEnv = "NATSREG_TEST_PROC" // its worker is a process actor
	userEnv = "NATSREG_TEST_USER"
	passEnv = "NATSREG_TEST_PASS"
	// testTTL is the registry's TTL in the tests: the time within which a
	// killed program's actors vanish.
	testTTL = 2 * time.Second
)

var square = tractor.Func("natsreg.test.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })

// playRole runs a test program if the binary was re-executed as one.
func playRole() {
	if name := os.Getenv(roleEnv); name != "" {
		os.Unsetenv(roleEnv) // its process actors are not programs
		os.Exit(runProgram(name))
	}
}

// runProgram is a program of a tree kept in NATS: it connects to the
// servers of NATSREG_TEST_URLS, starts "<name>-worker" exposing square,
// says "ready", then obeys lines on stdin until it closes:
//
//	call <program>   WaitForActor("<program>-worker"), square 7: "called <program> 49 <nil>"
//	list             Actors: "list <name> <name>...", sorted
func runProgram(name string) int {
	nc, err := nats.Connect(os.Getenv(urlsEnv), nats.DontRandomize(), nats.MaxReconnects(-1),
		nats.UserInfo(os.Getenv(userEnv), os.Getenv(passEnv)))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer closeConn(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*hangBound)
	defer cancel()
	reg, err := natsreg.New(ctx, nc, registryOptions()...)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer reg.Close(context.Background())
	hosting := tractor.Goroutine
	if os.Getenv(procEnv) != "" {
		hosting = tractor.Process
	}
	err = tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			if _, err := n.StartActor(ctx, name+"-worker", tractor.Expose(square), tractor.Spawn(hosting)); err != nil {
				return err
			}
			fmt.Println("ready")
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				cmd, arg, _ := strings.Cut(sc.Text(), " ")
				switch cmd {
				case "call":
					wctx, wcancel := context.WithTimeout(ctx, hangBound)
					p, err := tractor.WaitForActor(wctx, arg+"-worker")
					v := 0
					if err == nil {
						v, err = square.Call(wctx, p, 7)
					}
					wcancel()
					fmt.Println("called", arg, v, err)
				case "list":
					infos, err := tractor.Actors(ctx)
					var names []string
					for _, i := range infos {
						host, _, _ := net.SplitHostPort(i.Addr)
						names = append(names, i.ID.Name+"@"+host)
					}
					fmt.Println("list", strings.Join(names, " "), err)
				}
			}
			return nil
		})
	}, tractor.Name("root-"+name), tractor.UseRegistry(reg), tractor.ListenAddr(os.Getenv(hostEnv)+":0"))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	return 0
}

// program is a test program running as a process of its own.
type program struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// startProgram starts program name listening on host, connected to urls.
func startProgram(t *testing.T, name, host, urls string, env ...string) *program {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{roleEnv + "=" + name, hostEnv + "=" + host, urlsEnv + "=" + urls, "TRACTOR_SECRET=natsreg-test-tree"}, env...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &program{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		for range p.lines {
		}
	})
	return p
}

// say sends the program a command.
func (p *program) say(t *testing.T, cmd string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
}

// expect reads the program's next line and checks its prefix.
func (p *program) expect(t *testing.T, want string) string {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatalf("%s ended; want %q", p.name, want)
		}
		if !strings.HasPrefix(line, want) {
			t.Fatalf("%s said %q; want %q", p.name, line, want)
		}
		return line
	case <-time.After(hangBound):
		t.Fatalf("%s said nothing within %v; want %q", p.name, hangBound, want)
	}
	return ""
}

// end closes the program's stdin and waits for it to exit cleanly.
func (p *program) end(t *testing.T) {
	t.Helper()
	p.stdin.Close()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
}

// callAll has every program call every other's worker.
func callAll(t *testing.T, ps []*program) {
	t.Helper()
	for _, p := range ps {
		for _, q := range ps {
			if p != q {
				p.say(t, "call "+q.name)
				p.expect(t, "called "+q.name+" 49 <nil>")
			}
		}
	}
}
