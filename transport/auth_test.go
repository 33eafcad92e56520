package transport_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tractor-go/tractor/transport"
)

var (
	testSecret  = []byte("0123456789abcdef0123456789abcdef")
	otherSecret = []byte("fedcba9876543210fedcba9876543210")
)

// withSecret returns the default configuration with secret.
func withSecret(secret []byte) transport.Config {
	cfg := transport.DefaultConfig()
	cfg.Secret = secret
	return cfg
}

// pipeConns returns the two ends of a net.Pipe, which buffers nothing: a
// write waits for the peer's read.
func pipeConns(t testing.TB, ca, cb transport.Config) (a, b *transport.WireConn) {
	t.Helper()
	pa, pb := net.Pipe()
	a, b = transport.NewConn(pa, ca), transport.NewConn(pb, cb)
	t.Cleanup(func() { closeBoth(a, b) })
	return a, b
}

// answerConnTypes are the streams the tests of Answer and of
// authentication run over.
var answerConnTypes = []connType{
	{"socketpair", socketpairConns},
	{"tcp", tcpConns},
	{"netpipe", pipeConns},
}

func forEachAnswerConnType(t *testing.T, body func(t *testing.T, ct connType)) {
	for _, ct := range answerConnTypes {
		t.Run(ct.name, func(t *testing.T) { body(t, ct) })
	}
}

// replier is a reply function for Answer that records its calls.
type replier struct {
	calls atomic.Int32
	saw   atomic.Value // the Info of the last hello it saw, as an actorInfo
	err   error        // what it returns, if not nil
	info  any          // the Info of the hello it returns
}

func (r *replier) reply(peer transport.Hello) (transport.Hello, error) {
	r.calls.Add(1)
	var got actorInfo
	if err := transport.Decode(peer.Info, &got); err == nil {
		r.saw.Store(got)
	}
	if r.err != nil {
		return transport.Hello{}, r.err
	}
	return transport.Hello{Info: r.info}, nil
}

// dialAnswer runs a's Handshake with local and b's Answer with reply,
// concurrently.
func dialAnswer(ctx context.Context, a, b *transport.WireConn, local transport.Hello, reply func(transport.Hello) (transport.Hello, error)) (ra, rb shaken) {
	var wg sync.WaitGroup
	wg.Go(func() { ra.peer, ra.err = a.Handshake(ctx, local) })
	wg.Go(func() { rb.peer, rb.err = b.Answer(ctx, reply) })
	wg.Wait()
	return ra, rb
}

// answerBoth runs both sides' Answer concurrently.
func answerBoth(ctx context.Context, a, b *transport.WireConn, reply func(transport.Hello) (transport.Hello, error)) (ra, rb shaken) {
	var wg sync.WaitGroup
	wg.Go(func() { ra.peer, ra.err = a.Answer(ctx, reply) })
	wg.Go(func() { rb.peer, rb.err = b.Answer(ctx, reply) })
	wg.Wait()
	return ra, rb
}

// boundedCtx is a context for a handshake that must end by itself: the
// test fails, rather than hangs, if it does not.
func boundedCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// assertClosed checks that c was closed by its failed handshake.
func assertClosed(t *testing.T, c *transport.WireConn) {
	t.Helper()
	if err := c.Send(context.Background(), yield(1, nil)); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("Send after a failed handshake returned %v, want ErrClosed", err)
	}
}

