package transport_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tractor-go/tractor/internal/settle"
	"github.com/tractor-go/tractor/transport"
)

// TestSendQueueIsBounded: a peer that does not read fills the stream's
// buffers, then the queue of frames behind the write in progress; a Send
// that finds the queue full waits, until its ctx ends, instead of queueing
// without bound. What Sends accepted before is bounded by the stream's
// buffers plus the queue's bound, far under what was offered.
func TestSendQueueIsBounded(t *testing.T) {
	c, _ := rawPair(t, transport.Config{}) // the raw end never reads
	payload := incompressible(1, 16<<10)
	const offered = 64 << 20 // far over a socket's buffers and the queue
	const bound = 8 << 20
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var accepted atomic.Int64
	ended := make(chan error, 1)
	go func() {
		for accepted.Load() < offered {
			if err := c.Send(ctx, yield(1, payload)); err != nil {
				ended <- err
				return
			}
			accepted.Add(int64(len(payload)))
		}
		ended <- nil
	}()
	var err error
	finished := false
	settle.Eventually(t, waitLimit, func() error {
		select {
		case err = <-ended:
			finished = true
			return nil
		default:
		}
		if waitsInSelect("transport.(*WireConn).send(") {
			return nil
		}
		return errors.New("Send neither waits nor fails")
	})
	if !finished {
		cancel()
		err = <-ended
	}
	if n := accepted.Load(); n >= bound {
		t.Fatalf("Sends to a peer that does not read accepted %d bytes, want under %d", n, bound)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the Send that found the queue full returned %v, want context.Canceled once its ctx ended", err)
	}
}

// waitsInSelect reports whether a goroutine waits in a select statement of
// the function fn (as "pkg.(*T).name("): a Send waiting for room in the
// queue, not one held up for a moment by a mutex.
func waitsInSelect(fn string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, stack, _ := strings.Cut(g, "\n")
		// "goroutine 7 [select]:" then its frames, innermost first: the
		// select's runtime frames, then the function that selects.
		if !strings.Contains(header, "[select") {
			continue
		}
		for _, line := range strings.Split(stack, "\n") {
			if strings.HasPrefix(line, "runtime.") || strings.HasPrefix(line, "\t") {
				continue
			}
			if strings.Contains(line, fn) {
				return true
			}
			break
		}
	}
	return false
}
