package tractor_test

import (
	"context"
	"net"
	"testing"

	"github.com/tractor-go/tractor"
)

// TestProcessChildCompression: a parent offers frame compression to a
// process child only where it pays, beyond loopback; over a socketpair or
// loopback TCP frames travel plain.
func TestProcessChildCompression(t *testing.T) {
	for _, h := range processHostings {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(square), func(ctx context.Context, p *tractor.Portal) {
				if tractor.Compressed(p) {
					t.Errorf("connection to a %s child compresses frames", h.name)
				}
			})
		})
	}
	t.Run("process-tcp-beyond-loopback", func(t *testing.T) {
		addr := outsideAddr(t)
		h := hosting{"process-tcp", append(append([]tractor.Option(nil), hostings[2].opts...), tractor.BindAddr(addr))}
		withWorker(t, h, eps(square), func(ctx context.Context, p *tractor.Portal) {
			if !tractor.Compressed(p) {
				t.Errorf("connection to a TCP child bound to %s does not compress frames", addr)
			}
			if v, err := square.Call(ctx, p, 9); err != nil || v != 81 {
				t.Errorf("square(9) = %v, %v", v, err)
			}
		})
	})
}

// outsideAddr returns "ip:0" for an IPv4 address of this host beyond
// loopback, or skips the test if it has none.
func outsideAddr(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			return net.JoinHostPort(ipn.IP.String(), "0")
		}
	}
	t.Skip("this host has no IPv4 address beyond loopback")
	return ""
}
