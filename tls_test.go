package tractor_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// tlsDirEnv names a directory holding ca.pem, cert.pem and key.pem: with
// it set, the test binary's process actors use TLS (see childOptions).
const tlsDirEnv = "TEST_TLS_DIR"

// childOptions are the options a process actor of the tests takes from its
// own environment: TLS cannot travel from the parent.
func childOptions() []tractor.Option {
	dir := os.Getenv(tlsDirEnv)
	if dir == "" {
		return nil
	}
	cfg, err := loadTLS(dir)
	if err != nil {
		panic(err)
	}
	return []tractor.Option{tractor.TLS(cfg)}
}

// writePKI makes a CA and a certificate it signs for the loopback
// addresses, usable by servers and clients, and writes them to dir.
func writePKI(t *testing.T, dir string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tractor test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "tractor actor"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("127.0.0.2")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"ca.pem":   {Type: "CERTIFICATE", Bytes: caDER},
		"cert.pem": {Type: "CERTIFICATE", Bytes: der},
		"key.pem":  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// loadTLS builds a mutual-TLS config from the files writePKI wrote.
func loadTLS(dir string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: pool,
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS13,
	}, nil
}

// TestTLS: with TLS, process actors find each other and talk over mutual
// TLS; a peer without TLS, or with a certificate from another authority,
// is refused, and the tree keeps serving.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	writePKI(t, dir)
	t.Setenv(tlsDirEnv, dir)
	cfg, err := loadTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "tls tree"
	h := processTCP // process-tcp
	err = run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			a, err := n.StartActor(ctx, "a", tractor.Expose(talkTo))
			if err != nil {
				return err
			}
			if _, err := n.StartActor(ctx, "b", tractor.Expose(echo, whoCalls)); err != nil {
				return err
			}
			r, err := talkTo.Call(ctx, a, "b")
			if err != nil || r.SeenAs != a.Actor() || r.Sum != 55 {
				t.Fatalf("siblings over TLS: %+v, %v", r, err)
			}
			addr := tractor.CurrentActor(ctx).Addr()

			// The listener speaks TLS, and accepts our certificate.
			c, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				t.Fatalf("TLS dial with the tree's certificate: %v", err)
			}
			if !c.ConnectionState().HandshakeComplete {
				t.Fatal("TLS handshake not complete")
			}
			c.Close()

			tcfg := transport.DefaultConfig()
			tcfg.Secret = []byte(secret)
			ask := transport.Hello{Info: peerHello{To: a.Actor().UID}}
			hctx, cancel := context.WithTimeout(ctx, hangBound)
			defer cancel()
			// Without TLS: refused, even with the secret.
			if conn, err := (transport.TCP{Config: tcfg}).Dial(hctx, addr); err == nil {
				_, err = conn.(*transport.WireConn).Handshake(hctx, ask)
				conn.Close()
				if err == nil || hctx.Err() != nil {
					t.Fatalf("plain TCP handshake against a TLS listener: %v", err)
				}
			}
			// With a certificate from another authority: refused.
			other := t.TempDir()
			writePKI(t, other)
			ocfg, err := loadTLS(other)
			if err != nil {
				t.Fatal(err)
			}
			if conn, err := (transport.TCP{Config: tcfg, TLS: ocfg}).Dial(hctx, addr); err == nil {
				_, err = conn.(*transport.WireConn).Handshake(hctx, ask)
				conn.Close()
				if err == nil {
					t.Fatal("handshake with a foreign certificate succeeded")
				}
			}
			p, err := tractor.FindActor(ctx, "a")
			if err != nil {
				return err
			}
			r, err = talkTo.Call(ctx, p, "b")
			if err != nil || r.Sum != 55 {
				t.Fatalf("after the refusals: %+v, %v", r, err)
			}
			return nil
		})
	}, tractor.TLS(cfg), tractor.Secret(secret))
	if err != nil {
		t.Fatal(err)
	}
}
