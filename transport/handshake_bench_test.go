package transport_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tractor-go/tractor/transport"
)

// BenchmarkHandshake measures one handshake, Handshake against Answer, over
// a fresh socketpair each time: plain, and authenticated with a secret, so
// that the cost of authentication is the difference. Making the socketpair
// and closing the connection are not timed.
func BenchmarkHandshake(b *testing.B) {
	for _, bc := range []struct {
		name   string
		secret []byte
	}{
		{"plain", nil},
		{"secret", testSecret},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := withSecret(bc.secret)
			ctx := context.Background()
			local := transport.Hello{Info: actorInfo{"wanted", 7}}
			reply := func(peer transport.Hello) (transport.Hello, error) {
				return transport.Hello{Info: actorInfo{"found", 42}}, nil
			}
			b.ReportAllocs()
			for range b.N {
				b.StopTimer()
				pa, pb, err := transport.Socketpair()
				if err != nil {
					b.Fatal(err)
				}
				a, err := transport.FileConn(pa, cfg)
				if err != nil {
					b.Fatal(err)
				}
				c, err := transport.FileConn(pb, cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()

				var wg sync.WaitGroup
				var aerr error
				wg.Go(func() { _, aerr = c.Answer(ctx, reply) })
				_, err = a.Handshake(ctx, local)
				wg.Wait()

				b.StopTimer()
				if err != nil || aerr != nil {
					b.Fatalf("Handshake: %v; Answer: %v", err, aerr)
				}
				closeBoth(a, c)
				b.StartTimer()
			}
		})
	}
}
