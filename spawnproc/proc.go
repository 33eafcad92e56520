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
//   - A TCP child is told from anyone else who connects to its port: it
//     sends first a random token its parent handed it through an
//     inherited pipe, and the parent drops every connection that does not,
//     holding a bounded number of them at once.
package spawnproc

import (
	"context"
	"crypto/rand"
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

// handoverFDVar names the descriptor of the handover: a pipe from which a
// child reads, once, what its parent hands it out of sight of /proc (see
// [Spec.Secret]). The number is no secret.
const handoverFDVar = "TRACTOR_SPAWN_HANDOVER_FD"

// The handover holds a byte giving the length of the dial-back token, the
// token, then the secret. A TCP child writes its token first on the
// connection it dials back, which tells it from anyone else who connects
// to the parent's port; a pipe child has none.
const (
	tokenSize = 32
	// minPipe is what any pipe holds before its reader reads: a page.
	minPipe = 4096
)

// MaxSecret is the longest [Spec.Secret]: with the dial-back token, what a
// pipe holds before its reader reads, so that handing them over never
// blocks.
const MaxSecret = minPipe - 1 - tokenSize

// The parent's side of the dial-back: anyone who can reach its port may
// connect first, and stay silent, send anything, or keep connecting.
// Each connection has tokenTimeout to send the child's token (which the
// child writes as soon as it is connected) and is dropped if it does not
// or sends another; at most maxDialBack are read at once, and a new
// connection beyond that drops the oldest, so that a flood costs bounded
// memory and cannot hold the child out.
const (
	tokenTimeout = time.Second
	maxDialBack  = 64
)

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
	// OnListen, if set, is called with the address a TCP child will dial
	// back, before the child starts: to log it, or for a test to connect
	// there first, as an intruder could.
	OnListen func(addr net.Addr)
	// Stdout and Stderr receive the child's output (default: this
	// process's own, so the user sees it).
	Stdout, Stderr io.Writer
}

// outputWaitDelay bounds how long reaping a child waits for its output
// to be copied after it exited.
const outputWaitDelay = 2 * time.Second

// Proc is a started child process. Its methods are safe for concurrent use.
type Proc struct {
	cmd  *exec.Cmd
	send func(os.Signal) error // cmd.Process.Signal; a fake in tests
	done chan struct{}         // closed once the process was reaped
	err  error                 // its exit status, set before done closes

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
	// A writer that is not a file is fed by a goroutine of cmd until the
	// pipe's end; a program the child started could hold it open past the
	// child's exit: reaping waits for it this long at most.
	cmd.WaitDelay = outputWaitDelay
	cmd.SysProcAttr = sysProcAttr()

	var (
		parentEnd    net.Conn
		listener     net.Listener
		childFile    *os.File
		handoverFile *os.File
		token        []byte
	)
	env := environ(spec.Unset)
	if spec.Wire == TCP {
		token = make([]byte, tokenSize)
		rand.Read(token) // never fails: it crashes the program instead
	}
	if len(token) > 0 || len(spec.Secret) > 0 {
		f, err := handoverPipe(token, spec.Secret)
		if err != nil {
			return nil, nil, err
		}
		handoverFile = f
		defer handoverFile.Close() // the child has its copy
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
		if spec.OnListen != nil {
			spec.OnListen(l.Addr())
		}
	default:
		return nil, nil, fmt.Errorf("spawnproc: unknown wire %v", spec.Wire)
	}
	if handoverFile != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, handoverFile)
		// ExtraFiles[i] is the child's descriptor 3+i.
		cmd.Env = append(cmd.Env, handoverFDVar+"="+strconv.Itoa(2+len(cmd.ExtraFiles)))
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
	p := &Proc{cmd: cmd, send: cmd.Process.Signal, done: make(chan struct{})}
	go p.reap()

	if listener != nil {
		c, err := acceptChild(ctx, listener, p, token)
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

// handoverPipe returns the read end of a pipe that holds the handover of
// token and secret (see [handoverFDVar]), its write end closed, so that a
// child reading it gets them and then EOF. A pipe holds a page at least,
// so writing does not block.
func handoverPipe(token, secret []byte) (*os.File, error) {
	if len(secret) > MaxSecret {
		return nil, fmt.Errorf("spawnproc: secret of %d bytes: a child is handed at most %d", len(secret), MaxSecret)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("spawnproc: pipe for the child's handover: %w", err)
	}
	b := make([]byte, 0, 1+len(token)+len(secret))
	b = append(append(append(b, byte(len(token))), token...), secret...)
	_, err = w.Write(b)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("spawnproc: hand the child its secret and token: %w", err)
	}
	return r, nil
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
	if err := p.send(sig); err != nil {
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
// [Spec.Secret]), or nil if it handed none. Call it first, before
// starting any program: the descriptor it is read from, which such a
// program would inherit, is closed once read.
func ReadSecret() ([]byte, error) {
	h, err := handedOver()
	return h.secret, err
}

// handover is what a child's parent handed it through the pipe named by
// [handoverFDVar].
type handover struct {
	token, secret []byte
}

// handedOver reads the handover, once, and closes its descriptor; nothing
// if the parent handed none.
var handedOver = sync.OnceValues(func() (handover, error) {
	v, ok := os.LookupEnv(handoverFDVar)
	if !ok {
		return handover{}, nil
	}
	os.Unsetenv(handoverFDVar)
	f, err := inherited(handoverFDVar, v, v, "handover")
	if err != nil {
		return handover{}, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, minPipe+1))
	if err != nil {
		return handover{}, fmt.Errorf("spawnproc: read the handover from fd %s: %w", v, err)
	}
	if len(b) == 0 || 1+int(b[0]) > len(b) || len(b)-1-int(b[0]) > MaxSecret {
		return handover{}, fmt.Errorf("spawnproc: malformed handover of %d bytes on fd %s", len(b), v)
	}
	n := 1 + int(b[0])
	h := handover{token: b[1:n:n]}
	if n < len(b) {
		h.secret = b[n:]
	}
	return h, nil
})

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
		h, err := handedOver()
		if err != nil {
			return nil, err
		}
		if len(h.token) == 0 {
			return nil, fmt.Errorf("spawnproc: no dial-back token handed over to reach the parent at %s", rest)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", rest)
		if err != nil {
			return nil, fmt.Errorf("spawnproc: dial parent at %s: %w", rest, err)
		}
		// First, the token that tells the parent this is its child.
		if _, err := c.Write(h.token); err != nil {
			c.Close()
			return nil, fmt.Errorf("spawnproc: send token to parent at %s: %w", rest, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("spawnproc: bad %s=%q", EnvVar, v)
}
