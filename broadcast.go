package tractor

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// DefaultSubscribeWindow is the window of a [MsgStream.Subscribe] given 0:
// how far a subscriber may fall behind before it loses items.
const DefaultSubscribeWindow = 256

// ErrLagged is matched by the error a [Subscription] returns when it fell
// more than its window behind and lost the oldest items; the error is a
// [*LaggedError] saying how many.
var ErrLagged = errors.New("tractor: subscriber lagged")

// LaggedError reports items a subscriber lost because it fell more than
// its window behind the fastest one. The next Receive continues with the
// oldest item kept.
type LaggedError struct {
	Missed int
}

func (e *LaggedError) Error() string {
	return fmt.Sprintf("tractor: subscriber lagged: %d items missed", e.Missed)
}

// Is makes a *LaggedError match [ErrLagged].
func (e *LaggedError) Is(target error) bool { return target == ErrLagged }

// broadcaster shares one stream among local subscribers (tractor's
// broadcast_receiver). It runs no goroutine of its own: a subscriber whose
// queue is empty pulls the next item from the stream and appends it to
// every subscriber's queue, while the others wait for it. The fastest
// subscriber thus sets the pace and consumes the stream's credit; a slower
// one keeps at most its window of items and loses the oldest beyond it.
type broadcaster[R any] struct {
	pull func(context.Context) (any, error)
	peer ActorID // where the items come from, named in their decoding errors

	mu      sync.Mutex
	subs    map[*Subscription[R]]struct{}
	pulling bool
	end     error         // the stream's end (io.EOF) or failure, once seen
	wake    chan struct{} // closed, and replaced, whenever the state moves
}

func newBroadcaster[R any](pull func(context.Context) (any, error), peer ActorID) *broadcaster[R] {
	return &broadcaster[R]{pull: pull, peer: peer, subs: make(map[*Subscription[R]]struct{}), wake: make(chan struct{})}
}

// subscribe adds a subscriber that receives every item pulled from now on.
func (b *broadcaster[R]) subscribe(window int) *Subscription[R] {
	if window == 0 {
		window = DefaultSubscribeWindow
	}
	s := &Subscription[R]{b: b, window: window}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// wakeLocked tells every waiting subscriber that the state moved.
func (b *broadcaster[R]) wakeLocked() {
	close(b.wake)
	b.wake = make(chan struct{})
}

// Subscription is one local receiver of a stream shared with
// [MsgStream.Subscribe]: it receives every item that arrives after it
// subscribed, in order, unless it falls more than its window behind. It is
// meant for one goroutine.
type Subscription[R any] struct {
	b *broadcaster[R]

	// Guarded by b.mu: a ring of the items not yet received, at most
	// window of them. It grows by doubling as items queue, so a large
	// window costs memory only when the subscriber falls that far behind.
	buf      []any
	first, n int
	window   int
	missed   int
	closed   bool
	// stopPull, while this subscriber pulls for all, cancels that pull:
	// Close calls it so that a Receive it interrupts returns at once
	// rather than at the stream's next item, however far off.
	stopPull context.CancelFunc
}

// push appends an item, dropping the oldest one when the ring is full.
func (s *Subscription[R]) push(p any) {
	if s.n == s.window {
		s.buf[s.first] = nil
		s.first = (s.first + 1) % len(s.buf)
		s.n--
		s.missed++
	} else if s.n == len(s.buf) {
		buf := make([]any, min(max(2*len(s.buf), 16), s.window))
		for i := range s.n {
			buf[i] = s.buf[(s.first+i)%len(s.buf)]
		}
		s.buf, s.first = buf, 0
	}
	s.buf[(s.first+s.n)%len(s.buf)] = p
	s.n++
}

func (s *Subscription[R]) pop() any {
	p := s.buf[s.first]
	s.buf[s.first] = nil
	s.first = (s.first + 1) % len(s.buf)
	s.n--
	return p
}

// Receive returns the next item. If the subscriber lost items since the
// last Receive it first returns a [*LaggedError] saying how many (matching
// [ErrLagged]) and no item; the call after that returns the oldest item kept, unless the
// subscriber lost more meanwhile (each LaggedError counts the items lost
// just before the next one it returns). Once the stream has ended,
// Receive returns what the stream's Receive returned (io.EOF, or the
// peer's error) after the items kept; after Close it returns an error
// matching [ErrStreamClosed]; if ctx ends first, ctx's error.
func (s *Subscription[R]) Receive(ctx context.Context) (R, error) {
	mustCtx("Receive", ctx)
	b := s.b
	var zero R
	for {
		b.mu.Lock()
		switch {
		case s.closed:
			b.mu.Unlock()
			return zero, errorf("tractor: Receive on a closed subscription: %w", ErrStreamClosed)
		case s.missed > 0:
			missed := s.missed
			s.missed = 0
			b.mu.Unlock()
			return zero, &LaggedError{Missed: missed}
		case s.n > 0:
			p := s.pop()
			b.mu.Unlock()
			return decodeItem[R](b.peer, p)
		case b.end != nil:
			b.mu.Unlock()
			return zero, b.end
		case !b.pulling:
			b.pulling = true
			pctx, stop := context.WithCancel(ctx)
			s.stopPull = stop
			b.mu.Unlock()
			p, err := b.pull(pctx)
			interrupted := pctx.Err() != nil
			stop()
			b.mu.Lock()
			b.pulling = false
			s.stopPull = nil
			switch {
			case err == nil:
				for sub := range b.subs {
					sub.push(p)
				}
			case ctx.Err() != nil:
				// Only this puller gave up; another one takes over.
				b.wakeLocked()
				b.mu.Unlock()
				return zero, ctx.Err()
			case interrupted:
				// Closed while pulling: another one takes over, and
				// this Receive returns as closed (the loop's first case).
				b.wakeLocked()
				b.mu.Unlock()
				continue
			default:
				b.end = err
			}
			b.wakeLocked()
			b.mu.Unlock()
		default:
			wake := b.wake
			b.mu.Unlock()
			select {
			case <-wake:
			case <-ctx.Done():
				return zero, ctx.Err()
			}
		}
	}
}

// Close ends the subscription: it receives no more, and its items are
// released; a Receive of it waiting in another goroutine returns an error
// matching [ErrStreamClosed], even one pulling the stream for all (another
// subscriber then takes over). It does not close the stream. Close is
// idempotent.
func (s *Subscription[R]) Close() error {
	b := s.b
	b.mu.Lock()
	delete(b.subs, s)
	s.closed = true
	if s.stopPull != nil {
		s.stopPull()
	}
	s.buf, s.first, s.n = nil, 0, 0
	b.wakeLocked()
	b.mu.Unlock()
	return nil
}
