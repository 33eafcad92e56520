package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
)

// The raw peer of conformance_test.go, on the parts of PROTOCOL.md that
// reach past one dialog: flow control (§8), the actor-level messages on
// CID 0 (§6), the error tree's limits (§9.3) and the registrar (§11).

// confRun runs body in a root listening on loopback with the conformance
// secret, which logs to logs.
func confRun(t *testing.T, logs *confLog, body func(ctx context.Context, addr string, root tractor.ActorID) error, opts ...tractor.Option) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), confDeadline)
	defer cancel()
	opts = append([]tractor.Option{tractor.ListenAddr("127.0.0.1:0"), tractor.Secret(confSecret), tractor.LogOutput(logs)}, opts...)
	err := tractor.Run(ctx, func(ctx context.Context) error {
		self := tractor.CurrentActor(ctx)
		return body(ctx, self.Addr(), self.ID())
	}, opts...)
	if err != nil {
		t.Errorf("Run: %v", err)
	}
	if t.Failed() {
		t.Logf("runtime's log:\n%s", logs.buf.String())
	}
}

// §8 Enforcement: a yield past the window the receiver announced fails
// that dialog with a tractor.ProtocolError; the connection stays up.
func TestConformanceFlowOverrun(t *testing.T) {
	logs := newConfLog()
	confRun(t, logs, func(ctx context.Context, addr string, root tractor.ActorID) error {
		cc := confDial(t, addr)
		cc.shake(root.UID)
		// sleeper sends started (announcing its window) and never opens
		// its stream, so it grants nothing back.
		cc.sendWindow(kindCmd, 1, "test.sleeper", 3, 16, 1<<20, map[string]any{})
		m := expect(t, cc.next(1), kindStarted)
		if m.Credit == 0 || m.Credit > 1<<16 {
			t.Fatalf("§8: started announces %d items", m.Credit)
		}
		// Exactly the window is allowed: the runtime reads a connection's
		// messages in order, so once a call sent after the window's items
		// is answered, they were all taken without a protocol error.
		const overrun = "peer sent past its credit window"
		before, _ := logs.count(overrun)
		for range m.Credit {
			cc.send(kindYield, 1, "", 0, 1)
		}
		cc.send(kindCmd, 3, "test.square", 1, 4)
		for {
			r := cc.readMsg()
			if r.CID == 1 && r.Kind != kindCredit {
				t.Fatalf("§8: dialog 1 got kind %d within its window of %d items", r.Kind, m.Credit)
			}
			if r.CID == 3 {
				if v := confValue[int](t, expect(t, r, kindReturn)); v != 16 {
					t.Fatalf("square = %d, want 16", v)
				}
				if n, _ := logs.count(overrun); n != before {
					t.Fatalf("§8: %d items, exactly the window, were taken for an overrun", m.Credit)
				}
				break
			}
		}
		// One more is the overrun.
		cc.send(kindYield, 1, "", 0, 1)
		// The callee fails the dialog and cancels its task, which answers
		// as any task its own actor cancelled.
		e := confValue[struct {
			confRemoteError
			Canceller tractor.ActorID
		}](t, expect(t, cc.final(1), kindError))
		if e.Code != "context_cancelled" || e.Canceller != root {
			t.Errorf("§8: the overrun dialog ended with %+v; want context_cancelled by %v", e, root)
		}
		// §8: the connection stays up: a new dialog on it is served.
		cc.send(kindCmd, 5, "test.square", 1, 5)
		if v := confValue[int](t, expect(t, cc.final(5), kindReturn)); v != 25 {
			t.Fatalf("after the overrun: square = %d, want 25", v)
		}
		cc.c.Close()
		return nil
	}, tractor.Expose(sleeper, square))
}

