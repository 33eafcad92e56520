// Package spawnproc runs an actor as a child process: this binary (or a
// named one built with the library) re-executed, reached over a socketpair
// passed as an extra file or over a TCP connection it dials back, watched
// until it exits, and always reaped.
//
// The package deals in processes and byte streams only; the runtime wraps
// the stream in a transport connection and performs the actor handshake.
// Its guarantees:
//
//   - Every started child is reaped: [Proc.Wait] returns only after the
//     process has exited and its status was collected, and every path that
//     abandons a child (a failed handshake, a cancelled parent) kills it
//     first.
//   - Children die with their parent: on Linux the child gets SIGKILL when
//     the parent dies (PR_SET_PDEATHSIG), and the runtime's child ends by
//     itself when its parent connection closes.
//   - The cancellation ladder is a request the runtime makes, then
//     [Proc.Terminate]: SIGTERM, a bounded wait, SIGKILL, reap.
package spawnproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// EnvVar is the environment variable that marks a spawned child and says
// how it reaches its parent: "pipe:FD" or "tcp:HOST:PORT".
const EnvVar = "TRACTOR_SPAWN"

// secretFDVar names the descriptor from which a child reads its secret
// (see [Spec.Secret] and [ReadSecret]); the number is no secret.
const secretFDVar = "TRACTOR_SPAWN_SECRET_FD"

// MaxSecret is the longest [Spec.Secret]: what a pipe holds before its
// reader reads, so that handing the secret over never blocks.
const MaxSecret = 4096

// Wire is how a child reaches its parent.
type Wire uint8

const (
	// Pipe passes one end of a Unix socketpair to the child as an extra
	// file (fd 3). It is the default.
	Pipe Wire = iota
	// TCP makes the parent listen on a loopback address (or the one
	// configured) and the child dial back.
	TCP
)

func (w Wire) String() string {
	switch w {
	case Pipe:
		return "pipe"
	case TCP:
		return "tcp"
	}
	return "wire(" + strconv.Itoa(int(w)) + ")"
}

// Spec says how to start a child.
type Spec struct {
	// Path is the binary to run; empty means this process's own
	// executable.
	Path string
	// Args are the child's arguments after the program name; nil means
	// this process's own (so a test binary's child re-enters TestMain).
	Args []string
	// Env is added to this process's environment for the child.
	Env []string
	// Unset names variables of this process's environment that the child
	// does not inherit.
	Unset []string
	// Secret, if not empty, is handed to the child through a pipe it
	// inherits and reads once with [ReadSecret]: never through its
	// environment or command line, which stay readable in
	// /proc/<pid>/environ and /proc/<pid>/cmdline for as long as it runs,
	// whatever it unsets. At most [MaxSecret] bytes.
	Secret []byte
	// Wire chooses the connection; BindAddr is the host the parent
	// listens on for a TCP child (default "127.0.0.1": loopback only);
	// its port is ignored, each child gets a fresh one.
	Wire     Wire
	BindAddr string
	// Stdout and Stderr receive the child's output (default: this
	// process's own, so the user sees it).
	Stdout, Stderr io.Writer
}

// Proc is a started child process. Its methods are safe for concurrent use.
type Proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process was reaped
	err  error         // its exit status, set before done closes

	mu       sync.Mutex
	signaled []os.Signal
}

// ErrExited is matched by errors from signalling a process that has
// already exited and been reaped.
var ErrExited = errors.New("spawnproc: process already exited")

