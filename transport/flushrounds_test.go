package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tractor-go/tractor/transport"
)

// TestFlushShortWriteInLaterRound: when the stream takes only part of a
// batch that a flushing Send writes for other Sends (a round after its
// own frame), the rest is queued ahead of the frames queued meanwhile, and
// the buffer it lives in is not reused until it is written. Real sockets
// write short only when full, so a write hook chooses, round by round, how
// much the stream takes: all, half, or nothing (EAGAIN). It also sends
// frames from inside the writes, so that other Sends' frames are pending
// at a chosen moment: more of them than what a short write left, or none.
// Several goroutines send concurrently, then one sends alone so that the
// moments with nothing else pending are certain. The peer must read every
// frame whole, intact, once and in each sender's order.
func TestFlushShortWriteInLaterRound(t *testing.T) {
	const (
		senders   = 4
		perSender = 150
		injector  = senders     // sender id of the frames the hooks send
		solo      = senders + 1 // sender id of the lone sender
		soloHits  = 4           // short writes with nothing pending the lone phase must see
	)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	near, far := net.Pipe()
	stream := &writeTap{Conn: near}
	c := transport.NewConn(stream, transport.Config{})
	var l sendLedger
	l.init()
	failed := make(chan error, 1)
	var closing atomic.Bool
	inject := func(size int) {
		m := l.next(injector, size)
		err := c.Send(ctx, m)
		if err != nil && closing.Load() && errors.Is(err, transport.ErrClosed) {
			// A writeLoop that Close waits for refuses frames, as Send does.
			l.forget(m.CID)
			return
		}
		if err != nil {
			select {
			case failed <- fmt.Errorf("injected Send: %w", err):
			default:
			}
		}
	}

	// The hook and the tap run only in whoever writes: one at a time.
	var calls int
	var armed int // size of the frame the next blocking write sends first
	// The lone phase, in which nothing is pending but what the hooks
	// send, and how many short writes in a later round it has seen.
	var alone atomic.Bool
	var hits atomic.Int64
	stream.before = func() {
		if armed > 0 {
			// A writeLoop took what a short write left; a frame queued
			// now must not land in the buffer that holds it.
			size := armed
			armed = 0
			inject(size)
		}
	}
	transport.SetWriteHook(c, func(buf []byte, round int) (int, error) {
		calls++
		n := len(buf)
		switch {
		case round == 0 && calls%3 != 0:
			inject(300) // so that a later round follows
		case round == 0:
			n = len(buf) / 2
		case alone.Load() && len(buf) >= 256:
			// Nothing else is pending: a short write leaves the rest in
			// the buffer, which must not be reused before it is written.
			n = len(buf) / 2
			armed = n + (len(buf)-n)/2 - 20
			hits.Add(1)
		case calls%4 == 0:
			// More is queued meanwhile than the short write leaves.
			n = len(buf) / 2
			inject(len(buf))
		case calls%4 == 1:
			n = len(buf) / 2
			if len(buf) >= 256 {
				// A frame longer than the written half but fitting the
				// buffer overwrites what is left if the buffer is reused.
				armed = n + (len(buf)-n)/2 - 20
				if alone.Load() {
					hits.Add(1)
				}
			}
		case calls%4 == 2:
			n = 0 // EAGAIN
		default:
			inject(300)
		}
		return near.Write(buf[:n])
	})

	frames := make(chan received, 1<<16)
	readErr := make(chan error, 1)
	defer func() {
		// On failure too, the writer and the reader return.
		far.Close()
		c.Close()
		for range frames {
		}
	}()
	go func() {
		defer close(frames)
		fr := transport.NewFrameReader(far, transport.DefaultMaxFrame, false)
		for {
			body, err := fr.Next()
			if err != nil {
				readErr <- err
				far.Close() // writes fail from now on instead of blocking
				return
			}
			m, err := transport.DecodeMsg(body)
			var p []byte
			if err == nil {
				err = transport.Decode(m.Payload, &p)
			}
			if err != nil {
				readErr <- fmt.Errorf("frame %d bytes: %w", len(body), err)
				far.Close()
				return
			}
			frames <- received{m.CID, p}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range uint64(senders) {
		wg.Go(func() {
			for i := range perSender {
				if err := c.Send(ctx, l.next(s, 64+(int(s)*97+i*61)%600)); err != nil {
					errs <- fmt.Errorf("sender %d, message %d: %w", s, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	var got []received
	alone.Store(true) // the writer is idle: no one else sends from now on
	for i := 0; hits.Load() < soloHits; i++ {
		if i == 2000 {
			t.Fatalf("after %d lone Sends, %d short writes with nothing pending; want %d", i, hits.Load(), soloHits)
		}
		m := l.next(solo, 300+i%500)
		// The frames are read, but the writeLoop that wrote the last of
		// them may not have let go yet (on a busy machine, often): a Send
		// now would be queued to it, never reaching the hook.
		transport.WaitWriteIdle(c)
		transport.ForgetLastWrite(c) // as after a pause: the Send flushes itself
		if err := c.Send(ctx, m); err != nil {
			t.Fatalf("lone Send %d: %v", i, err)
		}
		// Wait for it and for every frame the hooks sent, so that the
		// writer is done when the next one comes.
		for done := false; !done; {
			select {
			case r, ok := <-frames:
				if !ok {
					t.Fatalf("reader stopped at lone Send %d: %v", i, <-readErr)
				}
				got = append(got, r)
				done = len(got) >= l.total()
			case <-ctx.Done():
				t.Fatalf("lone Send %d not received: %v", i, ctx.Err())
			}
		}
	}
	closing.Store(true)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for r := range frames {
		got = append(got, r)
	}
	if err := <-readErr; !errors.Is(err, io.EOF) {
		t.Errorf("reader ended with %v, want EOF", err)
	}
	select {
	case err := <-failed:
		t.Error(err)
	default:
	}
	l.check(t, got)
	t.Logf("%d frames over %d hooked writes", len(got), calls)
}

// received is a message the peer read: its dialog id and payload.
type received struct {
	cid     uint64
	payload []byte
}

// writeTap calls before ahead of each blocking write to its stream.
type writeTap struct {
	net.Conn
	before func()
}

func (w *writeTap) Write(b []byte) (int, error) {
	w.before()
	return w.Conn.Write(b)
}

// sendLedger numbers each sender's messages, sender<<32 | sequence, and
// remembers how long each payload is, to check what the peer read.
type sendLedger struct {
	mu    sync.Mutex
	sizes map[uint64]int    // payload length by message id
	sent  map[uint64]uint64 // messages made, by sender
}

func (l *sendLedger) init() {
	l.sizes, l.sent = map[uint64]int{}, map[uint64]uint64{}
}

// next returns sender's next message, with size bytes of payload.
func (l *sendLedger) next(sender uint64, size int) transport.Msg {
	l.mu.Lock()
	defer l.mu.Unlock()
	cid := sender<<32 | l.sent[sender]
	l.sent[sender]++
	l.sizes[cid] = size
	return yield(cid, ledgerPayload(cid, size))
}

// forget takes back message cid, its sender's last, which was not sent.
func (l *sendLedger) forget(cid uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[cid>>32]--
	delete(l.sizes, cid)
}

// total returns how many messages were made.
func (l *sendLedger) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sizes)
}

// check fails t unless got holds every message made, each once, intact,
// and each sender's in the order made.
func (l *sendLedger) check(t *testing.T, got []received) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[uint64]uint64{}
	for i, r := range got {
		sender, seq := r.cid>>32, r.cid&(1<<32-1)
		if seq != seen[sender] {
			t.Fatalf("frame %d: sender %d's message %d, want its message %d", i, sender, seq, seen[sender])
		}
		seen[sender]++
		size, ok := l.sizes[r.cid]
		if !ok {
			t.Fatalf("frame %d: sender %d's message %d was never sent", i, sender, seq)
		}
		if want := ledgerPayload(r.cid, size); !bytes.Equal(r.payload, want) {
			t.Fatalf("frame %d: sender %d's message %d: payload of %d bytes differs from the %d sent",
				i, sender, seq, len(r.payload), size)
		}
	}
	for sender, n := range l.sent {
		if seen[sender] != n {
			t.Errorf("sender %d: %d messages read, %d sent", sender, seen[sender], n)
		}
	}
}

// ledgerPayload returns the payload of message cid: size bytes that differ
// from one message to the next.
func ledgerPayload(cid uint64, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(uint64(i)*131 + cid*17 + (cid>>32)*59)
	}
	return b
}
