package tractortest_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor/tractortest"
)

// kinRoleEnv tells the test binary, re-executed, which process of
// TestKin to play.
const kinRoleEnv = "TRACTORTEST_KIN_ROLE"

// playKinRole plays the role kinRoleEnv names, and exits, or returns if
// none is set: a "sleeper" waits for its stdin to close; a "middle"
// starts a sleeper with its own environment and stdin, as spawnproc
// starts a child, prints its pid and exits, orphaning it.
func playKinRole() {
	switch os.Getenv(kinRoleEnv) {
	case "":
		return
	case "sleeper":
		io.Copy(io.Discard, os.Stdin)
	case "middle":
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), kinRoleEnv+"=sleeper")
		cmd.Stdin = os.Stdin
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(cmd.Process.Pid)
	}
	os.Exit(0)
}

// TestKin checks that Kin finds an orphaned grandchild of this process,
// reparented away from its tree, and not a copy of this executable in
// this process group that another test process started, as a second copy
// of the test binary run from the same script is: its processes carry
// that process's mark, not this one's.
func TestKin(t *testing.T) {
	stdin, feed, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	closed := false
	defer func() {
		if !closed {
			feed.Close()
		}
	}()

	// Another test process's tree: its mark is not ours.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "TRACTORTEST_KIN=") })
	stranger := exec.Command(os.Args[0])
	stranger.Env = append(env, "TRACTORTEST_KIN=1.2", kinRoleEnv+"=sleeper")
	stranger.Stdin = stdin
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	defer stranger.Wait()

	middle := exec.Command(os.Args[0])
	middle.Env = append(os.Environ(), kinRoleEnv+"=middle")
	middle.Stdin = stdin
	out, err := middle.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := middle.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if werr := middle.Wait(); err != nil || werr != nil {
		t.Fatalf("middle: %q, %v, %v", line, err, werr)
	}
	orphan, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	orphanProc, ok := tractortest.ProcOf(orphan)
	if !ok {
		t.Fatalf("orphan %d is gone before its stdin closed", orphan)
	}

	kin := tractortest.Kin()
	if !slices.Contains(kin, orphan) {
		t.Errorf("Kin() = %v, without the orphaned grandchild %d", kin, orphan)
	}
	if slices.Contains(kin, stranger.Process.Pid) {
		t.Errorf("Kin() = %v, with %d, of another test process's tree", kin, stranger.Process.Pid)
	}

	feed.Close()
	closed = true
	tractortest.Eventually(t, 20*time.Second, func() error {
		if orphanProc.Alive() {
			return fmt.Errorf("orphan %d still runs once its stdin closed", orphan)
		}
		return nil
	})
}
