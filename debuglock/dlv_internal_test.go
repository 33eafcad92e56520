package debuglock

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestDelveInitFilesSwept: Delve's init files go to one directory per
// user, named by pid; each dlv command removes those of processes gone
// (killed from Delve, their cleanup never ran) and keeps those of live
// ones, and its cleanup removes its own.
func TestDelveInitFilesSwept(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", home) // os.UserCacheDir on Unix
	t.Setenv("HOME", home)           // on macOS
	done := exec.Command("true")
	if err := done.Run(); err != nil {
		t.Fatal(err)
	}
	dead, live := strconv.Itoa(done.Process.Pid), strconv.Itoa(os.Getppid())
	dir, _, err := initDir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dir, home) {
		t.Fatalf("init files in %s; want the user's cache directory, in %s", dir, home)
	}
	for _, name := range []string{dead + ".init", dead + ".star", live + ".star", "notes"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	initFile, cleanup, err := writeInit(7, "/src/x.go:3 (main.f)", 1)
	if err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid())
	if want := []string{live + ".star", "notes", self + ".init", self + ".star"}; !slices.Equal(names(t, dir), sortedCopy(want)) {
		t.Fatalf("the directory holds %v; want %v", names(t, dir), want)
	}
	b, err := os.ReadFile(initFile)
	if err != nil || string(b) != "source "+filepath.Join(dir, self+".star")+"\n" {
		t.Fatalf("init file %s: %q, %v", initFile, b, err)
	}
	star, err := os.ReadFile(filepath.Join(dir, self+".star"))
	if err != nil || !strings.Contains(string(star), "want_line = 3\n") || !strings.Contains(string(star), "want_below = 1\n") {
		t.Fatalf("script: %s, %v", star, err)
	}
	cleanup()
	if want := sortedCopy([]string{live + ".star", "notes"}); !slices.Equal(names(t, dir), want) {
		t.Fatalf("after cleanup the directory holds %v; want %v", names(t, dir), want)
	}
}

// names returns the sorted names in dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// sortedCopy returns s sorted, as os.ReadDir sorts names.
func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
