package debuglock

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/tractor-go/tractor"
)

// request asks the root for the terminal.
type request struct {
	ID  tractor.ActorID
	PID int
}

// grant is the lock's first value: the terminal is the holder's until it
// closes its stream. Interactive says whether the root has a terminal.
type grant struct {
	Interactive bool
}

// server is the root's side: one lock per root actor (a process normally
// runs one root; tests run many, one after the other or at once).
type server struct {
	mu    sync.Mutex
	locks map[string]*treeLock // by root uid
}

// treeLock is the terminal lock of one tree: a holder and a FIFO of
// waiters.
type treeLock struct {
	holder  *waiter
	queue   []*waiter
	changed chan struct{} // closed (and replaced) when the holder changes
}

type waiter struct {
	who   request
	grant chan struct{}

	// The notes for the holder's screen, under server.mu; kick has an
	// item when there are some (see note).
	notes []string
	kick  chan struct{}
}

var srv = &server{locks: make(map[string]*treeLock)}

var (
	acquireEP = tractor.Ctx("debuglock.acquire", srv.serveAcquire)
	waitEP    = tractor.Func("debuglock.waitFree", srv.serveWaitFree)
)

func (s *server) lockOf(root string) *treeLock {
	l := s.locks[root]
	if l == nil {
		l = &treeLock{changed: make(chan struct{})}
		s.locks[root] = l
	}
	return l
}

// serveAcquire is the lock endpoint: it waits for the caller's turn,
// grants the terminal with Started, and holds the lock until the holder
// closes its stream or goes away (its actor ended, its process died, its
// connection dropped), whichever comes first: no crash can keep the lock.
func (s *server) serveAcquire(c *tractor.Context, req request) (bool, error) {
	root := tractor.CurrentActor(c).ID().UID
	w := s.enqueue(root, req)
	defer s.release(root, w)

	select {
	case <-w.grant:
	case <-c.Done():
		return false, c.Err()
	}
	interactive := rootInteractive()
	if interactive {
		// The logs wait while the holder prompts (see holdLogs), from
		// before it has the grant; they are written before the next
		// waiter gets it.
		logs.hold()
		defer logs.release()
	}
	if err := c.Started(grant{Interactive: interactive}); err != nil {
		return false, err
	}
	// The holder sends nothing: its Close releases the lock. The root
	// sends it the notes for its screen (see sendNotes).
	st, err := tractor.OpenStream[string, int](c)
	if err != nil {
		return false, err
	}
	if !s.sendNotes(c, st, w) && interactive {
		wentAway(w.who.ID)
	}
	return true, nil
}