// Start starts a child per spec and returns it with the parent's end of
// its connection. For TCP it waits, within ctx, for the child to dial
// back. If ctx ends or anything fails after the process started, the
// process is killed and reaped before Start returns.
func Start(ctx context.Context, spec Spec) (*Proc, net.Conn, error) {
	path := spec.Path
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, nil, fmt.Errorf("spawnproc: own executable: %w", err)
		}
		path = exe
	}
	args := spec.Args
	if args == nil {
		args = os.Args[1:]
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = spec.Stdout, spec.Stderr
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = sysProcAttr()

	var (
		parentEnd  net.Conn
		listener   net.Listener
		childFile  *os.File
		secretFile *os.File
	)
	env := environ(spec.Unset)
	if len(spec.Secret) > 0 {
		f, err := secretPipe(spec.Secret)
		if err != nil {
			return nil, nil, err
		}
		secretFile = f
		defer secretFile.Close() // the child has its copy
	}
	switch spec.Wire {
	case Pipe:
		pf, cf, err := transport.Socketpair()
		if err != nil {
			return nil, nil, err
		}
		c, err := net.FileConn(pf)
		pf.Close()
		if err != nil {
			cf.Close()
			return nil, nil, fmt.Errorf("spawnproc: socketpair conn: %w", err)
		}
		parentEnd, childFile = c, cf
		cmd.ExtraFiles = []*os.File{cf}
		cmd.Env = append(append(env, spec.Env...), EnvVar+"=pipe:3")
	case TCP:
		// Each child gets a fresh port on the configured host: a fixed
		// port would collide between siblings started together.
		addr := "127.0.0.1:0"
		if spec.BindAddr != "" {
			host, _, err := net.SplitHostPort(spec.BindAddr)
			if err != nil {
				return nil, nil, fmt.Errorf("spawnproc: bind address %q: %w", spec.BindAddr, err)
			}
			addr = net.JoinHostPort(host, "0")
		}
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("spawnproc: listen for child on %s: %w", addr, err)
		}
		listener = l
		cmd.Env = append(append(env, spec.Env...), EnvVar+"=tcp:"+l.Addr().String())
	default:
		return nil, nil, fmt.Errorf("spawnproc: unknown wire %v", spec.Wire)
	}
	if secretFile != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, secretFile)
		// ExtraFiles[i] is the child's descriptor 3+i.
		cmd.Env = append(cmd.Env, secretFDVar+"="+strconv.Itoa(2+len(cmd.ExtraFiles)))
	}

	// Start the child from a fresh goroutine: Linux sends the parent-death
	// signal when the forking *thread* exits (golang/go#27505), and the
	// caller may be locked to a thread that exits with it. A fresh
	// goroutine never runs on such a thread.
	started := make(chan error, 1)
	go func() { started <- cmd.Start() }()
	err := <-started
	if childFile != nil {
		childFile.Close() // the child has its copy
	}
	if err != nil {
		if parentEnd != nil {
			parentEnd.Close()
		}
		if listener != nil {
			listener.Close()
		}
		return nil, nil, fmt.Errorf("spawnproc: start %s: %w", path, err)
	}
	p := &Proc{cmd: cmd, done: make(chan struct{})}
	go p.reap()

	if listener != nil {
		c, err := acceptChild(ctx, listener, p)
		listener.Close()
		if err != nil {
			p.Kill()
			<-p.done
			return nil, nil, err
		}
		parentEnd = c
	}
	return p, parentEnd, nil
}

// environ returns this process's environment without the variables named
// in unset.
func environ(unset []string) []string {
	env := os.Environ()
	if len(unset) == 0 {
		return env
	}
	return slices.DeleteFunc(env, func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(unset, name)
	})
}

// secretPipe returns the read end of a pipe that holds secret, its write
// end closed, so that a child reading it gets the secret and then EOF. A
// pipe holds MaxSecret bytes at least, so writing does not block.
func secretPipe(secret []byte) (*os.File, error) {
	if len(secret) > MaxSecret {
		return nil, fmt.Errorf("spawnproc: secret of %d bytes: a child is handed at most %d", len(secret), MaxSecret)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("spawnproc: pipe for the child's secret: %w", err)
	}
	_, err = w.Write(secret)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("spawnproc: hand the child its secret: %w", err)
	}
	return r, nil
}

// acceptChild waits for the child to dial back, for ctx to end, or for the
// child to exit first.
func acceptChild(ctx context.Context, l net.Listener, p *Proc) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		got <- result{c, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			return nil, fmt.Errorf("spawnproc: accept child: %w", r.err)
		}
		return r.c, nil
	case <-ctx.Done():
		l.Close()
		if r := <-got; r.c != nil {
			r.c.Close()
		}
		return nil, fmt.Errorf("spawnproc: child did not connect back: %w", ctx.Err())
	case <-p.done:
		l.Close()
		if r := <-got; r.c != nil {
			r.c.Close()
		}
		return nil, fmt.Errorf("spawnproc: child exited before connecting back: %w", p.err)
	}
}

