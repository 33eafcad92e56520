package transport_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// testPKI is a certificate authority and a certificate it issued for
// 127.0.0.1, good for serving and for client authentication.
type testPKI struct {
	roots *x509.CertPool
	leaf  tls.Certificate
}

func newTestPKI(t testing.TB) testPKI {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tractor test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	ca, err := x509.ParseCertificate(caDER)
	must(err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "tractor test node"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	must(err)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return testPKI{roots: roots, leaf: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// config is one TLS config for both roles, with mutual authentication.
func (p testPKI) config() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.leaf},
		RootCAs:      p.roots,
		ClientCAs:    p.roots,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
}

// answerLoop answers every connection l accepts, each in a goroutine of its
// own, as the runtime does: those that answer go to ok, the errors of
// those that fail to failed. The test's cleanup closes l and waits for all
// of them.
func answerLoop(t *testing.T, l transport.Listener, reply func(transport.Hello) (transport.Hello, error)) (ok <-chan *transport.WireConn, failed <-chan error) {
	okc, failedc := make(chan *transport.WireConn, 16), make(chan error, 16)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept(ctx)
			if err != nil {
				return
			}
			wg.Go(func() {
				wc := c.(*transport.WireConn)
				if _, err := wc.Answer(ctx, reply); err != nil {
					failedc <- err
					return
				}
				okc <- wc
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		cancel()
		wg.Wait()
		close(okc)
		for c := range okc {
			c.Close()
		}
	})
	return okc, failedc
}

// receive waits for a value from ch.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatal("nothing arrived")
		panic("unreachable")
	}
}

func TestTCPTLSRoundTrip(t *testing.T) {
	cfg := newTestPKI(t).config()
	tr := transport.TCP{Config: withSecret(testSecret), TLS: cfg}
	ctx := context.Background()
	l, err := tr.Listen(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	r := &replier{info: actorInfo{"found", 42}}
	ok, _ := answerLoop(t, l, r.reply)

	d, err := tr.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	dc := d.(*transport.WireConn)
	peer, err := dc.Handshake(boundedCtx(t), transport.Hello{Info: actorInfo{"wanted", 7}})
	if err != nil {
		t.Fatalf("Handshake: %v", err)
	}
	if got := decodeAs[actorInfo](t, peer.Info); got != (actorInfo{"found", 42}) {
		t.Fatalf("dialer got Info %+v", got)
	}
	ac := receive(t, ok)
	if got := r.saw.Load(); got != (actorInfo{"wanted", 7}) {
		t.Fatalf("reply saw Info %+v", got)
	}
	sa, sd := serve(t, ac), serve(t, dc)
	for i := range 3 {
		if err := dc.Send(ctx, yield(uint64(i), i)); err != nil {
			t.Fatal(err)
		}
		if err := ac.Send(ctx, yield(uint64(i), -i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*serving{sa, sd} {
		if got := s.col.waitN(t, 3); got[2].CID != 2 {
			t.Fatalf("delivered %+v", got)
		}
	}

	// Nothing bypasses TLS: a *tls.Conn has no descriptor to write to, and
	// neither end writes through one.
	var tc any = (*tls.Conn)(nil)
	if _, ok := tc.(syscall.Conn); ok {
		t.Fatal("*tls.Conn implements syscall.Conn")
	}
	if transport.UsesDescriptor(dc) || transport.UsesDescriptor(ac) {
		t.Fatalf("a TLS connection writes through the descriptor (dialer %v, acceptor %v)",
			transport.UsesDescriptor(dc), transport.UsesDescriptor(ac))
	}
	// Dial set the server name on its own copy of the config.
	if cfg.ServerName != "" {
		t.Fatalf("Dial changed the caller's config: ServerName %q", cfg.ServerName)
	}
	// A dialer's close ends the acceptor's Serve cleanly (close_notify).
	dc.Close()
	if err := sa.wait(t); err != io.EOF {
		t.Fatalf("acceptor's Serve returned %v after the dialer's Close, want io.EOF", err)
	}
}

// TestTCPTLSRefusesOthers: a plain TCP client, a silent one and one that
// does not trust the server's CA all fail, without holding up the listener
// for the clients that follow.
func TestTCPTLSRefusesOthers(t *testing.T) {
	pki := newTestPKI(t)
	tr := transport.TCP{Config: withSecret(testSecret), TLS: pki.config()}
	ctx := context.Background()
	l, err := tr.Listen(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	r := &replier{info: "welcome"}
	ok, failed := answerLoop(t, l, r.reply)

	// A client that connects and says nothing holds only its own
	// connection, not the listener.
	silent, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	t.Run("plain client", func(t *testing.T) {
		plain := transport.TCP{Config: withSecret(testSecret)}
		c, err := plain.Dial(ctx, l.Addr())
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.Close()
		if _, err := c.(*transport.WireConn).Handshake(boundedCtx(t), transport.Hello{}); err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("plain Handshake with a TLS listener returned %v, want a failure before the deadline", err)
		}
		if err := receive(t, failed); err == nil {
			t.Fatal("the listener answered a plain client")
		}
	})
	t.Run("unknown CA", func(t *testing.T) {
		other := newTestPKI(t).config() // trusts another CA, and has a certificate of it
		_, err := transport.TCP{Config: withSecret(testSecret), TLS: other}.Dial(boundedCtx(t), l.Addr())
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Fatalf("Dial to a server of an unknown CA returned %v, want a certificate verification error", err)
		}
		if err := receive(t, failed); err == nil {
			t.Fatal("the listener answered a client that refused its certificate")
		}
	})
	t.Run("client without certificate", func(t *testing.T) {
		cfg := pki.config()
		cfg.Certificates = nil
		c, err := transport.TCP{Config: withSecret(testSecret), TLS: cfg}.Dial(boundedCtx(t), l.Addr())
		if err == nil {
			// In TLS 1.3 the client finishes first; the server's refusal
			// arrives with the first read.
			_, err = c.(*transport.WireConn).Handshake(boundedCtx(t), transport.Hello{})
		}
		if err == nil {
			t.Fatal("a client without a certificate got through")
		}
		if err := receive(t, failed); err == nil {
			t.Fatal("the listener answered a client without a certificate")
		}
	})
	t.Run("good client after", func(t *testing.T) {
		c, err := tr.Dial(ctx, l.Addr())
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		peer, err := c.(*transport.WireConn).Handshake(boundedCtx(t), transport.Hello{})
		if err != nil {
			c.Close()
			t.Fatalf("Handshake: %v", err)
		}
		closeBoth(c, receive(t, ok))
		if got := decodeAs[string](t, peer.Info); got != "welcome" {
			t.Fatalf("got Info %q", got)
		}
	})
	if n := r.calls.Load(); n != 1 {
		t.Fatalf("reply called %d times, want once, for the good client", n)
	}
}

// TestTCPTLSDialHonoursCtx dials a server that accepts the TCP connection
// but never answers the TLS handshake: Dial returns when ctx ends.
func TestTCPTLSDialHonoursCtx(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c) // reads the client hello, never answers
			c.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = transport.TCP{TLS: newTestPKI(t).config()}.Dial(ctx, ln.Addr().String())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial returned %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > waitLimit/2 {
		t.Fatalf("Dial took %v", d)
	}
}
