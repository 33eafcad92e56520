package tractor_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
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

// holdGrandchild starts a grandchild process actor, sends its pid as its
// first value, and holds it until cancelled.
var holdGrandchild = tractor.Ctx("test.holdGrandchild", func(c *tractor.Context, _ struct{}) (int, error) {
	err := tractor.OpenNursery(c, func(n *tractor.Nursery) error {
		defer n.Cancel()
		g, err := n.StartActor(c, "grandchild", tractor.Expose(pid, square))
		if err != nil {
			return err
		}
		gp, err := pid.Call(c, g, struct{}{})
		if err != nil {
			return err
		}
		if err := c.Started(gp); err != nil {
			return err
		}
		<-c.Done()
		return nil
	})
	return 0, err
})

// TestSecretNotInProc: the tree's secret, given with the Secret option or
// TRACTOR_SECRET, is in neither the environment nor the command line of
// any process actor (children and grandchildren), as /proc shows them to
// anyone of the same user; and every process still knows it: the
// grandchild's listener admits the root.
func TestSecretNotInProc(t *testing.T) {
	const secret = "s3cret-of-the-tree-9f2c41d7"
	for _, h := range processHostings {
		for _, how := range []string{"option", "env"} {
			t.Run(h.name+"/"+how, func(t *testing.T) {
				var opts []tractor.Option
				if how == "env" {
					t.Setenv("TRACTOR_SECRET", secret)
				} else {
					opts = append(opts, tractor.Secret(secret))
				}
				err := run(t, h, func(ctx context.Context) error {
					return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error {
						defer n.Cancel()
						p, err := n.StartActor(ctx, "child", tractor.Expose(pid, holdGrandchild))
						if err != nil {
							return err
						}
						child, err := pid.Call(ctx, p, struct{}{})
						if err != nil {
							return err
						}
						c, err := holdGrandchild.Open(ctx, p, struct{}{})
						if err != nil {
							return err
						}
						var grandchild int
						if err := c.First(&grandchild); err != nil {
							return err
						}
						for who, pid := range map[string]int{"child": child, "grandchild": grandchild} {
							for _, file := range []string{"environ", "cmdline"} {
								b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
								if err != nil {
									t.Fatalf("%s: %v", who, err)
								}
								if file == "environ" && !bytes.Contains(b, []byte("TRACTOR_SPAWN=")) {
									t.Fatalf("%s's environment %q is not a spawned actor's", who, b)
								}
								if bytes.Contains(b, []byte(secret)) {
									t.Errorf("the secret is in the %s's /proc/%d/%s", who, pid, file)
								}
							}
						}
						g, err := tractor.FindActor(ctx, "grandchild")
						if err != nil {
							return err
						}
						if v, err := square.Call(ctx, g, 5); err != nil || v != 25 {
							t.Errorf("grandchild reached directly: %v, %v", v, err)
						}
						return nil
					})
				}, opts...)
				if err != nil {
					t.Fatalf("tree: %v", err)
				}
			})
		}
	}
}
