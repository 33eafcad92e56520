package tractor

import (
	"context"
	"sync"
	"sync/atomic"
)

// MsgStream is the stream of a dialog: a two-way stream of a context
// dialog ([Context.OpenStream]) or the one-way stream of a remote generator
// ([StreamEndpoint.Open]).
//
// Streams are ordered, lossless and flow-controlled per dialog: Send waits
// while the receiver's window, of items and of bytes (see [Window]), is
// full, so a slow receiver slows only its own sender and holds at most its
// window. Send, Receive and Close may be called concurrently with each
// other; items sent concurrently by several goroutines interleave in some
// order.
type MsgStream struct {
	d      *dialog   // the stream's dialog; nil for a local generator's
	gen    genSource // the stream of a generator of this process, if it is one
	oneWay bool      // the caller's end of a generator's stream

	mu     sync.Mutex
	closed bool                         // Close was called
	bc     *broadcaster                 // set by the first Subscribe
	own    atomic.Pointer[Subscription] // Receive's own, once broadcasting
}

// Send sends v to the peer, waiting for window credit. It returns an
// error matching [ErrStreamClosed], naming the endpoint and the peer,
// after Close or once the peer has returned; the peer's error if it failed; [ErrContextCancelled] once this side cancelled, and
// ctx's error if ctx ends while waiting. An item that cannot be sent,
// over the frame limit or not encodable, fails with an error matching
// [ErrMessageTooLarge] or [ErrUnencodable]; the stream goes on.
func (s *MsgStream) Send(ctx context.Context, v any) error {
	mustCtx("Send", ctx)
	if s.oneWay {
		return errorf("tractor: Send on the receiving end of a one-way stream: %w", ErrMisuse)
	}
	return s.d.send(ctx, v)
}

// Receive stores the next item into dst, a pointer to the item's type. It
// returns io.EOF (bare, so callers may compare) after the peer closed its
// side or returned, having delivered everything sent before; the peer's
// error, a [*RemoteError], if it failed: from the Receive that reaches the
// failure on, every Receive returns it, even if the peer closed its side
// first (a Receive between the two, before the failure arrived, returns
// io.EOF); an error matching [ErrBadArgument] if the item does
// not fit dst (the item is consumed, the stream goes on); and ctx's error
// if ctx ends first.
//
// After [MsgStream.Subscribe], Receive is one more subscriber, with the
// same window, and may return a [*LaggedError].
func (s *MsgStream) Receive(ctx context.Context, dst any) error {
	mustCtx("Receive", ctx)
	if own := s.own.Load(); own != nil {
		return own.Receive(ctx, dst)
	}
	if s.gen != nil {
		return s.gen.receive(ctx, dst)
	}
	return s.d.receive(ctx, dst)
}

// itemSource is where Receive and a broadcaster take the stream's items
// from: its dialog, or a local generator's queue.
type itemSource interface {
	receivePayload(ctx context.Context) (any, error)
	decodeItem(payload, dst any) error
}

func (s *MsgStream) source() itemSource {
	if s.gen != nil {
		return s.gen
	}
	return s.d
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
func (s *MsgStream) Subscribe(window int) (*Subscription, error) {
	if window < 0 {
		return nil, errorf("tractor: Subscribe(%d): negative window: %w", window, ErrMisuse)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oneWay && s.closed {
		return nil, errorf("tractor: Subscribe after Close: %w", ErrStreamClosed)
	}
	src := s.source()
	if s.bc == nil {
		s.bc = newBroadcaster(src.receivePayload)
		s.own.Store(s.bc.subscribe(window, src.decodeItem))
	}
	s.bc.mu.Lock()
	end := s.bc.end
	s.bc.mu.Unlock()
	if end != nil {
		return nil, errorf("tractor: Subscribe to a stream that has ended (%v): %w", end, ErrStreamClosed)
	}
	return s.bc.subscribe(window, src.decodeItem), nil
}

// Close ends this side's sending: the peer's Receive returns io.EOF after
// the items already sent, and this side may still Receive until the peer
// closes too. Closing the receiving end of a one-way stream before the
// generator returned cancels the generator and waits a bounded time for it
// to end. Close is idempotent and returns nil.
func (s *MsgStream) Close() error {
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
