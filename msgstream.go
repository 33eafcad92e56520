package tractor

import (
	"context"
	"fmt"
	"io"
	"iter"
	"sync"
	"sync/atomic"
)

// MsgStream is the stream of a dialog, typed by what this side sends (S)
// and receives (R): a two-way stream of a context dialog ([OpenStream]) or
// the caller's end of the one-way stream of a remote generator
// ([StreamEndpoint.Open], whose S is [NoSend]).
//
// Streams are ordered, lossless and flow-controlled per direction: each
// receiver has a window, a number of items and of bytes, and its sender
// may have at most that much sent and not yet consumed by the receiver's
// Receive; Send waits while the window is full, so a slow receiver slows
// only its own sender and holds at most its window (one item larger than
// the whole byte window still goes, alone). The window is the receiving
// side's actor's, by default 1024 items and 4 MiB; [Window] sets it per
// actor, or per stream given to [StreamEndpoint.Open], [CtxEndpoint.Open]
// or [OpenStream]. Send, Receive and Close may be called concurrently with
// each other; items sent concurrently by several goroutines interleave in
// some order.
type MsgStream[S, R any] struct {
	d      *dialog         // the stream's dialog; nil for a local generator's
	gen    *localStream[R] // the stream of a generator of this process, if it is one
	oneWay bool            // the caller's end of a generator's stream

	mu     sync.Mutex
	closed bool                            // Close was called
	bc     *broadcaster[R]                 // set by the first Subscribe
	own    atomic.Pointer[Subscription[R]] // Receive's own, once broadcasting
}

// NoSend is the send type of the caller's end of a one-way stream
// ([StreamEndpoint.Open]): only the generator sends on it. Sending any item
// on such a stream does not compile, since no item is a NoSend; the one
// Send that does, of a NoSend{} written out on purpose, returns an error
// matching [ErrMisuse].
type NoSend struct{}

// Send sends v to the peer, waiting for window credit. It returns an
// error matching [ErrStreamClosed], naming the endpoint and the peer,
// after Close or once the peer has returned; the peer's error if it failed; [ErrContextCancelled] once this side cancelled, and
// ctx's error if ctx ends while waiting. An item that cannot be sent,
// over the frame limit or not encodable, fails with an error matching
// [ErrMessageTooLarge] or [ErrUnencodable]; the stream goes on.
func (s *MsgStream[S, R]) Send(ctx context.Context, v S) error {
	mustCtx("Send", ctx)
	if s.oneWay {
		return errorf("tractor: Send on the receiving end of a one-way stream: %w", ErrMisuse)
	}
	return s.d.send(ctx, v)
}

// Receive returns the next item. It returns io.EOF (bare, so callers may
// compare) after the peer closed its side or returned, having delivered
// everything sent before; the peer's error, a [*RemoteError], if it
// failed: from the Receive that reaches the failure on, every Receive
// returns it, even if the peer closed its side first (a Receive between
// the two, before the failure arrived, returns io.EOF); an error matching
// [ErrBadArgument] if the item is not an R (the item is consumed, the
// stream goes on); and ctx's error if ctx ends first.
//
// After [MsgStream.Subscribe], Receive is one more subscriber, with the
// same window, and may return a [*LaggedError].
func (s *MsgStream[S, R]) Receive(ctx context.Context) (R, error) {
	if s.gen != nil && ctx != nil && s.own.Load() == nil {
		// The generator's items are Rs already: taken unboxed. The
		// other paths are kept out of this function, which every item
		// goes through.
		return s.gen.receive(ctx)
	}
	return s.receiveOther(ctx)
}

// receiveOther is Receive from a subscription or a dialog.
func (s *MsgStream[S, R]) receiveOther(ctx context.Context) (R, error) {
	mustCtx("Receive", ctx)
	if own := s.own.Load(); own != nil {
		return own.Receive(ctx)
	}
	if s.gen != nil {
		return s.gen.receive(ctx)
	}
	payload, err := s.d.receivePayload(ctx)
	if err != nil {
		var zero R
		return zero, err
	}
	return decodeItem[R](s.d.ch.peer, payload)
}