// enqueue makes the requester the holder of root's lock if it is free,
// else the last in its queue. Its waiter's grant is closed when its turn
// comes; release it with release.
func (s *server) enqueue(root string, req request) *waiter {
	w := &waiter{who: req, grant: make(chan struct{}), kick: make(chan struct{}, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lockOf(root)
	if l.holder == nil {
		s.takeLocked(l, w)
	} else {
		l.queue = append(l.queue, w)
		l.holder.noteLocked(fmt.Sprintf("debuglock: %s (pid %d) waits for the terminal; %s has it", req.ID, req.PID, l.holder.who.ID))
	}
	return w
}

// takeLocked makes w the holder.
func (s *server) takeLocked(l *treeLock, w *waiter) {
	l.holder = w
	close(w.grant)
	l.changedLocked()
}

// changedLocked wakes the waitFree calls that watch l.
func (l *treeLock) changedLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// release takes w out: off the queue if it still waits, or out of the
// holder's seat, which goes to the first waiter.
func (s *server) release(root string, w *waiter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lockOf(root)
	if l.holder != w {
		for i, q := range l.queue {
			if q == w {
				l.queue = append(l.queue[:i], l.queue[i+1:]...)
				l.changedLocked()
				break
			}
		}
		return
	}
	l.holder = nil
	if len(l.queue) > 0 {
		next := l.queue[0]
		l.queue = l.queue[1:]
		l.holder = next
		close(next.grant)
		l.changedLocked()
		return
	}
	l.changedLocked()
	delete(s.locks, root)
}

// serveWaitFree returns once nobody but the actor by that asks holds the
// terminal or waits for it (an actor cancelling its children while it
// holds the terminal must not wait for itself, but a child queued behind
// it keeps its turn), or ctx ends. It says whether it waited: whether
// someone else had the terminal, or was queued for it, when it was asked.
func (s *server) serveWaitFree(ctx context.Context, by tractor.ActorID) (bool, error) {
	return s.waitFree(ctx, tractor.CurrentActor(ctx).ID().UID, by)
}

// waitFree is serveWaitFree for the lock of the tree whose root has the
// uid root.
func (s *server) waitFree(ctx context.Context, root string, by tractor.ActorID) (waited bool, err error) {
	for {
		s.mu.Lock()
		l := s.locks[root]
		if l == nil || l.onlyBy(by) {
			s.mu.Unlock()
			return waited, nil
		}
		changed := l.changed
		s.mu.Unlock()
		waited = true
		select {
		case <-changed:
		case <-ctx.Done():
			return waited, ctx.Err()
		}
	}
}

// onlyBy says whether nobody but by holds l or waits for it.
func (l *treeLock) onlyBy(by tractor.ActorID) bool {
	if l.holder != nil && l.holder.who.ID != by {
		return false
	}
	for _, w := range l.queue {
		if w.who.ID != by {
			return false
		}
	}
	return true
}

// Lease is the terminal, held: release it with Release.
type Lease struct {
	c           *tractor.Context
	st          *tractor.MsgStream[int, string]
	stop        context.CancelFunc // ends the dialog, if Result did not
	interactive bool
	notes       <-chan string  // the root's notes for the screen, closed at the dialog's end
	receiving   sync.WaitGroup // the goroutine that receives them
	released    sync.Once
}

// Acquire takes the tree's terminal lock, waiting in FIFO order behind
// the actors that asked before, until ctx ends; once granted, the lease
// no longer depends on ctx. The root (which must run
// with [Enable]) grants it; release it with [Lease.Release]. If the
// holder's actor or process dies, the root releases the lock by itself.
func Acquire(ctx context.Context) (*Lease, error) {
	if ctx == nil {
		panic("debuglock: Acquire: nil context.Context")
	}
	return acquire(ctx, acquireEP)
}

// acquire is Acquire through ep, the root's lock endpoint (a test's
// stand-in for it, to time a root that does not confirm a release).
func acquire(ctx context.Context, ep *tractor.CtxEndpoint[request, bool]) (*Lease, error) {
	a := tractor.CurrentActor(ctx)
	if a == nil {
		return nil, tractor.ErrNoActor
	}
	root, err := tractor.Root(ctx)
	if err != nil {
		return nil, fmt.Errorf("debuglock: %w", err)
	}
	// Waiting for the grant ends with ctx; the lease does not: the dialog
	// lives until Release (or the holder's end), else a prompt that
	// outlives its task's ctx would lose the terminal while still on it.
	dctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	unhook := context.AfterFunc(ctx, stop)
	c, err := ep.Open(dctx, root, request{ID: a.ID(), PID: os.Getpid()})
	if hooked := unhook(); err == nil && !hooked {
		c.Cancel()
		err = ctx.Err()
	}
	if err != nil {
		stop()
		return nil, fmt.Errorf("debuglock: acquiring the terminal: %w", err)
	}
	g, err := tractor.First[grant](c)
	if err != nil {
		c.Cancel()
		stop()
		return nil, fmt.Errorf("debuglock: acquiring the terminal: %w", err)
	}
	st, err := tractor.OpenStream[int, string](c)
	if err != nil {
		c.Cancel()
		stop()
		return nil, fmt.Errorf("debuglock: acquiring the terminal: %w", err)
	}
	l := &Lease{c: c, st: st, stop: stop, interactive: g.Interactive}
	l.notes = receiveNotes(dctx, st, &l.receiving)
	return l, nil
}

// Interactive says whether the root has a terminal to lend: without one
// (stdin not a terminal, as in CI) a holder should not prompt.
func (l *Lease) Interactive() bool { return l.interactive }

// releaseWait bounds how long Release waits for the root to confirm the
// release: a root that went away must not hold the holder.
const releaseWait = 5 * time.Second

// Release gives the terminal back; the next waiter gets it. Releasing
// it again does nothing.
func (l *Lease) Release() { l.released.Do(l.release) }

func (l *Lease) release() {
	defer l.receiving.Wait()
	defer l.stop()
	l.st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), releaseWait)
	defer cancel()
	_, _ = acquireEP.Result(ctx, l.c)
}

// Notes returns the root's notes for the holder's screen, such as "X
// waits for the terminal": a prompt prints them above itself. The channel
// is closed when the lease ends; nobody needs to read it.
func (l *Lease) Notes() <-chan string { return l.notes }

// waitFree waits, up to bound, until nobody but the actor of ctx holds
// the tree's terminal or waits for it. It says whether it waited for
// that: someone else had the terminal, or was queued for it, and has
// let go (false with an error: the bound, or ctx, ended the wait).
func waitFree(ctx context.Context, bound time.Duration) (waited bool, err error) {
	a := tractor.CurrentActor(ctx)
	if a == nil {
		return false, tractor.ErrNoActor
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	root, err := tractor.Root(ctx)
	if err != nil {
		return false, err
	}
	return waitEP.Call(ctx, root, a.ID())
}
