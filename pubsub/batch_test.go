package pubsub_test

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/pubsub"
)

// hugeValue is over half the default frame limit (16 MiB): two of them
// cannot go in one frame.
const hugeValue = 9 << 20

// huge publishes key values of hugeValue bytes each on every topic wanted
// when it starts, the i-th made of the digit i, then returns.
var huge = pubsub.Publish("test.huge", func(ctx context.Context, f *pubsub.Feed[string]) error {
	n, err := strconv.Atoi(f.Key())
	if err != nil {
		return err
	}
	values := make([]string, n)
	for i := range values {
		values[i] = strings.Repeat(strconv.Itoa(i%10), hugeValue)
	}
	topics := f.Topics()
	for _, v := range values {
		for _, t := range topics {
			f.Publish(t, v)
		}
	}
	return nil
})

// TestBatchOverFrameLimit publishes values that queue up faster than the
// publisher sends them (each takes milliseconds on the wire) and that
// together are over the frame limit: they arrive all, in order, because a
// batch too large for one frame is sent in halves, down to a value alone.
func TestBatchOverFrameLimit(t *testing.T) {
	const n = 3
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withPub(t, h, func(ctx context.Context, _ *tractor.Nursery, pub *tractor.Portal) {
				sub, err := huge.Subscribe(ctx, pub, []string{"t"}, pubsub.Key(strconv.Itoa(n)))
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Close()
				for i := range n {
					m, err := sub.Receive(ctx)
					if err != nil {
						t.Fatalf("value %d: %v", i, err)
					}
					if want := strconv.Itoa(i % 10); len(m.Value) != hugeValue || m.Value[:1] != want || m.Topic != "t" {
						t.Fatalf("value %d: %d bytes starting %q on %q; want %d bytes of %q on \"t\"", i, len(m.Value), m.Value[:min(1, len(m.Value))], m.Topic, hugeValue, want)
					}
				}
				if _, err := sub.Receive(ctx); err != io.EOF {
					t.Fatalf("after %d values: %v; want io.EOF", n, err)
				}
			})
		})
	}
}