// §8 Enforcement, the bytes: a peer may send while bytes in flight are
// under the window; one yield past it fails the dialog.
func TestConformanceFlowOverrunBytes(t *testing.T) {
	logs := newConfLog()
	confRun(t, logs, func(ctx context.Context, addr string, root tractor.ActorID) error {
		cc := confDial(t, addr)
		cc.shake(root.UID)
		cc.sendWindow(kindCmd, 1, "test.sleeper", 3, 16, 1<<20, map[string]any{})
		m := expect(t, cc.next(1), kindStarted)
		// Items big enough that the byte window, not the item window,
		// is what the peer overruns.
		item := make([]byte, m.Bytes/4+1)
		for range 5 {
			cc.send(kindYield, 1, "", 0, item)
		}
		expect(t, cc.final(1), kindError)
		cc.send(kindCmd, 3, "test.square", 1, 6)
		if v := confValue[int](t, expect(t, cc.final(3), kindReturn)); v != 36 {
			t.Fatalf("after the overrun: square = %d, want 36", v)
		}
		cc.c.Close()
		return nil
	}, tractor.Expose(sleeper, square))
	if n, _ := logs.count("peer sent past its credit window"); n != 1 {
		t.Errorf("§8: %d protocol-error warnings logged, want 1", n)
	}
}

// §6 CID 0: cancel on id 0 asks the actor the connection reached to
// cancel itself; it ends, closing its connections to peers (only its
// parent gets a stop on id 0).
func TestConformanceCancelActor(t *testing.T) {
	confRun(t, newConfLog(), func(ctx context.Context, addr string, root tractor.ActorID) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "target", tractor.Expose(square))
			if err != nil {
				return err
			}
			cc := confDial(t, addr)
			cc.shake(p.Actor().UID)
			cc.send(kindCmd, 1, "test.square", 1, 3)
			if v := confValue[int](t, expect(t, cc.final(1), kindReturn)); v != 9 {
				t.Fatalf("square = %d, want 9", v)
			}
			cc.send(kindCancel, 0, "", 0, map[string]any{"Name": confPeer.Name, "UID": confPeer.UID})
			cc.closed()
			// The daemon ended: the nursery, which waits for it, returns.
			return nil
		})
	})
}

// §9.3 Tree limits: a sender cuts an error tree to 32 levels and 256
// errors, keeping the text of what it cut.
func TestConformanceErrorTreeLimits(t *testing.T) {
	confRun(t, newConfLog(), func(ctx context.Context, addr string, root tractor.ActorID) error {
		cc := confDial(t, addr)
		cc.shake(root.UID)
		for i, c := range []struct {
			shape        string
			depth, width int // of the tree the endpoint fails with
			wantDepth    int // of the tree sent: cut to the limits
			wantNodes    int
		}{
			{"deep", 40, 1, 32, 63},  // a member and a leaf per level
			{"wide", 2, 300, 2, 256}, // 302 errors, cut to 256
		} {
			cid := uint64(2*i + 1)
			cc.send(kindCmd, cid, "test.errorTree", 1, []int{c.depth, c.width})
			m := expect(t, cc.final(cid), kindError)
			var tree confErrorTree
			if err := msgpack.Unmarshal(m.Payload, &tree); err != nil {
				t.Fatalf("§9.3: %v", err)
			}
			depth, nodes := tree.measure(1)
			if depth != c.wantDepth || nodes != c.wantNodes {
				t.Errorf("§9.3: %s tree sent %d deep with %d errors; want %d and %d (limits 32 deep, 256 errors)", c.shape, depth, nodes, c.wantDepth, c.wantNodes)
			}
		}
		cc.c.Close()
		return nil
	}, tractor.Expose(errorTree))
}

// confErrorTree is a §9.3 payload as a tree of members.
type confErrorTree struct {
	Message string
	Errors  []confErrorTree
}

// measure returns the depth of the tree at e, counted from d, and its
// number of errors.
func (e confErrorTree) measure(d int) (depth, nodes int) {
	depth, nodes = d, 1
	for _, m := range e.Errors {
		md, mn := m.measure(d + 1)
		depth = max(depth, md)
		nodes += mn
	}
	return depth, nodes
}

// errorTree fails with a joined error nested depth levels deep, each
// level holding width leaves besides the next level.
var errorTree = tractor.Func("test.errorTree", func(ctx context.Context, shape []int) (int, error) {
	depth, width := shape[0], shape[1]
	var err error = errors.New("bottom")
	for d := range depth - 1 {
		members := []error{err}
		for w := range width {
			members = append(members, fmt.Errorf("leaf %d.%d", d, w))
		}
		err = errors.Join(members...)
	}
	return 0, err
})

