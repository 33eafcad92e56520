package natsnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// The kinds of message a session sends on its peer's subject. Each carries
// a header of headerLen bytes: its kind, and its place in the sender's
// sequence (1, 2, ...), which the receiver checks so that a message NATS
// dropped fails the session instead of corrupting the stream.
const (
	kindData  byte = iota + 1 // bytes of the stream
	kindAck                   // the receiver consumed bytes and messages: credit back
	kindPing                  // keepalive: the sender is alive
	kindFin                   // the sender will write no more (CloseWrite)
	kindClose                 // the sender closed the session

	headerLen = 1 + 8
	ackLen    = headerLen + 16
)

var (
	// ErrGap is the error of a session whose peer sent a message that
	// never arrived: NATS dropped it (a slow consumer, a lost route).
	ErrGap = errors.New("natsnet: a message of the stream was lost")
	// ErrPeerGone is the error of a session whose peer sent nothing,
	// not even a keepalive, for longer than [Network.Timeout].
	ErrPeerGone = errors.New("natsnet: peer silent beyond the keepalive timeout")
	// ErrAddrInUse is Listen's error when a listener answers at the
	// address already.
	ErrAddrInUse = errors.New("natsnet: address in use: a listener answers there")
)

// addr is a session's or listener's address: its subject prefix.
type addr string

func (a addr) Network() string { return Scheme }
func (a addr) String() string  { return string(a) }

// conn is one session: a byte stream between two subjects, with in-order
// delivery checked by sequence numbers, credit-based flow control so that
// a fast writer cannot overrun its reader (NATS would drop), keepalives
// both ways, and net.Conn's deadlines and half-close.
//
// A Read or Write that waits for the peer files the incoming messages
// itself, as they come; the session's goroutine (run) files those that
// came while nobody waited, sends keepalives and watches the peer's;
// Close waits for it.
type conn struct {
	nc            *nats.Conn
	tx            string // the peer's subject: where this side publishes
	sub           *nats.Subscription
	in            chan *nats.Msg // sub's delivery
	local, remote addr
	window        int // bytes the writer may have unacknowledged
	maxMsgs       int // messages the writer may have unacknowledged
	keepalive     time.Duration
	timeout       time.Duration

	txMu  sync.Mutex // orders sequence numbers with publishing
	txSeq uint64
	wbuf  []byte

	mu       sync.Mutex
	changed  chan struct{} // closed when the state below changes; made only when someone waits
	rq       [][]byte      // received data not yet read
	rdl, wdl time.Time     // deadlines
	rerr     error         // what Read returns once rq is empty: io.EOF or a failure
	werr     error         // what Write returns: a failure, or that either side closed
	sent     [2]uint64     // bytes and messages written
	acked    [2]uint64     // bytes and messages the peer consumed
	consumed [2]uint64     // bytes and messages read
	ackSent  [2]uint64     // consumed as last acknowledged
	finSent  bool
	closed   bool
	rxSeq    uint64    // the number of the last message filed
	rxEnd    bool      // the peer closed or the session failed: what comes is dropped
	heard    time.Time // when the last message came

	// rx is held (a value sent into it) by the one goroutine that
	// receives from in, so that messages are filed in the order NATS
	// delivered them. A Read or Write that waits for the peer receives
	// itself, woken by NATS's delivery with no goroutine in between; run
	// receives only what nobody waiting took, at its ticks.
	rx chan struct{}

	done chan struct{} // closed by Close: run returns
	ran  chan struct{} // closed when run has returned
}

// newConn starts a session with the peer that said hello, whose messages
// sub delivers to in.
func newConn(nw *Network, peer hello, sub *nats.Subscription, in chan *nats.Msg, local, remote addr) *conn {
	c := &conn{
		nc: nw.Conn, tx: peer.inbox, sub: sub, in: in, local: local, remote: remote,
		window: min(nw.window(), peer.window), maxMsgs: min(nw.maxMsgs(), peer.maxMsgs),
		keepalive: nw.keepalive(), timeout: nw.timeout(),
		rx: make(chan struct{}, 1), heard: time.Now(),
		done: make(chan struct{}), ran: make(chan struct{}),
	}
	go c.run()
	return c
}

// run keeps the session alive: every keepalive it files what the peer
// sent that no Read or Write waiting took, fails the session when the
// peer has been silent for longer than timeout, and pings the peer.
func (c *conn) run() {
	defer close(c.ran)
	tick := time.NewTicker(c.keepalive)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-tick.C:
			select {
			case c.rx <- struct{}{}:
				c.drain()
				<-c.rx
			default: // a Read or Write is receiving
			}
			if c.over() {
				return
			}
			_ = c.publish(kindPing, nil)
		}
	}
}