func TestAnswerExchangesInfo(t *testing.T) {
	for _, secret := range [][]byte{nil, testSecret} {
		t.Run(fmt.Sprintf("secret=%v", secret != nil), func(t *testing.T) {
			forEachAnswerConnType(t, func(t *testing.T, ct connType) {
				a, b := ct.make(t, withSecret(secret), withSecret(secret))
				r := &replier{info: actorInfo{"found", 42}}
				ra, rb := dialAnswer(boundedCtx(t), a, b, transport.Hello{Info: actorInfo{"wanted", 7}}, r.reply)
				if ra.err != nil || rb.err != nil {
					t.Fatalf("Handshake: %v; Answer: %v", ra.err, rb.err)
				}
				if n := r.calls.Load(); n != 1 {
					t.Fatalf("reply called %d times", n)
				}
				if got := r.saw.Load(); got != (actorInfo{"wanted", 7}) {
					t.Fatalf("reply saw Info %+v", got)
				}
				if got := decodeAs[actorInfo](t, rb.peer.Info); got != (actorInfo{"wanted", 7}) {
					t.Fatalf("Answer returned Info %+v", got)
				}
				if got := decodeAs[actorInfo](t, ra.peer.Info); got != (actorInfo{"found", 42}) {
					t.Fatalf("Handshake returned Info %+v", got)
				}
				for _, p := range []transport.Hello{ra.peer, rb.peer} {
					if p.Version != transport.ProtocolVersion || !p.Compress || p.MaxFrame != transport.DefaultMaxFrame {
						t.Fatalf("peer hello %+v", p)
					}
				}
				// The connection carries messages both ways, compressed.
				sa, sb := serve(t, a), serve(t, b)
				big := strings.Repeat("compressible ", 1000)
				if err := a.Send(context.Background(), yield(1, big)); err != nil {
					t.Fatal(err)
				}
				if err := b.Send(context.Background(), yield(2, "pong")); err != nil {
					t.Fatal(err)
				}
				if got := decodeAs[string](t, sb.col.waitN(t, 1)[0].Payload); got != big {
					t.Fatalf("b got %d bytes", len(got))
				}
				if got := decodeAs[string](t, sa.col.waitN(t, 1)[0].Payload); got != "pong" {
					t.Fatalf("a got %q", got)
				}
			})
		})
	}
}

