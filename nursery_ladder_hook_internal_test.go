package tractor

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// ladderChild returns a nursery whose BeforeCancel hook is hook, and a
// process child of it whose process is proc (see ladderProc): its
// connection ends as the process does.
func ladderChild(hook func(ctx context.Context, child ActorID) bool, proc *ladderProc) (*Nursery, *Portal) {
	cfg := defaultConfig()
	cfg.logHandler = slog.DiscardHandler
	cfg.beforeCancel = hook
	n := &Nursery{actor: &Actor{id: ActorID{Name: "root", UID: "root-uid"}, cfg: cfg}, cfg: cfg, ctx: context.Background()}
	conn, peer := transport.MemPair()
	ch := &session{peer: ActorID{Name: "child", UID: "child-uid"}, conn: conn, done: make(chan struct{})}
	go func() {
		<-proc.done
		_ = peer.Close()
		close(ch.done)
	}()
	return n, &Portal{ch: ch, host: processHost{proc: proc}}
}

// TestNurseryLadderAsksTheHook: a cancelled process child that does not
// acknowledge is terminated cancelTimeout after the request when the
// BeforeCancel hook did not hold it back, as without a hook; while the
// hook holds it back (a prompt is open), the child gets its cancel
// timeout anew each time, and the hook is asked again before the child
// is terminated: a child that takes the terminal late (a post-mortem of
// its cleanup) is not killed at its prompt. Time is the bubble's.
func TestNurseryLadderAsksTheHook(t *testing.T) {
	const ct = 500 * time.Millisecond // the default cancel timeout
	// hookHolding returns a hook that, on its i-th call, holds the
	// cancellation back for holds[i] (virtual time), and returns false
	// at once past them; calls counts its calls.
	hookHolding := func(calls *int, holds ...time.Duration) func(context.Context, ActorID) bool {
		return func(ctx context.Context, _ ActorID) bool {
			*calls++
			if *calls > len(holds) {
				return false
			}
			<-time.After(holds[*calls-1]) // the bubble's clock
			return true
		}
	}
	for _, tc := range []struct {
		name      string
		holds     []time.Duration // how long each call of the hook holds
		exitAfter time.Duration   // when the child exits by itself; 0: never
		calls     int             // the hook's calls
		termAt    time.Duration   // when the child is terminated; 0: never
	}{
		{name: "not held", calls: 1, termAt: ct},
		{name: "held once", holds: []time.Duration{2 * time.Second}, calls: 2, termAt: ct + 2*time.Second + ct},
		{name: "held twice", holds: []time.Duration{2 * time.Second, 3 * time.Second}, calls: 3, termAt: ct + 2*time.Second + ct + 3*time.Second + ct},
		{
			name: "exits while held the second time", holds: []time.Duration{2 * time.Second, 3 * time.Second},
			exitAfter: ct + 2*time.Second + ct + time.Second, calls: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls int
				proc := newLadderProc(tc.exitAfter)
				n, p := ladderChild(hookHolding(&calls, tc.holds...), proc)
				sent := make(chan struct{})
				close(sent)
				start := time.Now()
				ignored := n.awaitEnd(p, sent)
				if calls != tc.calls {
					t.Errorf("the hook was called %d times, want %d", calls, tc.calls)
				}
				if tc.termAt == 0 {
					if ignored || len(proc.terminated) != 0 {
						t.Fatalf("awaitEnd: ignored %v, terminated at %v; want the child's own exit", ignored, proc.at)
					}
					return
				}
				if !ignored || len(proc.at) != 1 || proc.at[0].Sub(start) != tc.termAt {
					t.Fatalf("awaitEnd: ignored %v, terminated at %v after %v; want once, %v after the request", ignored, proc.at, start, tc.termAt)
				}
			})
		})
	}
}