// drain files the messages in waiting, without blocking. The caller holds
// c.rx.
func (c *conn) drain() {
	for {
		select {
		case m := <-c.in:
			c.receive(m)
		default:
			return
		}
	}
}

// over says whether the peer will send no more: it closed, or the
// session failed, or the peer, still open, has been silent for longer
// than timeout, which fails the session.
func (c *conn) over() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rxEnd {
		return true
	}
	quiet := time.Since(c.heard)
	if quiet <= c.timeout || c.rerr != nil {
		return false
	}
	c.failLocked(fmt.Errorf("%w: %s heard nothing from %s for %v", ErrPeerGone, c.local, c.remote, quiet.Round(time.Millisecond)))
	c.notifyLocked()
	return true
}

// receive files m, one message from the peer, after checking its place
// in the sequence. The caller holds c.rx.
func (c *conn) receive(m *nats.Msg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rxEnd {
		return
	}
	c.heard = time.Now()
	defer c.notifyLocked()
	if len(m.Data) < headerLen {
		c.endLocked(fmt.Errorf("natsnet: %s: a message of %d bytes from %s: shorter than its header", c.local, len(m.Data), c.remote))
		return
	}
	seq := binary.BigEndian.Uint64(m.Data[1:headerLen])
	if c.rxSeq++; seq != c.rxSeq {
		c.endLocked(fmt.Errorf("%w: %s expected message %d from %s, got %d (%d dropped here)", ErrGap, c.local, c.rxSeq, c.remote, seq, c.dropped()))
		return
	}
	c.fileLocked(m.Data[0], m.Data[headerLen:])
}

// endLocked fails the session with err and files nothing more.
func (c *conn) endLocked(err error) {
	c.failLocked(err)
	c.rxEnd = true
}

// dropped is how many messages NATS dropped on the session's subscription.
func (c *conn) dropped() int {
	n, _ := c.sub.Dropped()
	return n
}

// fileLocked applies one message from the peer.
func (c *conn) fileLocked(kind byte, body []byte) {
	switch kind {
	case kindData:
		if c.rerr == nil {
			c.rq = append(c.rq, body)
		}
	case kindAck:
		if len(body) != ackLen-headerLen {
			c.endLocked(fmt.Errorf("natsnet: %s: an ack of %d bytes from %s", c.local, len(body), c.remote))
			return
		}
		c.acked[0] = max(c.acked[0], binary.BigEndian.Uint64(body))
		c.acked[1] = max(c.acked[1], binary.BigEndian.Uint64(body[8:]))
	case kindPing:
	case kindFin:
		if c.rerr == nil {
			c.rerr = io.EOF
		}
	case kindClose:
		if c.rerr == nil {
			c.rerr = io.EOF
		}
		if c.werr == nil {
			c.werr = fmt.Errorf("natsnet: write to %s: %w: the peer closed the session", c.remote, io.ErrClosedPipe)
		}
		c.rxEnd = true
	default:
		c.endLocked(fmt.Errorf("natsnet: %s: a message of unknown kind %d from %s", c.local, kind, c.remote))
	}
}

// failLocked ends both directions with err, unless they have ended.
func (c *conn) failLocked(err error) {
	if c.rerr == nil || c.rerr == io.EOF && len(c.rq) == 0 {
		c.rerr, c.rq = err, nil
	}
	if c.werr == nil {
		c.werr = err
	}
}

// notifyLocked wakes every Read and Write waiting for a change.
func (c *conn) notifyLocked() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// waitLocked waits, with c.mu held, for a change or for deadline, and says
// whether the deadline passed. While nobody else receives from the peer,
// it receives and files the next message itself: a Read is then woken by
// NATS's delivery directly.
func (c *conn) waitLocked(deadline time.Time) (expired bool) {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	ch := c.changed
	c.mu.Unlock()
	defer c.mu.Lock()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
		return false
	case <-timeout:
		return true
	case c.rx <- struct{}{}:
	}
	defer func() { <-c.rx }()
	select {
	case m := <-c.in:
		c.receive(m)
		return false
	case <-ch:
		return false
	case <-timeout:
		return true
	}
}