func TestAnswerAgreesSmallerMaxFrameAndCompression(t *testing.T) {
	forEachAnswerConnType(t, func(t *testing.T, ct connType) {
		a, b := ct.make(t, transport.Config{Compress: true}, transport.Config{MaxFrame: 4096})
		r := &replier{}
		ra, rb := dialAnswer(boundedCtx(t), a, b, transport.Hello{}, r.reply)
		if ra.err != nil || rb.err != nil {
			t.Fatalf("Handshake: %v; Answer: %v", ra.err, rb.err)
		}
		if ra.peer.MaxFrame != 4096 || ra.peer.Compress || !rb.peer.Compress {
			t.Fatalf("a got %+v, b got %+v", ra.peer, rb.peer)
		}
		sa, sb := serve(t, a), serve(t, b)
		big := strings.Repeat("x", 5000)
		for _, c := range []*transport.WireConn{a, b} {
			if err := c.Send(context.Background(), yield(1, big)); !errors.Is(err, transport.ErrFrameTooLarge) {
				t.Fatalf("Send over the agreed limit returned %v, want ErrFrameTooLarge", err)
			}
			if err := c.Send(context.Background(), yield(2, "ok")); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range []*serving{sa, sb} {
			if got := s.col.waitN(t, 1); got[0].CID != 2 {
				t.Fatalf("delivered %+v", got)
			}
		}
	})
}

func TestAnswerReplyError(t *testing.T) {
	errNoActor := errors.New("no such actor")
	for _, secret := range [][]byte{nil, testSecret} {
		t.Run(fmt.Sprintf("secret=%v", secret != nil), func(t *testing.T) {
			forEachAnswerConnType(t, func(t *testing.T, ct connType) {
				a, b := ct.make(t, withSecret(secret), withSecret(secret))
				r := &replier{err: errNoActor}
				ra, rb := dialAnswer(boundedCtx(t), a, b, transport.Hello{Info: actorInfo{"wanted", 7}}, r.reply)
				if !errors.Is(rb.err, errNoActor) {
					t.Fatalf("Answer returned %v, want the reply's error", rb.err)
				}
				if !errors.Is(ra.err, io.ErrUnexpectedEOF) {
					t.Fatalf("Handshake returned %v, want io.ErrUnexpectedEOF", ra.err)
				}
				assertClosed(t, a)
				assertClosed(t, b)
			})
		})
	}
}

func TestAuthWrongSecret(t *testing.T) {
	forEachAnswerConnType(t, func(t *testing.T, ct connType) {
		a, b := ct.make(t, withSecret(otherSecret), withSecret(testSecret))
		r := &replier{}
		ra, rb := dialAnswer(boundedCtx(t), a, b, transport.Hello{Info: actorInfo{"wanted", 7}}, r.reply)
		if !errors.Is(rb.err, transport.ErrAuth) || !strings.Contains(rb.err.Error(), "wrong proof") {
			t.Fatalf("Answer returned %v, want ErrAuth for a wrong proof", rb.err)
		}
		if !errors.Is(ra.err, transport.ErrAuth) || !strings.Contains(ra.err.Error(), "refused our proof") {
			t.Fatalf("Handshake returned %v, want ErrAuth for a refused proof", ra.err)
		}
		if n := r.calls.Load(); n != 0 {
			t.Fatalf("reply called %d times for an unauthenticated peer", n)
		}
		assertClosed(t, a)
		assertClosed(t, b)
	})
}

// TestAuthOneSideWithoutSecret pairs a side with a secret and one without,
// in every role: both fail with ErrAuth, and reply is never called.
func TestAuthOneSideWithoutSecret(t *testing.T) {
	for _, tc := range []struct {
		name             string
		dialer, acceptor []byte
		symmetric        bool // both call Handshake
		acceptorSays     string
	}{
		{"dialer without", nil, testSecret, false, "no proof"},
		{"acceptor without", testSecret, nil, false, "requires authentication"},
		{"symmetric peer without", testSecret, nil, true, "requires authentication"},
		{"symmetric dialer without", nil, testSecret, true, "no proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachAnswerConnType(t, func(t *testing.T, ct connType) {
				a, b := ct.make(t, withSecret(tc.dialer), withSecret(tc.acceptor))
				r := &replier{}
				var ra, rb shaken
				if tc.symmetric {
					ra, rb = handshakeBoth(a, b, transport.Hello{Info: actorInfo{"a", 1}}, transport.Hello{Info: actorInfo{"b", 2}}, boundedCtx(t))
				} else {
					ra, rb = dialAnswer(boundedCtx(t), a, b, transport.Hello{Info: actorInfo{"a", 1}}, r.reply)
				}
				if !errors.Is(rb.err, transport.ErrAuth) || !strings.Contains(rb.err.Error(), tc.acceptorSays) {
					t.Fatalf("acceptor returned %v, want ErrAuth saying %q", rb.err, tc.acceptorSays)
				}
				if !errors.Is(ra.err, transport.ErrAuth) {
					t.Fatalf("dialer returned %v, want ErrAuth", ra.err)
				}
				if n := r.calls.Load(); n != 0 {
					t.Fatalf("reply called %d times", n)
				}
			})
		})
	}
}

// TestAuthSameRoleBothSides: with a secret, two dialers or two acceptors
// fail at once, each seeing the other's challenge where a reply belongs.
func TestAuthSameRoleBothSides(t *testing.T) {
	forEachAnswerConnType(t, func(t *testing.T, ct connType) {
		t.Run("both dial", func(t *testing.T) {
			a, b := ct.make(t, withSecret(testSecret), withSecret(testSecret))
			ra, rb := handshakeBoth(a, b, transport.Hello{}, transport.Hello{}, boundedCtx(t))
			for _, r := range []shaken{ra, rb} {
				if !errors.Is(r.err, transport.ErrAuth) || !strings.Contains(r.err.Error(), "must call Answer") {
					t.Fatalf("Handshake returned %v, want ErrAuth naming Answer", r.err)
				}
			}
		})
		t.Run("both answer", func(t *testing.T) {
			a, b := ct.make(t, withSecret(testSecret), withSecret(testSecret))
			r := &replier{}
			ra, rb := answerBoth(boundedCtx(t), a, b, r.reply)
			for _, r := range []shaken{ra, rb} {
				if !errors.Is(r.err, transport.ErrAuth) || !strings.Contains(r.err.Error(), "must call Handshake") {
					t.Fatalf("Answer returned %v, want ErrAuth naming Handshake", r.err)
				}
			}
			if n := r.calls.Load(); n != 0 {
				t.Fatalf("reply called %d times", n)
			}
		})
	})
}

