package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// faultHostings are the hostings whose children's connections carry
// injected faults: goroutine actors under WireCheck stream and run context
// dialogs over an in-memory connection; byRef ones stream through memory
// and call inline, passing through no connection at all.
var faultHostings = []hosting{goroutines, processPipe, processTCP}

var (
	// burstSent is signalled by burst once it has sent all its items.
	burstSent = make(chan struct{}, 1)
	// burst yields n items without waiting for its caller, then signals
	// burstSent.
	burst = tractor.Stream("test.faults.burst", func(ctx context.Context, n int, yield func(int) error) error {
		for i := range n {
			if err := yield(i); err != nil {
				return err
			}
		}
		burstSent <- struct{}{}
		return nil
	})
	// hold opens a two-way stream and receives nothing, until its
	// dialog ends.
	hold = tractor.Ctx("test.faults.hold", func(c *tractor.Context, _ struct{}) (int, error) {
		if err := c.Started(""); err != nil {
			return 0, err
		}
		s, err := tractor.OpenStream[int, int](c)
		if err != nil {
			return 0, err
		}
		defer s.Close()
		<-c.Done()
		return 0, context.Cause(c)
	})
	// burstWait returns once burst has sent all its items: over one
	// connection, after them.
	burstWait = tractor.Func("test.faults.burstWait", func(ctx context.Context, _ struct{}) (int, error) {
		select {
		case <-burstSent:
			return 1, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
)

// dialogs runs a call, a stream and a context dialog with p's actor and
// checks their values; it returns the first error, naming its dialog.
func dialogs(ctx context.Context, p *tractor.Portal) error {
	if v, err := square.Call(ctx, p, 7); err != nil || v != 49 {
		return fmt.Errorf("square(7) = %d, %w", v, err)
	}
	s, err := count.Open(ctx, p, 30)
	if err != nil {
		return fmt.Errorf("count: %w", err)
	}
	for i := 0; ; i++ {
		v, err := s.Receive(ctx)
		if errors.Is(err, io.EOF) && i == 30 {
			break
		}
		if err != nil || v != i {
			s.Close()
			return fmt.Errorf("count item %d = %d, %w", i, v, err)
		}
	}
	c, err := echo.Open(ctx, p, "hi")
	if err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	es, err := tractor.OpenStream[int, int](c)
	if err != nil {
		return fmt.Errorf("echo stream: %w", err)
	}
	for i := range 10 {
		if err := es.Send(ctx, i); err != nil {
			return fmt.Errorf("echo send %d: %w", i, err)
		}
		if v, err := es.Receive(ctx); err != nil || v != i {
			return fmt.Errorf("echo item %d = %d, %w", i, v, err)
		}
	}
	es.Close()
	if n, err := echo.Result(ctx, c); err != nil || n != 10 {
		return fmt.Errorf("echo result %d, %w", n, err)
	}
	return nil
}

// TestInjectFaultsBenign: delays, short writes and frames split at random
// points or at every byte, both ways, change no value: every dialog with a
// child succeeds.
func TestInjectFaultsBenign(t *testing.T) {
	for _, f := range []transport.Faults{
		{Seed: 1, Delay: 200 * time.Microsecond, SplitWrites: true, SplitReads: true},
		{Seed: 2, EveryByte: true},
	} {
		for _, h := range faultHostings {
			t.Run(fmt.Sprintf("%s/%d", h.name, f.Seed), func(t *testing.T) {
				withWorker(t, h, eps(square, count, echo), func(ctx context.Context, p *tractor.Portal) {
					if err := dialogs(ctx, p); err != nil {
						t.Error(err)
					}
				}, tractor.InjectFaults(f))
			})
		}
	}
}

// lose runs dialogs with an actor over a connection with faults f until
// one fails, and checks that it failed with ErrActorGone naming the actor,
// that the tree's error is nothing or that actor's loss, and that no
// process is left. It returns the dialog's error.
func lose(t *testing.T, h hosting, f transport.Faults) error {
	t.Helper()
	var victim tractor.ActorID
	var dialogErr error
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "victim", tractor.Expose(square, count, echo))
			if err != nil {
				return err
			}
			victim = p.Actor()
			for dialogErr == nil {
				dialogErr = dialogs(ctx, p)
			}
			return nil
		})
	}, tractor.InjectFaults(f))
	if !errors.Is(dialogErr, tractor.ErrActorGone) || asRemote(t, dialogErr).Actor != victim {
		t.Errorf("dialog over the faulty link: %v, want ErrActorGone from %v", dialogErr, victim)
	}
	if err != nil && (!errors.Is(err, tractor.ErrActorGone) || asRemote(t, err).Actor != victim) {
		t.Errorf("tree: %v, want nothing or the victim's loss", err)
	}
	if pids := descendants(); len(pids) > 0 {
		t.Errorf("processes left: %v", pids)
	}
	return dialogErr
}

// TestInjectFaultsDisconnect: a connection cut after N frames (process
// actors: handshake included) or messages (goroutine actors) fails the
// dialogs open on it with ErrActorGone naming the actor, never a wrong
// value, and the nursery reports the actor's death.
func TestInjectFaultsDisconnect(t *testing.T) {
	for _, h := range faultHostings {
		for _, after := range []int{6, 9, 14} {
			t.Run(fmt.Sprintf("%s/%d", h.name, after), func(t *testing.T) {
				lose(t, h, transport.Faults{Seed: 3, DisconnectAfter: after})
			})
		}
	}
}