// reap waits for the process and records its status. Start runs it in a
// goroutine that Wait (or Done) lets the owner wait for.
func (p *Proc) reap() {
	err := p.cmd.Wait()
	p.err = err
	close(p.done)
}

// Pid returns the child's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and was reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits until the process has exited and was reaped, or ctx ends. It
// returns the exit status (nil for a clean exit, an *exec.ExitError
// otherwise) or ctx's error.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ExitErr returns the exit status once Done is closed, nil before.
func (p *Proc) ExitErr() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Signal sends sig to the process, unless it has already been reaped.
func (p *Proc) Signal(sig os.Signal) error {
	select {
	case <-p.done:
		return ErrExited
	default:
	}
	p.mu.Lock()
	p.signaled = append(p.signaled, sig)
	p.mu.Unlock()
	if err := p.cmd.Process.Signal(sig); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return ErrExited
		}
		return fmt.Errorf("spawnproc: signal %v to pid %d: %w", sig, p.Pid(), err)
	}
	return nil
}

// Kill sends SIGKILL; the process is reaped by the time Done closes.
func (p *Proc) Kill() { _ = p.Signal(syscall.SIGKILL) }

// Terminate is the last rungs of the cancellation ladder: SIGTERM, a wait
// of up to grace, then SIGKILL; it returns once the process is reaped.
func (p *Proc) Terminate(grace time.Duration) {
	if p.Signal(syscall.SIGTERM) != nil {
		<-p.done
		return
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.Kill()
		<-p.done
	}
}

// Signals returns the signals sent to the process so far, in order.
func (p *Proc) Signals() []os.Signal {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]os.Signal(nil), p.signaled...)
}

// IsChild reports whether this process was spawned as a child actor.
func IsChild() bool { _, ok := os.LookupEnv(EnvVar); return ok }

// ReadSecret returns the secret this child's parent handed it (see
// [Spec.Secret]), or nil if it handed none. It reads it once: call it
// first, before starting any program, and once; the descriptor is closed
// after.
func ReadSecret() ([]byte, error) {
	v, ok := os.LookupEnv(secretFDVar)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(secretFDVar)
	f, err := inherited(secretFDVar, v, v, "secret")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	secret, err := io.ReadAll(io.LimitReader(f, MaxSecret+1))
	if err != nil {
		return nil, fmt.Errorf("spawnproc: read secret from fd %s: %w", v, err)
	}
	if len(secret) > MaxSecret {
		return nil, fmt.Errorf("spawnproc: secret on fd %s is over %d bytes", v, MaxSecret)
	}
	return secret, nil
}

// inherited returns the file of the descriptor number fd, which the
// variable name set to v.
func inherited(name, v, fd, what string) (*os.File, error) {
	n, err := strconv.Atoi(fd)
	if err != nil {
		return nil, fmt.Errorf("spawnproc: bad %s=%q: %w", name, v, err)
	}
	f := os.NewFile(uintptr(n), what)
	if f == nil {
		return nil, fmt.Errorf("spawnproc: %s's fd %d is not open", what, n)
	}
	return f, nil
}

// ConnectParent returns this child's connection to its parent, from the
// environment the parent set. It unsets the variable, so the child's own
// children are spawned afresh.
func ConnectParent(ctx context.Context) (net.Conn, error) {
	v, ok := os.LookupEnv(EnvVar)
	if !ok {
		return nil, fmt.Errorf("spawnproc: %s not set: not a spawned child", EnvVar)
	}
	os.Unsetenv(EnvVar)
	kind, rest, _ := strings.Cut(v, ":")
	switch kind {
	case "pipe":
		f, err := inherited(EnvVar, v, rest, "parent")
		if err != nil {
			return nil, err
		}
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			return nil, fmt.Errorf("spawnproc: parent connection on fd %s: %w", rest, err)
		}
		return c, nil
	case "tcp":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", rest)
		if err != nil {
			return nil, fmt.Errorf("spawnproc: dial parent at %s: %w", rest, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("spawnproc: bad %s=%q", EnvVar, v)
}
