package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	tractortest.Setup()
	goleak.VerifyTestMain(m)
}

const testSecret = "ps-test-secret"

var (
	// busy holds a task running in its actor until cancelled.
	busy = tractor.Ctx("pstest.busy", func(c *tractor.Context, _ bool) (bool, error) {
		if err := c.Started(true); err != nil {
			return false, err
		}
		<-c.Done()
		return true, nil
	})
	// spawnLeaf starts a goroutine actor named "leaf" under its actor and
	// holds it until cancelled.
	spawnLeaf = tractor.Ctx("pstest.spawn-leaf", func(c *tractor.Context, _ bool) (bool, error) {
		err := tractor.OpenNursery(c, func(ctx context.Context, n *tractor.Nursery) error {
			// A goroutine, not proc's hosting, which it would inherit.
			if _, err := n.StartActor(ctx, "leaf", tractor.Spawn(tractor.Goroutine)); err != nil {
				return err
			}
			if err := c.Started(true); err != nil {
				return err
			}
			<-ctx.Done()
			n.Cancel()
			return nil
		})
		return true, err
	})
)

// withTree runs f against a program whose root, "pstest-root", has a
// process child "proc" (which has a goroutine child "leaf") and a
// goroutine child "gor" running one task; f gets the root's address.
func withTree(t *testing.T, f func(ctx context.Context, addr string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			proc, err := n.StartActor(ctx, "proc", tractor.Spawn(tractor.Process), tractor.Expose(spawnLeaf))
			if err != nil {
				return err
			}
			gor, err := n.StartActor(ctx, "gor", tractor.Expose(busy))
			if err != nil {
				return err
			}
			held, err := spawnLeaf.Open(ctx, proc, true)
			if err != nil {
				return err
			}
			defer held.Cancel()
			running, err := busy.Open(ctx, gor, true)
			if err != nil {
				return err
			}
			defer running.Cancel()
			f(ctx, tractor.CurrentActor(ctx).Addr())
			n.Cancel()
			return nil
		})
	}, tractor.Name("pstest-root"), tractor.Secret(testSecret))
	if err != nil {
		t.Fatalf("the program: %v", err)
	}
}

// TestPSTree runs ps against a program with goroutine and process actors
// at three levels and checks the tree it sees and prints.
func TestPSTree(t *testing.T) {
	withTree(t, func(ctx context.Context, addr string) {
		states, err := ps(ctx, addr, testSecret)
		if err != nil {
			t.Errorf("ps: %v", err)
			return
		}
		byName := make(map[string]tractor.ActorState)
		for _, s := range states {
			if s.Err != nil {
				t.Errorf("actor %s: %v", s.ID, s.Err)
			}
			if _, dup := byName[s.ID.Name]; dup {
				t.Errorf("two actors named %q", s.ID.Name)
			}
			byName[s.ID.Name] = s
		}
		if len(states) != 4 {
			t.Errorf("ps saw %d actors, want 4 (ps's own left out): %+v", len(states), states)
		}
		root, proc, leaf, gor := byName["pstest-root"], byName["proc"], byName["leaf"], byName["gor"]
		me := os.Getpid()
		for _, c := range []struct {
			s       tractor.ActorState
			name    string
			parent  tractor.ActorID
			hosting tractor.Hosting
			pid     int
			tasks   int
		}{
			{root, "pstest-root", tractor.ActorID{}, tractor.Process, me, 0},
			{proc, "proc", root.ID, tractor.Process, proc.PID, 1}, // spawnLeaf holds leaf
			{leaf, "leaf", proc.ID, tractor.Goroutine, proc.PID, 0},
			{gor, "gor", root.ID, tractor.Goroutine, me, 1}, // busy runs
		} {
			s := c.s
			if s.ID.Name != c.name {
				t.Errorf("no actor %q in %+v", c.name, states)
				continue
			}
			if s.Parent != c.parent || s.Hosting != c.hosting || s.PID != c.pid || s.Tasks != c.tasks {
				t.Errorf("%s: parent %v, hosting %v, pid %d, tasks %d; want %v, %v, %d, %d",
					c.name, s.Parent, s.Hosting, s.PID, s.Tasks, c.parent, c.hosting, c.pid, c.tasks)
			}
			if s.Started.IsZero() || s.Started.After(time.Now()) {
				t.Errorf("%s: started at %v", c.name, s.Started)
			}
			if _, _, err := net.SplitHostPort(s.Addr); err != nil {
				t.Errorf("%s: addr %q: %v", c.name, s.Addr, err)
			}
		}
		if proc.PID == me || proc.PID == 0 {
			t.Errorf("the process actor's pid is %d; the test's is %d", proc.PID, me)
		}
		if gor.Dialogs != 1 {
			t.Errorf("gor: %d dialogs open, want 1 (busy's)", gor.Dialogs)
		}
		if root.Dialogs < 2 {
			t.Errorf("root: %d dialogs open, want at least 2 (busy's and spawnLeaf's)", root.Dialogs)
		}

		var out bytes.Buffer
		if err := renderTree(&out, states, time.Now()); err != nil {
			t.Fatal(err)
		}
		t.Logf("tractor ps %s:\n%s", addr, out.String())
		// Siblings in the registrar's order, by name: gor, then proc.
		lines := strings.Split(out.String(), "\n")
		for i, prefix := range []string{"ACTOR ", "pstest-root ", "├── gor ", "└── proc ", "    └── leaf "} {
			if i >= len(lines) || !strings.HasPrefix(lines[i], prefix) {
				t.Errorf("row %d of the tree does not begin with %q:\n%s", i, prefix, out.String())
			}
		}
	})
}