// §11: the registrar's endpoints over a connection that asks for uid "";
// entries registered over a connection are removed when it ends.
func TestConformanceRegistrar(t *testing.T) {
	type info struct {
		ID      tractor.ActorID
		Hosting int
		PID     int
		Addr    string
	}
	confRun(t, newConfLog(), func(ctx context.Context, addr string, root tractor.ActorID) error {
		cc := confDial(t, addr)
		h := cc.shake("")
		var w struct {
			ID      tractor.ActorID
			Refused string
		}
		if err := msgpack.Unmarshal(h.Info, &w); err != nil || w.Refused != "" || w.ID != root {
			t.Fatalf("§11: welcome from the registrar = %+v (%v); want the root %v", w, err, root)
		}
		me := info{ID: tractor.ActorID{Name: "raw-registered", UID: "raw-registered-uid"}, Hosting: 1, PID: 1, Addr: "127.0.0.1:1"}
		cc.send(kindCmd, 1, "tractor.registrar.register", 1, me)
		if ok := confValue[bool](t, expect(t, cc.final(1), kindReturn)); !ok {
			t.Fatal("§11: register returned false")
		}
		// §11: an entry must say where to dial it.
		nowhere := info{ID: tractor.ActorID{Name: "raw-nowhere", UID: "raw-nowhere-uid"}, Hosting: 1, PID: 1}
		cc.send(kindCmd, 13, "tractor.registrar.register", 1, nowhere)
		if e := confValue[confRemoteError](t, expect(t, cc.final(13), kindError)); e.Code != "bad_argument" || !strings.Contains(e.Message, "empty Addr") {
			t.Errorf("§11: register with an empty Addr failed with %+v; want bad_argument naming Addr", e)
		}
		cc.send(kindCmd, 15, "tractor.registrar.find", 1, nowhere.ID.Name)
		if found := confValue[[]info](t, expect(t, cc.final(15), kindReturn)); len(found) != 0 {
			t.Errorf("§11: find = %+v after a refused register", found)
		}
		cc.send(kindCmd, 3, "tractor.registrar.find", 1, me.ID.Name)
		found := confValue[[]info](t, expect(t, cc.final(3), kindReturn))
		if len(found) != 1 || found[0].ID != me.ID || found[0].Addr != me.Addr {
			t.Fatalf("§11: find = %+v, want the entry registered", found)
		}
		cc.send(kindCmd, 5, "tractor.registrar.list", 1, true)
		names := map[string]bool{}
		for _, e := range confValue[[]info](t, expect(t, cc.final(5), kindReturn)) {
			names[e.ID.Name] = true
		}
		if !names[me.ID.Name] || !names[root.Name] {
			t.Fatalf("§11: list = %v; want the root and the raw entry", names)
		}
		// The runtime sees the entry too.
		if infos, err := tractor.Actors(ctx); err != nil || !hasActor(infos, me.ID) {
			t.Fatalf("Actors = %v, %v; want the raw entry", infos, err)
		}
		cc.send(kindCmd, 7, "tractor.registrar.unregister", 1, me.ID.UID)
		expect(t, cc.final(7), kindReturn)
		cc.send(kindCmd, 9, "tractor.registrar.find", 1, me.ID.Name)
		if found := confValue[[]info](t, expect(t, cc.final(9), kindReturn)); len(found) != 0 {
			t.Fatalf("§11: find after unregister = %+v", found)
		}
		// Registered again, then the connection ends: the entry goes.
		cc.send(kindCmd, 11, "tractor.registrar.register", 1, me)
		expect(t, cc.final(11), kindReturn)
		cc.c.Close()
		// No event tells a remote program that the registrar saw the
		// connection end: ask as a user would, until it has.
		tractortest.Eventually(t, confDeadline, func() error {
			infos, err := tractor.Actors(ctx)
			if err == nil && hasActor(infos, me.ID) {
				err = fmt.Errorf("§11: the entry outlived the connection that registered it")
			}
			return err
		})
		return nil
	})
}

func hasActor(infos []tractor.ActorInfo, id tractor.ActorID) bool {
	for _, in := range infos {
		if in.ID == id {
			return true
		}
	}
	return false
}