// publish sends one message of kind to the peer, numbered next.
func (c *conn) publish(kind byte, body []byte, ack ...uint64) error {
	c.txMu.Lock()
	defer c.txMu.Unlock()
	c.txSeq++
	c.wbuf = append(c.wbuf[:0], kind)
	c.wbuf = binary.BigEndian.AppendUint64(c.wbuf, c.txSeq)
	for _, v := range ack {
		c.wbuf = binary.BigEndian.AppendUint64(c.wbuf, v)
	}
	c.wbuf = append(c.wbuf, body...)
	return c.nc.Publish(c.tx, c.wbuf)
}

// Read implements net.Conn.
func (c *conn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.closed || len(c.rq) == 0 {
		switch {
		case c.closed:
			return 0, fmt.Errorf("natsnet: read %s: %w", c.local, net.ErrClosed)
		case c.rerr != nil:
			return 0, c.rerr
		}
		if c.waitLocked(c.rdl) {
			return 0, fmt.Errorf("natsnet: read %s: %w", c.local, os.ErrDeadlineExceeded)
		}
	}
	n := copy(b, c.rq[0])
	if c.rq[0] = c.rq[0][n:]; len(c.rq[0]) == 0 {
		c.rq[0] = nil
		if len(c.rq) == 1 {
			c.rq = c.rq[:0] // from the array's start again: the next message needs no allocation
		} else {
			c.rq = c.rq[1:]
		}
		c.consumed[1]++
	}
	c.consumed[0] += uint64(n)
	// Credit back once a quarter of either window is consumed, so that
	// the writer rarely waits and acks stay few.
	if c.consumed[0]-c.ackSent[0] >= uint64(c.window/4) || c.consumed[1]-c.ackSent[1] >= uint64(c.maxMsgs/4) {
		c.ackSent = c.consumed
		if err := c.publish(kindAck, nil, c.consumed[0], c.consumed[1]); err != nil {
			c.failLocked(fmt.Errorf("natsnet: %s: acknowledging to %s: %w", c.local, c.remote, err))
			c.notifyLocked()
		}
	}
	return n, nil
}

// Write implements net.Conn. It splits b into messages within the
// server's maximum payload, each sent once the peer has credit for it.
func (c *conn) Write(b []byte) (int, error) {
	chunk := max(int(c.nc.MaxPayload())-ackLen, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	written := 0
	for written < len(b) || len(b) == 0 && written == 0 {
		n := min(len(b)-written, chunk)
		for {
			switch {
			case c.closed:
				return written, fmt.Errorf("natsnet: write %s: %w", c.local, net.ErrClosed)
			case c.finSent:
				return written, fmt.Errorf("natsnet: write %s: %w: after CloseWrite", c.local, net.ErrClosed)
			case c.werr != nil:
				return written, c.werr
			}
			inflight, msgs := c.sent[0]-c.acked[0], c.sent[1]-c.acked[1]
			if msgs < uint64(c.maxMsgs) && (inflight == 0 || inflight+uint64(n) <= uint64(c.window)) {
				break
			}
			if c.waitLocked(c.wdl) {
				return written, fmt.Errorf("natsnet: write %s: %w", c.local, os.ErrDeadlineExceeded)
			}
		}
		if n == 0 {
			return 0, nil
		}
		if err := c.publish(kindData, b[written:written+n]); err != nil {
			err = fmt.Errorf("natsnet: write to %s: %w", c.remote, err)
			c.failLocked(err)
			c.notifyLocked()
			return written, err
		}
		c.sent[0] += uint64(n)
		c.sent[1]++
		written += n
	}
	return written, nil
}

// CloseWrite tells the peer that this side writes no more: its Read
// returns io.EOF once it has read everything written before.
func (c *conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.finSent {
		return nil
	}
	c.finSent = true
	c.notifyLocked()
	return c.publish(kindFin, nil)
}

// Close implements net.Conn: it tells the peer, stops the session's
// goroutine and waits for it, and unsubscribes. It is idempotent.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.ran
		return nil
	}
	c.closed = true
	c.notifyLocked()
	c.mu.Unlock()
	err := c.publish(kindClose, nil)
	close(c.done)
	<-c.ran
	if uerr := c.sub.Unsubscribe(); err == nil && !errors.Is(uerr, nats.ErrConnectionClosed) {
		err = uerr
	}
	if errors.Is(err, nats.ErrConnectionClosed) {
		err = nil // nothing left to tell
	}
	return err
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error      { return c.setDeadline(&t, &t) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.setDeadline(&t, nil) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(nil, &t) }

// setDeadline sets the read and write deadlines that are not nil, and
// wakes a Read or Write waiting, which then honours them.
func (c *conn) setDeadline(r, w *time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r != nil {
		c.rdl = *r
	}
	if w != nil {
		c.wdl = *w
	}
	c.notifyLocked()
	return nil
}