// TestPSErrors checks that ps names what went wrong: a wrong secret,
// nothing listening at the address, no secret at all.
func TestPSErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	withTree(t, func(ctx context.Context, addr string) {
		if _, err := ps(ctx, addr, "not-"+testSecret); !errors.Is(err, errWrongSecret) {
			t.Errorf("ps with a wrong secret: %v, want errWrongSecret", err)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := ln.Addr().String()
	ln.Close()
	if _, err := ps(ctx, free, testSecret); !errors.Is(err, errUnreachable) {
		t.Errorf("ps at %s, where nothing listens: %v, want errUnreachable", free, err)
	}
	if _, err := ps(ctx, free, ""); !errors.Is(err, errNoSecret) {
		t.Errorf("ps without a secret: %v, want errNoSecret", err)
	}
}

// TestRenderTree checks the tree's layout: siblings in the order given,
// deeper levels indented under a bar while siblings follow, an actor
// whose parent is not listed at the top level, an unreachable actor's
// error in place of its stats.
func TestRenderTree(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	id := func(name, uid string) tractor.ActorID { return tractor.ActorID{Name: name, UID: uid} }
	st := func(name, uid string, parent tractor.ActorID, h tractor.Hosting, pid int, age time.Duration, dialogs, tasks int) tractor.ActorState {
		return tractor.ActorState{
			ActorInfo: tractor.ActorInfo{ID: id(name, uid), Parent: parent, Hosting: h, PID: pid, Addr: "127.0.0.1:7000"},
			Started:   now.Add(-age), Dialogs: dialogs, Tasks: tasks,
		}
	}
	root := id("root", "r0000000")
	a, b := id("a", "a0000000"), id("b", "b0000000")
	gone := st("gone", "g0000000", a, tractor.Goroutine, 10, 0, 0, 0)
	gone.Err = errors.New("actor gone")
	states := []tractor.ActorState{
		st("root", root.UID, tractor.ActorID{}, tractor.Process, 10, 90*time.Minute, 2, 0),
		st("a", a.UID, root, tractor.Goroutine, 10, 1500*time.Millisecond, 1, 1),
		st("a1", "a1000000", a, tractor.Goroutine, 10, 250*time.Millisecond, 0, 0),
		gone,
		st("b", b.UID, root, tractor.Process, 11, 26*time.Hour, 0, 3),
		st("b1", "b1000000", b, tractor.Goroutine, 11, time.Second, 0, 0),
		st("orphan", "o0000000", id("x", "x0000000"), tractor.Goroutine, 12, time.Second, 0, 0),
	}
	var out bytes.Buffer
	if err := renderTree(&out, states, now); err != nil {
		t.Fatal(err)
	}
	want := `ACTOR         UID       HOSTING    PID  ADDR            PARENT          UPTIME    DIALOGS  TASKS
root          r0000000  process    10   127.0.0.1:7000  -               1h30m0s   2        0
├── a         a0000000  goroutine  10   127.0.0.1:7000  root[r0000000]  2s        1        1
│   ├── a1    a1000000  goroutine  10   127.0.0.1:7000  a[a0000000]     250ms     0        0
│   └── gone  g0000000  goroutine  10   127.0.0.1:7000  a[a0000000]     ?         ?        ? (actor gone)
└── b         b0000000  process    11   127.0.0.1:7000  root[r0000000]  1d2h0m0s  0        3
    └── b1    b1000000  goroutine  11   127.0.0.1:7000  b[b0000000]     1s        0        0
orphan        o0000000  goroutine  12   127.0.0.1:7000  x[x0000000]     1s        0        0
`
	if got := out.String(); got != want {
		t.Errorf("renderTree printed\n%s\nwant\n%s", got, want)
	}
}