func TestAnswerVersionMismatch(t *testing.T) {
	for _, secret := range [][]byte{nil, testSecret} {
		t.Run(fmt.Sprintf("secret=%v", secret != nil), func(t *testing.T) {
			forEachAnswerConnType(t, func(t *testing.T, ct connType) {
				a, b := ct.make(t, withSecret(secret), withSecret(secret))
				r := &replier{}
				ra, rb := dialAnswer(boundedCtx(t), a, b, transport.Hello{Version: transport.ProtocolVersion + 1}, r.reply)
				for _, r := range []shaken{ra, rb} {
					if !errors.Is(r.err, transport.ErrVersion) {
						t.Fatalf("handshake returned %v, want ErrVersion", r.err)
					}
				}
				assertClosed(t, a)
				assertClosed(t, b)
			})
		})
	}
}

// TestAnswerUnreadableVersion: a hello of another version, in a shape this
// side cannot read, is not passed to reply; the dialer gets a bare hello,
// so that it reports the mismatch too.
// The shortest such frame holds the magic and the version alone.
func TestAnswerUnreadableVersion(t *testing.T) {
	for _, shape := range [][]any{
		{"tractor-go", 99, "a shape of the future"},
		{"tractor-go", 99},
	} {
		answerUnreadable(t, shape)
	}
}

func answerUnreadable(t *testing.T, shape []any) {
	b, raw := rawPair(t, transport.Config{})
	body, err := msgpack.Marshal(shape)
	if err != nil {
		t.Fatal(err)
	}
	go raw.Write(frame(0, body))
	r := &replier{}
	if _, err := b.Answer(boundedCtx(t), r.reply); !errors.Is(err, transport.ErrVersion) {
		t.Fatalf("%v: Answer returned %v, want ErrVersion", shape, err)
	}
	if n := r.calls.Load(); n != 0 {
		t.Fatalf("%v: reply called %d times", shape, n)
	}
	_, got, err := readFrame(raw)
	if err != nil {
		t.Fatalf("%v: %v", shape, err)
	}
	var hello []any
	if err := msgpack.Unmarshal(got, &hello); err != nil || len(hello) != 5 || fmt.Sprint(hello[1]) != fmt.Sprint(transport.ProtocolVersion) {
		t.Fatalf("%v: the dialer got %v (%v), want a hello of version %d", shape, hello, err, transport.ProtocolVersion)
	}
}

// authBody is an authentication frame's body as the format describes it:
// ["tractor-go", version, step, bytes].
func authBody(step string, data []byte) []byte {
	b, err := msgpack.Marshal([]any{"tractor-go", transport.ProtocolVersion, step, data})
	if err != nil {
		panic(err)
	}
	return b
}

// readAuthFrame reads an authentication frame from r, by hand.
func readAuthFrame(t *testing.T, r io.Reader) (step string, data []byte) {
	t.Helper()
	flags, body, err := readFrame(r)
	if err != nil {
		t.Fatalf("reading an authentication frame: %v", err)
	}
	var f struct {
		_msgpack struct{} `msgpack:",as_array"`
		Magic    string
		Version  int
		Step     string
		Data     []byte
	}
	if err := msgpack.Unmarshal(body, &f); err != nil || flags != 0 || f.Magic != "tractor-go" || f.Version != transport.ProtocolVersion {
		t.Fatalf("not an authentication frame: flags %d, %x (%v)", flags, body, err)
	}
	return f.Step, f.Data
}

// proof computes a proof as the format describes it.
func proof(secret []byte, label string, nD, nA []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	m.Write(nD)
	m.Write(nA)
	return m.Sum(nil)
}

