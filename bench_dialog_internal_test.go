package tractor

import (
	"context"
	"sync"
	"testing"

	"github.com/tractor-go/tractor/transport"
)

// creditLink is a connection that plays the peer of one stream dialog: it
// passes on the items each credit message grants, and, as a brokenLink,
// has nothing to serve until it is closed.
type creditLink struct {
	brokenLink
	grants chan int
}

func (c *creditLink) Send(_ context.Context, m transport.Msg) error {
	if m.Kind == transport.KindCredit {
		c.grants <- int(m.Credit)
	}
	return nil
}

// BenchmarkDialogDeliver: the receiving side of a stream dialog, one
// process's half of a stream from a process actor: a goroutine delivers
// 32-byte items as the transport's read loop does, within the credit the
// receiver grants, and another receives them; beside two goroutines that
// pass the same items through a buffered channel.
func BenchmarkDialogDeliver(b *testing.B) {
	b.Run("baseline=buffered-chan", func(b *testing.B) {
		c := make(chan [4]int64, defaultWindow)
		go func() {
			for i := range b.N {
				c <- [4]int64{int64(i)}
			}
			close(c)
		}()
		for range c {
		}
	})
	b.Run("tractor=dialog-deliver-receive", func(b *testing.B) {
		link := &creditLink{brokenLink: brokenLink{closed: make(chan struct{})}, grants: make(chan int, 4)}
		ch := servedSession(b, defaultConfig(), link)
		ctx := context.Background()
		d, err := ch.open(ctx, "bench", modeStream, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer d.finish()
		var wg sync.WaitGroup // the peer's deliveries
		defer wg.Wait()
		wg.Go(func() {
			credit := d.recv.items
			for i := range b.N {
				for credit == 0 {
					credit += <-link.grants
				}
				credit--
				ch.deliver(transport.Msg{Kind: transport.KindYield, CID: d.cid, Payload: [4]int64{int64(i)}, Size: 34})
			}
			ch.deliver(transport.Msg{Kind: transport.KindStop, CID: d.cid})
			ch.deliver(transport.Msg{Kind: transport.KindReturn, CID: d.cid})
		})
		b.ReportAllocs()
		for {
			if _, err := d.receivePayload(ctx); err != nil {
				break
			}
		}
	})
}