// All returns the stream's items for a range-over-func loop:
//
//	for v, err := range s.All(ctx) {
//		if err != nil {
//			return err
//		}
//		use(v)
//	}
//
// The loop ends silently at io.EOF. Any other error Receive returns (the
// peer's failure, ctx's end, an item that is not an R, a
// [*LaggedError]) is yielded once, with R's zero value, and ends the loop;
// use Receive to go on past an item that does not decode. Leaving the loop
// early does not close the stream: Close it, as always, when done.
func (s *MsgStream[S, R]) All(ctx context.Context) iter.Seq2[R, error] {
	mustCtx("All", ctx)
	return func(yield func(R, error) bool) {
		for {
			v, err := s.Receive(ctx)
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(v, err)
				return
			}
			if !yield(v, nil) {
				return
			}
		}
	}
}

// decodeItem reads a stream item from actor peer as an R.
func decodeItem[R any](peer ActorID, payload any) (R, error) {
	v, err := decode[R](payload)
	if err != nil {
		return v, fmt.Errorf("tractor: stream item from actor %s: %w", peer, err)
	}
	return v, nil
}

// pull is where Receive and a broadcaster take the stream's items from,
// undecoded: its dialog, or a local generator's queue.
func (s *MsgStream[S, R]) pull(ctx context.Context) (any, error) {
	if s.gen != nil {
		v, err := s.gen.receive(ctx)
		if err != nil {
			return nil, err
		}
		return v, nil
	}
	return s.d.receivePayload(ctx)
}

// peer is the actor the stream's items come from.
func (s *MsgStream[S, R]) peer() ActorID {
	if s.gen != nil {
		return s.gen.ch.peer
	}
	return s.d.ch.peer
}

// Subscribe adds a local receiver of the stream (tractor's
// broadcast_receiver): each Subscription receives every item that arrives
// from then on, in order, so several goroutines can each see all of it.
// window (0 for [DefaultSubscribeWindow]) bounds how many items a
// subscriber may fall behind the fastest one: beyond it, it loses the
// oldest, and its next Receive returns a [*LaggedError] saying how many.
// A slow subscriber therefore never holds the others back, nor grows
// memory without bound; the fastest one's pace is the stream's, through
// its flow control.
//
// A subscriber's queue grows as it falls behind, up to its window: a large
// window costs memory only when used. Subscribe fails with an error
// matching [ErrMisuse] for a negative window, and with one matching
// [ErrStreamClosed] once the receiving side has closed or the stream has
// ended. Closing a Subscription leaves the stream open.
func (s *MsgStream[S, R]) Subscribe(window int) (*Subscription[R], error) {
	if window < 0 {
		return nil, errorf("tractor: Subscribe(%d): negative window: %w", window, ErrMisuse)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oneWay && s.closed {
		return nil, errorf("tractor: Subscribe after Close: %w", ErrStreamClosed)
	}
	if s.bc == nil {
		s.bc = newBroadcaster[R](s.pull, s.peer())
		s.own.Store(s.bc.subscribe(window))
	}
	s.bc.mu.Lock()
	end := s.bc.end
	s.bc.mu.Unlock()
	if end != nil {
		return nil, errorf("tractor: Subscribe to a stream that has ended (%v): %w", end, ErrStreamClosed)
	}
	return s.bc.subscribe(window), nil
}

// Close ends this side's sending: the peer's Receive returns io.EOF after
// the items already sent, and this side may still Receive until the peer
// closes too. Closing the receiving end of a one-way stream before the
// generator returned cancels the generator and waits a bounded time for it
// to end. Close is idempotent and returns nil.
func (s *MsgStream[S, R]) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.gen != nil {
		s.gen.close()
		return nil
	}
	if !s.oneWay {
		s.d.closeSend()
		return nil
	}
	s.d.closeReceiving()
	return nil
}