// answerAsync runs c.Answer in a goroutine; the result arrives on the
// channel returned, which the test's cleanup waits for.
func answerAsync(t *testing.T, ctx context.Context, c *transport.WireConn, r *replier) <-chan shaken {
	done := make(chan shaken, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		var s shaken
		s.peer, s.err = c.Answer(ctx, r.reply)
		done <- s
	})
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return done
}

// handshakeAsync runs c.Handshake in a goroutine, like answerAsync.
func handshakeAsync(t *testing.T, ctx context.Context, c *transport.WireConn, local transport.Hello) <-chan shaken {
	done := make(chan shaken, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		var s shaken
		s.peer, s.err = c.Handshake(ctx, local)
		done <- s
	})
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return done
}

// TestAuthWireFormat speaks the dialer's side of the authentication by
// hand, from the format's description, against Answer: the right proof
// gets the acceptor's proof and then its hello.
func TestAuthWireFormat(t *testing.T) {
	b, raw := rawPair(t, withSecret(testSecret))
	r := &replier{info: "welcome"}
	done := answerAsync(t, boundedCtx(t), b, r)

	step, nA := readAuthFrame(t, raw)
	if step != "accept" || len(nA) != 32 {
		t.Fatalf("acceptor's challenge: %q of %d bytes", step, len(nA))
	}
	nD := []byte("a dialer's nonce, of 32 bytes...")
	raw.Write(frame(0, authBody("dial", nD)))
	raw.Write(frame(0, authBody("proof", proof(testSecret, "tractor-go dial", nD, nA))))
	step, p := readAuthFrame(t, raw)
	if step != "proof" || !hmac.Equal(p, proof(testSecret, "tractor-go accept", nD, nA)) {
		t.Fatalf("acceptor's proof: %q %x", step, p)
	}
	raw.Write(frame(0, helloBody(transport.ProtocolVersion, false, 1<<20)))
	_, hello, err := readFrame(raw)
	if err != nil {
		t.Fatal(err)
	}
	var h []any
	if err := msgpack.Unmarshal(hello, &h); err != nil || len(h) != 5 || h[4] != "welcome" {
		t.Fatalf("acceptor's hello: %v (%v)", h, err)
	}
	if s := <-done; s.err != nil {
		t.Fatalf("Answer: %v", s.err)
	}
	raw.Close() // so that b's Close, in the cleanup, need not wait for it
}

// TestAuthRawWrongProof: a peer that sends a well-formed challenge and then
// a wrong proof is refused and dropped, and reply is not called.
func TestAuthRawWrongProof(t *testing.T) {
	nD := []byte("a dialer's nonce, of 32 bytes...")
	for _, tc := range []struct {
		name  string
		proof func(nA []byte) []byte
	}{
		{"other secret", func(nA []byte) []byte { return proof(otherSecret, "tractor-go dial", nD, nA) }},
		{"acceptor's label", func(nA []byte) []byte { return proof(testSecret, "tractor-go accept", nD, nA) }},
		{"nonces swapped", func(nA []byte) []byte { return proof(testSecret, "tractor-go dial", nA, nD) }},
		{"zeros", func([]byte) []byte { return make([]byte, 32) }},
		{"short", func(nA []byte) []byte { return proof(testSecret, "tractor-go dial", nD, nA)[:16] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, raw := rawPair(t, withSecret(testSecret))
			r := &replier{}
			done := answerAsync(t, boundedCtx(t), b, r)
			_, nA := readAuthFrame(t, raw)
			raw.Write(frame(0, authBody("dial", nD)))
			raw.Write(frame(0, authBody("proof", tc.proof(nA))))
			if s := <-done; !errors.Is(s.err, transport.ErrAuth) {
				t.Fatalf("Answer returned %v, want ErrAuth", s.err)
			}
			if step, _ := readAuthFrame(t, raw); step != "refused" {
				t.Fatalf("after a wrong proof the acceptor sent %q, want a refusal", step)
			}
			if _, _, err := readFrame(raw); err != io.EOF {
				t.Fatalf("after the refusal: %v, want EOF", err)
			}
			if n := r.calls.Load(); n != 0 {
				t.Fatalf("reply called %d times", n)
			}
		})
	}
}

