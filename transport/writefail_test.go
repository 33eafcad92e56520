package transport_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tractor-go/tractor/transport"
)

// TestSendAfterFailedWrite: once a write fails (the peer has gone), the
// Send that met it fails, and so does every later one, each with an error
// matching ErrClosed that says why the stream broke.
func TestSendAfterFailedWrite(t *testing.T) {
	c, raw := rawPair(t, transport.Config{})
	raw.Close()
	ctx := context.Background()
	item := strings.Repeat("x", 1024)
	var first error
	for range 10_000 { // the kernel takes some before it refuses
		if first = c.Send(ctx, yield(1, item)); first != nil {
			break
		}
	}
	if !errors.Is(first, transport.ErrClosed) || !strings.Contains(first.Error(), "write") {
		t.Fatalf("Send to a peer that has gone: %v; want ErrClosed naming the failed write", first)
	}
	for i := range 3 {
		if err := c.Send(ctx, yield(1, "more")); !errors.Is(err, transport.ErrClosed) || !strings.Contains(err.Error(), "write") {
			t.Fatalf("Send %d after the failed write: %v; want ErrClosed naming it", i+1, err)
		}
	}
}

// TestSendMeetsFailedWrite: a Send that writes its frame itself, on a
// socket whose peer has gone, fails at once with the write's error rather
// than leaving the frame to the writer goroutine: a Unix socket refuses
// the first write after its peer closed.
func TestSendMeetsFailedWrite(t *testing.T) {
	c, raw := rawPair(t, transport.Config{})
	raw.Close()
	transport.ForgetLastWrite(c)
	if err := c.Send(context.Background(), yield(1, "x")); !errors.Is(err, transport.ErrClosed) || !strings.Contains(err.Error(), "write") {
		t.Fatalf("Send to a peer that has gone: %v; want ErrClosed naming the failed write", err)
	}
}