// TestInjectFaultsCorrupt: a corrupted frame, whichever way it goes, fails
// the dialogs of its connection with ErrActorGone naming the actor (the
// reader of the frame drops the connection, and the child exits); a
// dialog either succeeds with its value or fails, never delivers a wrong
// one. A frame the parent read corrupted is the cause its error keeps:
// it matches transport.ErrMalformed too, and says "malformed", though the
// child exited cleanly. Goroutine actors exchange no bytes: this is a
// test of process actors.
func TestInjectFaultsCorrupt(t *testing.T) {
	for _, h := range processHostings {
		for seed := range uint64(6) { // both directions are drawn
			t.Run(fmt.Sprintf("%s/%d", h.name, seed), func(t *testing.T) {
				log := &transport.FaultLog{}
				err := lose(t, h, transport.Faults{Seed: seed, Corrupt: 12, Log: log})
				ev := log.Events()
				if len(ev) != 1 || !strings.Contains(ev[0], "corrupt frame 12") {
					t.Fatalf("faults %q, want one corruption", ev)
				}
				if strings.HasPrefix(ev[0], "read:") &&
					(!errors.Is(err, transport.ErrMalformed) || !strings.Contains(err.Error(), "malformed")) {
					t.Errorf("dialog after the parent read a corrupted frame: %v, want it to match and name transport.ErrMalformed", err)
				}
			})
		}
	}
}

// TestInjectFaultsIgnoreCredit: a child told a window far larger than the
// one its parent receives with sends beyond it; the parent fails that
// stream with a protocol error naming the child and the window, and the
// other dialogs with the child go on.
func TestInjectFaultsIgnoreCredit(t *testing.T) {
	for _, h := range faultHostings {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(burst, burstWait, square, count, echo), func(ctx context.Context, p *tractor.Portal) {
				s, err := burst.Open(ctx, p, 20, tractor.Window(2, 1<<20))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if _, err := burstWait.Call(ctx, p, struct{}{}); err != nil {
					t.Fatal(err)
				}
				var got []int
				for {
					v, err := s.Receive(ctx)
					if err != nil {
						var re *tractor.RemoteError
						if !errors.As(err, &re) || re.Type != "tractor.ProtocolError" || re.Actor != p.Actor() ||
							!strings.Contains(re.Message, "window of 2 items") {
							t.Errorf("stream past its window: %v after %v, want the protocol error", err, got)
						}
						break
					}
					got = append(got, v)
				}
				if len(got) > 2 {
					t.Errorf("received %v, more than the window of 2", got)
				}
				if err := dialogs(ctx, p); err != nil {
					t.Errorf("other dialogs after the overrun: %v", err)
				}
			}, tractor.InjectFaults(transport.Faults{Seed: 4, IgnoreCredit: true}))
		})
	}
}

// TestInjectFaultsIgnoreCreditReverse: a parent told a window far larger
// than the one its child receives with sends beyond it; the child fails
// that dialog, and the parent learns it as a protocol error or a
// cancellation relayed by the child, never a success. (The error names
// the parent as its actor, the peer at fault, relayed via the child.)
func TestInjectFaultsIgnoreCreditReverse(t *testing.T) {
	for _, h := range faultHostings {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(hold, square), func(ctx context.Context, p *tractor.Portal) {
				c, err := hold.Open(ctx, p, struct{}{})
				if err != nil {
					t.Fatal(err)
				}
				s, err := tractor.OpenStream[int, int](c)
				if err != nil {
					t.Fatal(err)
				}
				for i := range 20 { // the child's window is 2 items
					if s.Send(ctx, i) != nil {
						break // the child failed the dialog already
					}
				}
				s.Close()
				_, err = hold.Result(ctx, c)
				var re *tractor.RemoteError
				if !errors.As(err, &re) || len(re.RelayPath) == 0 || re.RelayPath[len(re.RelayPath)-1] != p.Actor() ||
					!(re.Type == "tractor.ProtocolError" || errors.Is(err, tractor.ErrContextCancelled)) ||
					!strings.Contains(err.Error(), "window of 2 items") {
					t.Errorf("dialog after sending past the child's window: %v, want a protocol error relayed by %v", err, p.Actor())
				}
				if v, err := square.Call(ctx, p, 3); err != nil || v != 9 {
					t.Errorf("call after the overrun: %d, %v", v, err)
				}
			}, tractor.Window(2, 1<<20), tractor.InjectFaults(transport.Faults{Seed: 5, IgnoreCredit: true}))
		})
	}
}

// TestInjectFaultsProcessOnce: a process actor's connection gets each
// fault once, from the byte stream's wrapper: its delays are the stream's
// writes and reads, none the messages' sends.
func TestInjectFaultsProcessOnce(t *testing.T) {
	for _, h := range processHostings {
		t.Run(h.name, func(t *testing.T) {
			log := &transport.FaultLog{}
			withWorker(t, h, eps(square, count, echo), func(ctx context.Context, p *tractor.Portal) {
				if err := dialogs(ctx, p); err != nil {
					t.Error(err)
				}
			}, tractor.InjectFaults(transport.Faults{Seed: 4, Delay: 20 * time.Microsecond, Log: log}))
			stream := 0
			for _, ev := range log.Events() {
				switch {
				case strings.HasPrefix(ev, "send:"):
					t.Fatalf("message-level fault %q on a process actor's connection", ev)
				case strings.HasPrefix(ev, "write:"), strings.HasPrefix(ev, "read:"):
					stream++
				}
			}
			if stream == 0 {
				t.Errorf("no delay on the byte stream: %q", log.Events())
			}
		})
	}
}