// TestAuthDialerRefusesImpostor plays an acceptor that does not know the
// secret against Handshake: reflecting the dialer's own proof, or its
// nonce, does not get the dialer's hello.
func TestAuthDialerRefusesImpostor(t *testing.T) {
	for _, tc := range []struct {
		name     string
		echo     bool // echo the dialer's nonce as the acceptor's
		reflect  bool // send the dialer's proof back as the acceptor's
		wantText string
	}{
		{"reflected proof", false, true, "wrong proof"},
		{"echoed nonce", true, false, "repeats ours"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, raw := rawPair(t, withSecret(testSecret))
			done := handshakeAsync(t, boundedCtx(t), a, transport.Hello{Info: "the dialer's secret plans"})
			step, nD := readAuthFrame(t, raw)
			if step != "dial" || len(nD) != 32 {
				t.Fatalf("dialer's challenge: %q of %d bytes", step, len(nD))
			}
			nA := []byte("an acceptor's nonce of 32 bytes.")
			if tc.echo {
				nA = nD
			}
			raw.Write(frame(0, authBody("accept", nA)))
			if tc.reflect {
				step, p := readAuthFrame(t, raw)
				if step != "proof" || !hmac.Equal(p, proof(testSecret, "tractor-go dial", nD, nA)) {
					t.Fatalf("dialer's proof: %q %x", step, p)
				}
				raw.Write(frame(0, authBody("proof", p)))
			}
			if s := <-done; !errors.Is(s.err, transport.ErrAuth) || !strings.Contains(s.err.Error(), tc.wantText) {
				t.Fatalf("Handshake returned %v, want ErrAuth saying %q", s.err, tc.wantText)
			}
			// The dialer refused, and never sent its hello.
			if step, _ := readAuthFrame(t, raw); step != "refused" {
				t.Fatalf("the dialer sent %q, want a refusal", step)
			}
			if _, _, err := readFrame(raw); err != io.EOF {
				t.Fatalf("after the refusal: %v, want EOF", err)
			}
		})
	}
}

// TestAuthGarbage feeds bytes that are no challenge to Answer with a
// secret: it fails at once, without reading more than a challenge's worth
// and without calling reply.
func TestAuthGarbage(t *testing.T) {
	noise := make([]byte, 1024)
	seed := uint32(7)
	for i := range noise {
		seed = seed*1664525 + 1013904223
		noise[i] = byte(seed >> 24)
	}
	bigHello, err := msgpack.Marshal([]any{"tractor-go", 1, false, 1 << 20, strings.Repeat("i", 200)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		bytes []byte
		want  error
	}{
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), transport.ErrFrameTooLarge},
		{"noise", noise, transport.ErrFrameTooLarge},
		{"not msgpack", frame(0, []byte{0xc1, 0xc1, 0xc1}), transport.ErrMalformed},
		{"wrong magic", frame(0, []byte{0x94, 0xa3, 'f', 'o', 'o', 1, 0xa4, 'd', 'i', 'a', 'l', 0xc4, 0}), transport.ErrMalformed},
		{"short nonce", frame(0, authBody("dial", []byte("short"))), transport.ErrMalformed},
		{"unknown step", frame(0, authBody("hello", make([]byte, 32))), transport.ErrMalformed},
		{"nonce as string", frame(0, []byte("\x94\xaatractor-go"+string(rune(transport.ProtocolVersion))+"\xa4dial\xa4abcd")), transport.ErrMalformed},
		{"extra field", frame(0, append(authBody("dial", make([]byte, 32)), 0xc0)), transport.ErrMalformed},
		{"plain hello", rawHello(t, false, 1<<20), transport.ErrAuth},
		{"big plain hello", frame(0, bigHello), transport.ErrFrameTooLarge},
		{"compressed", frame(1, authBody("dial", make([]byte, 32))), transport.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, raw := rawPair(t, withSecret(testSecret))
			go raw.Write(tc.bytes)
			r := &replier{}
			start := time.Now()
			_, err := b.Answer(boundedCtx(t), r.reply)
			if !errors.Is(err, transport.ErrAuth) || !errors.Is(err, tc.want) {
				t.Fatalf("Answer returned %v, want ErrAuth and %v", err, tc.want)
			}
			if d := time.Since(start); d > waitLimit/2 {
				t.Fatalf("Answer took %v", d)
			}
			if n := r.calls.Load(); n != 0 {
				t.Fatalf("reply called %d times", n)
			}
		})
	}
	t.Run("peer closes mid-frame", func(t *testing.T) {
		b, raw := rawPair(t, withSecret(testSecret))
		go func() {
			raw.Write(frame(0, authBody("dial", make([]byte, 32)))[:20])
			raw.Close()
		}()
		if _, err := b.Answer(boundedCtx(t), (&replier{}).reply); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Answer returned %v, want io.ErrUnexpectedEOF", err)
		}
	})
}

