package tractor

import (
	"context"
	"fmt"
)

// MsgStream is the stream of a dialog: a two-way stream of a context
// dialog ([Context.OpenStream]) or the one-way stream of a remote generator
// ([StreamEndpoint.Open]).
//
// Streams are ordered, lossless and flow-controlled per dialog: Send waits
// while the receiver's window is full, so a slow receiver slows only its
// own sender. Send, Receive and Close may be called concurrently with each
// other; items sent concurrently by several goroutines interleave in some
// order.
type MsgStream struct {
	d      *dialog
	oneWay bool // the caller's end of a generator's stream
}

// Send sends v to the peer, waiting for window credit. It returns
// [ErrStreamClosed] after Close or once the peer has returned, the peer's
// error if it failed, [ErrContextCancelled] once this side cancelled, and
// ctx's error if ctx ends while waiting.
func (s *MsgStream) Send(ctx context.Context, v any) error {
	if s.oneWay {
		return fmt.Errorf("tractor: Send on the receiving end of a one-way stream: %w", ErrMisuse)
	}
	return s.d.send(ctx, v)
}

// Receive stores the next item into dst, a pointer to the item's type. It
// returns io.EOF (bare, so callers may compare) after the peer closed its
// side or returned, having delivered everything sent before; the peer's
// error if it failed; an error matching [ErrBadArgument] if the item does
// not fit dst (the item is consumed, the stream goes on); and ctx's error
// if ctx ends first.
func (s *MsgStream) Receive(ctx context.Context, dst any) error {
	return s.d.receive(ctx, dst)
}

// Close ends this side's sending: the peer's Receive returns io.EOF after
// the items already sent, and this side may still Receive until the peer
// closes too. Closing the receiving end of a one-way stream before the
// generator returned cancels the generator and waits a bounded time for it
// to end. Close is idempotent and returns nil.
func (s *MsgStream) Close() error {
	if !s.oneWay {
		s.d.closeSend()
		return nil
	}
	s.d.mu.Lock()
	ended := s.d.finalSeen || s.d.gone != nil
	s.d.mu.Unlock()
	if !ended {
		s.d.requestCancel()
		_, _ = s.d.awaitFinal()
	}
	s.d.finish()
	return nil
}
