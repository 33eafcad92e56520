package tractor

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/tractor-go/tractor/transport"
)

// localLink joins a goroutine actor's session with its parent's. Most of
// what passes between them needs no connection: calls run inline, a
// cancellation cancels the child directly, and the child's end ends both
// sessions. So the in-memory connection is made only when a first dialog
// (a stream or a context) is opened over it, and an actor that only ever
// serves calls never has one.
type localLink struct {
	mu     sync.Mutex
	ends   [2]*session // the parent's end, the child's
	made   bool
	closed atomic.Bool
	faults *transport.Faults // for the parent's end; see InjectFaults
}

// newLocalLink links a parent's session with its child's.
func newLocalLink(parent, child *session) *localLink {
	l := &localLink{ends: [2]*session{parent, child}}
	parent.link, child.link = l, l
	return l
}

// make makes the connection, if the link has none yet, and serves both
// ends over it. It returns false once the link is closed.
func (l *localLink) make() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return false
	}
	if !l.made {
		l.made = true
		a, b := memPair(l.ends[1].wireCheck)
		if l.faults != nil {
			a = l.faults.Conn(a)
		}
		l.ends[0].setConn(a)
		l.ends[1].setConn(b)
		l.ends[0].start(nil) // in memory: attached, no goroutine
		l.ends[1].start(nil)
	}
	return true
}

// memPair makes an in-memory connection, one that passes every message
// through the codec if wireCheck is set (see WireCheck and
// transport.MemPairEncoded).
func memPair(wireCheck bool) (transport.Conn, transport.Conn) {
	if wireCheck {
		return transport.MemPairEncoded()
	}
	return transport.MemPair()
}

// close ends the link, closed by the session by: the connection's ends,
// if it was made, or both sessions directly.
func (l *localLink) close(by *session) {
	l.mu.Lock()
	if l.closed.Swap(true) {
		l.mu.Unlock()
		return
	}
	made := l.made
	l.mu.Unlock()
	if made {
		_ = by.conn.Close() // each end's Ended ends its session
		return
	}
	other := l.ends[0]
	if other == by {
		other = l.ends[1]
	}
	by.served(transport.ErrClosed)
	other.served(io.EOF)
}

// stop tells the other end of the link that the actor at by ends because
// it was cancelled: the stop for dialog 0 that a connection would carry.
func (l *localLink) stop(by *session) {
	other := l.ends[0]
	if other == by {
		other = l.ends[1]
	}
	other.ended.Store(true)
}