// TestAuthCancel ends ctx in the middle of the authentication, with the
// peer silent: the handshake returns ctx's error and closes the connection.
func TestAuthCancel(t *testing.T) {
	nD := []byte("a dialer's nonce, of 32 bytes...")
	t.Run("acceptor waits for the proof", func(t *testing.T) {
		b, raw := rawPair(t, withSecret(testSecret))
		ctx, cancel := context.WithCancel(context.Background())
		done := answerAsync(t, ctx, b, &replier{})
		readAuthFrame(t, raw)
		raw.Write(frame(0, authBody("dial", nD)))
		waitBlocked(t, "transport.(*WireConn).Answer")
		cancel()
		if s := <-done; !errors.Is(s.err, context.Canceled) {
			t.Fatalf("Answer returned %v, want context.Canceled", s.err)
		}
		assertClosed(t, b)
	})
	t.Run("dialer waits for the proof", func(t *testing.T) {
		a, raw := rawPair(t, withSecret(testSecret))
		ctx, cancel := context.WithCancel(context.Background())
		done := handshakeAsync(t, ctx, a, transport.Hello{})
		readAuthFrame(t, raw)
		raw.Write(frame(0, authBody("accept", nD)))
		if step, _ := readAuthFrame(t, raw); step != "proof" {
			t.Fatalf("dialer sent %q, want its proof", step)
		}
		waitBlocked(t, "transport.(*WireConn).Handshake")
		cancel()
		if s := <-done; !errors.Is(s.err, context.Canceled) {
			t.Fatalf("Handshake returned %v, want context.Canceled", s.err)
		}
		assertClosed(t, a)
	})
	t.Run("net.Pipe, nobody reads", func(t *testing.T) {
		// A write on a net.Pipe waits for the peer to read: the
		// challenge's write blocks until ctx ends.
		pa, pb := net.Pipe()
		defer pb.Close()
		a := transport.NewConn(pa, withSecret(testSecret))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := a.Handshake(ctx, transport.Hello{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Handshake returned %v, want context.DeadlineExceeded", err)
		}
		a.Close()
	})
}

// TestConfigStringWithoutSecret: a Config with no secret says so.
func TestConfigStringWithoutSecret(t *testing.T) {
	if s := fmt.Sprint(transport.Config{}); !strings.Contains(s, "Secret:none") {
		t.Fatalf("%q does not say that no secret is set", s)
	}
}

func TestConfigStringHidesSecret(t *testing.T) {
	tr := transport.TCP{Config: withSecret([]byte("hunter2-hunter2"))}
	for _, s := range []string{fmt.Sprint(tr.Config), fmt.Sprintf("%+v", tr), fmt.Sprintf("%v", &tr)} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, fmt.Sprint([]byte("hunter2"))[1:10]) {
			t.Fatalf("%q shows the secret", s)
		}
		if !strings.Contains(s, "Secret:set") {
			t.Fatalf("%q does not say a secret is set", s)
		}
	}
}
