//go:build unix

package transport_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/tractor-go/tractor/transport"
)

func TestSocketpairIsCloseOnExec(t *testing.T) {
	parent, child, err := transport.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()
	defer child.Close()
	for _, f := range []*os.File{parent, child} {
		flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETFD, 0)
		if errno != 0 {
			t.Fatalf("fcntl(%s): %v", f.Name(), errno)
		}
		if flags&syscall.FD_CLOEXEC == 0 {
			t.Fatalf("%s is not close-on-exec", f.Name())
		}
	}
}

// childEnv marks the re-executed test binary as the child end.
const childEnv = "TRANSPORT_TEST_SOCKETPAIR_CHILD"

// TestSocketpairSubprocess hands the child end of a socketpair to a
// subprocess (this test binary, re-executed) as an extra file, as the
// runtime's process spawning does, and talks to it: both ends speak the
// same framing, and the subprocess sees EOF when the parent closes.
func TestSocketpairSubprocess(t *testing.T) {
	parentEnd, childEnd, err := transport.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.ExtraFiles = []*os.File{childEnd}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	childEnd.Close() // the child has its copy
	c, err := transport.FileConn(parentEnd, transport.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	peer, err := c.Handshake(ctx, transport.Hello{Info: "parent"})
	if err != nil {
		t.Fatal(err)
	}
	if name := decodeAs[string](t, peer.Info); name != "child" {
		t.Fatalf("child introduced itself as %q", name)
	}
	s := serve(t, c)
	const n = 100
	for i := range n {
		if err := c.Send(ctx, yield(uint64(i), i*i)); err != nil {
			t.Fatal(err)
		}
	}
	got := s.col.waitN(t, n)
	for i, m := range got {
		if m.CID != uint64(i) || decodeAs[int](t, m.Payload) != i*i {
			t.Fatalf("echo %d: %+v", i, m)
		}
	}
	c.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// socketpairChildEcho is the subprocess of TestSocketpairSubprocess, run
// from TestMain: it echoes every message on descriptor 3 until the parent
// closes, and returns the exit status.
func socketpairChildEcho() int {
	c, err := transport.FileConn(os.NewFile(3, "tractor"), transport.DefaultConfig())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer c.Close()
	if _, err := c.Handshake(context.Background(), transport.Hello{Info: "child"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	// deliver must not Send on its own connection: echo from a goroutine.
	echo := make(chan transport.Msg, 1024)
	done := make(chan int)
	go func() {
		status := 0
		for m := range echo {
			if status == 0 && c.Send(context.Background(), m) != nil {
				status = 3
			}
		}
		done <- status
	}()
	err = c.Serve(func(m transport.Msg) { echo <- m })
	close(echo)
	status := <-done
	if err != io.EOF {
		fmt.Fprintln(os.Stderr, "Serve returned", err, "want io.EOF")
		return 4
	}
	return status
}
