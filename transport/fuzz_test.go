package transport_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tractor-go/tractor/transport"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the fuzz seed corpora in testdata/fuzz")

// memStream is a stream that reads from a fixed input and discards what is
// written to it.
type memStream struct{ r io.Reader }

func (s *memStream) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *memStream) Write(p []byte) (int, error) { return len(p), nil }
func (s *memStream) Close() error                { return nil }

// decodeTargets are the types the fuzzers decode every payload into.
func decodeTargets() []any {
	return []any{
		new(any), new(int), new(uint8), new(string), new([]byte), new(float64),
		new([]any), new([]int), new([]string), new(map[string]any), new(map[any]any),
		new(record), new(*record), new([]record), new(time.Time),
		new([4]int64), new(pcItem), new([]pcInner),
	}
}

// decodeAll decodes payload into every target. Errors are fine; they must
// be ErrType.
func decodeAll(t *testing.T, payload any) {
	for _, dst := range decodeTargets() {
		if err := transport.Decode(payload, dst); err != nil && !errors.Is(err, transport.ErrType) {
			t.Fatalf("Decode into %T: %v, want nil or ErrType", dst, err)
		}
	}
	if b, err := transport.EncodePayload(payload); err == nil {
		sameAsMsgpack[[4]int64](t, payload, b)
		sameAsMsgpack[pcItem](t, payload, b)
		sameAsMsgpack[[]pcInner](t, payload, b)
	}
}

// sameAsMsgpack checks that Decode into a T, which has a type codec, gives
// what msgpack gives from the payload's encoding b.
func sameAsMsgpack[T any](t *testing.T, payload any, b []byte) {
	var viaDecode, viaMsgpack T
	errDecode := transport.Decode(payload, &viaDecode)
	errMsgpack := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return msgpack.Unmarshal(b, &viaMsgpack)
	}()
	if (errDecode == nil) != (errMsgpack == nil) {
		t.Fatalf("Decode of % x into %T: %v, msgpack: %v", b, &viaDecode, errDecode, errMsgpack)
	}
	if errDecode == nil && !bytes.Equal(refEncode(t, viaDecode), refEncode(t, viaMsgpack)) {
		t.Fatalf("Decode of % x gives %#v, msgpack %#v", b, viaDecode, viaMsgpack)
	}
}

// FuzzFrameReader feeds arbitrary bytes to Serve, after a handshake if
// handshake is set (so that the bytes start with the peer's hello, and
// compressed frames are accepted if it offers compression). Serve must
// return, with a well-classified error, and never panic.
func FuzzFrameReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, handshake bool) {
		c := transport.NewConn(&memStream{r: bytes.NewReader(data)}, transport.Config{MaxFrame: 1 << 20, Compress: true})
		defer c.Close()
		if handshake {
			if _, err := c.Handshake(context.Background(), transport.Hello{}); err != nil {
				if !handshakeErr(err) {
					t.Fatalf("Handshake: unexpected error %v", err)
				}
				return
			}
		}
		serveAll(t, c)
	})
}

// handshakeErr says whether err is one a handshake may return for bad
// input from the peer.
func handshakeErr(err error) bool {
	for _, want := range []error{transport.ErrMalformed, transport.ErrFrameTooLarge, transport.ErrVersion, transport.ErrAuth, io.ErrUnexpectedEOF} {
		if errors.Is(err, want) {
			return true
		}
	}
	return false
}

// serveAll serves c until its input ends, decoding every payload; it must
// end with a well-classified error.
func serveAll(t *testing.T, c *transport.WireConn) {
	err := c.Serve(func(m transport.Msg) { decodeAll(t, m.Payload) })
	if err != io.EOF && !errors.Is(err, transport.ErrMalformed) &&
		!errors.Is(err, transport.ErrFrameTooLarge) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Serve: unexpected error %v", err)
	}
}

// FuzzAnswer feeds arbitrary bytes to Answer, as the dialer's side of the
// handshake, then to Serve if Answer succeeded. With secret set, the bytes
// must open with a challenge and a proof, which cannot be right (the
// acceptor's nonce is random): Answer must fail, with a well-classified
// error, and never call reply. Without, reply sees the hello's Info.
func FuzzAnswer(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, secret bool) {
		cfg := transport.Config{MaxFrame: 1 << 20, Compress: true}
		if secret {
			cfg.Secret = []byte(fuzzSecret)
		}
		c := transport.NewConn(&memStream{r: bytes.NewReader(data)}, cfg)
		defer c.Close()
		replied := false
		_, err := c.Answer(context.Background(), func(peer transport.Hello) (transport.Hello, error) {
			replied = true
			decodeAll(t, peer.Info)
			return transport.Hello{Info: "welcome"}, nil
		})
		if secret && (replied || err == nil) {
			t.Fatalf("Answer with a secret: reply called %v, error %v", replied, err)
		}
		if err != nil {
			if !handshakeErr(err) {
				t.Fatalf("Answer: unexpected error %v", err)
			}
			return
		}
		serveAll(t, c)
	})
}

// fuzzSecret is FuzzAnswer's secret, which its seeds use for their proofs.
const fuzzSecret = "fuzz secret"

// FuzzDecodeMsg feeds arbitrary bytes to the message decoder. What it
// accepts must encode again to a message that decodes the same, and its
// payload must decode into any type without panicking.
func FuzzDecodeMsg(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := transport.DecodeMsg(body)
		if err != nil {
			if !errors.Is(err, transport.ErrMalformed) {
				t.Fatalf("DecodeMsg: %v, want ErrMalformed", err)
			}
			return
		}
		again, err := transport.EncodeMsg(m)
		if err != nil {
			t.Fatalf("EncodeMsg of a decoded message: %v", err)
		}
		m2, err := transport.DecodeMsg(again)
		if err != nil {
			t.Fatalf("DecodeMsg of a re-encoded message: %v", err)
		}
		third, _ := transport.EncodeMsg(m2)
		if m2.Kind != m.Kind || m2.CID != m.CID || m2.Endpoint != m.Endpoint || m2.Mode != m.Mode ||
			m2.Credit != m.Credit || m2.CreditBytes != m.CreditBytes || !bytes.Equal(third, again) {
			t.Fatalf("round trip changed the message: %+v, then %+v", m, m2)
		}
		decodeAll(t, m.Payload)
	})
}

// fuzzSeeds are the checked-in seed corpora: valid inputs, edge cases and
// the inputs that once made a hazard (a declared length far past the input,
// deep nesting, an unhashable map key).
func fuzzSeeds(t *testing.T) map[string]map[string][]any {
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	msg := func(m transport.Msg) []byte { return must(transport.EncodeMsg(m)) }
	frm := func(m transport.Msg, compress bool) []byte { return must(transport.EncodeFrame(m, compress, 64)) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	hello := func(compress bool) []byte {
		return must(transport.EncodeHello(transport.Hello{Version: transport.ProtocolVersion, Compress: compress, MaxFrame: 1 << 20}))
	}
	rec := record{ID: 7, Name: "r", Tags: []string{"a"}, Matrix: [][]int{{1}}, ByName: map[string][]int{"k": {2}}}
	cmd := transport.Msg{Kind: transport.KindCmd, CID: 1, Endpoint: "demo.square", Mode: 1, Payload: 7}
	yieldRec := transport.Msg{Kind: transport.KindYield, CID: 1 << 40, Payload: rec}
	big := transport.Msg{Kind: transport.KindYield, CID: 2, Payload: bytes.Repeat([]byte("abc"), 100)}
	credit := transport.Msg{Kind: transport.KindCredit, CID: 1<<64 - 1, Credit: 1<<32 - 1, CreditBytes: 1<<64 - 1, Mode: 255}
	deep := append(bytes.Repeat([]byte{0x91}, transport.MaxNesting+1), 0xc0)
	envelope := []byte{0x96, 3, 1, 0xa0, 0, 0}
	nonce := []byte("a dialer's nonce, of 32 bytes...")
	challenge := frame(0, authBody("dial", nonce))
	// A proof as a dialer would make it, were the acceptor's nonce this.
	guessed := frame(0, authBody("proof", proof([]byte(fuzzSecret), "tractor-go dial", nonce, make([]byte, 32))))

	return map[string]map[string][]any{
		"FuzzDecodeMsg": {
			"cmd":              {msg(cmd)},
			"struct":           {msg(yieldRec)},
			"max-fields":       {msg(credit)},
			"byte-credit":      {msg(transport.Msg{Kind: transport.KindCredit, CID: 5, Credit: 512, CreditBytes: 2 << 20})},
			"nil-payload":      {msg(transport.Msg{Kind: transport.KindStop, CID: 3})},
			"time-ext":         {msg(transport.Msg{Kind: transport.KindReturn, Payload: time.Unix(1e9, 5).UTC()})},
			"empty":            {[]byte{}},
			"array32-4G":       {cat(envelope, []byte{0xdd, 0xff, 0xff, 0xff, 0xff})},
			"map32-4G":         {cat(envelope, []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 1, 1})},
			"too-deep":         {cat(envelope, deep)},
			"array-as-map-key": {cat(envelope, []byte{0x81, 0x91, 0x01, 0x01})},
			// Found by the fuzzer: msgpack reads a map out of an
			// extension's data when decoding it into a map, here one
			// holding an array32 of 3.7 billion elements.
			"ext-read-as-map":   {[]byte("\x9600\xa000\xd70\x8908\xdd\xdd\xdd00")},
			"array-item":        {msg(transport.Msg{Kind: transport.KindYield, CID: 4, Payload: [4]int64{1, -300, 1 << 40, -1 << 62}})},
			"plain-struct":      {msg(transport.Msg{Kind: transport.KindYield, CID: 4, Payload: pcItem{ID: 1, Name: "n", Vals: [3]uint16{1, 2, 3}, Ins: []pcInner{{X: -1, Tags: []string{"t"}}}, Temps: []pcCelsius{1.5}}})},
			"non-canonical-int": {[]byte{0xdc, 0, 6, 0xd3, 0, 0, 0, 0, 0, 0, 0, 3, 0xcf, 0, 0, 0, 0, 0, 0, 0, 1, 0xc0, 0xcc, 0, 0xce, 0, 0, 0, 0, 0xc0}},
		},
		"FuzzFrameReader": {
			"one-frame":           {frm(cmd, false), false},
			"frames":              {cat(frm(cmd, false), frm(yieldRec, false), frm(credit, false)), false},
			"hello-compressed":    {cat(hello(true), frm(big, true), frm(cmd, true)), true},
			"hello-plain":         {cat(hello(false), frm(yieldRec, false)), true},
			"hello-other-version": {must(transport.EncodeHello(transport.Hello{Version: 99, MaxFrame: 1})), true},
			"truncated":           {frm(yieldRec, false)[:20], false},
			"oversized":           {[]byte{0xff, 0xff, 0xff, 0xff, 0}, false},
			"zero-length":         {[]byte{0, 0, 0, 0}, false},
			"compressed-unagreed": {frm(big, true), false},
			"too-deep":            {frame(0, cat(envelope, deep)), false},
			"challenge":           {cat(challenge, hello(false)), true},
		},
		"FuzzAnswer": {
			"hello-frames":      {cat(hello(true), frm(big, true), frm(cmd, true)), false},
			"hello-other-shape": {frame(0, []byte("\x93\xaatractor-go\x63\xa3new")), false},
			"challenge-plain":   {cat(challenge, hello(false)), false},
			"challenge-proof":   {cat(challenge, guessed, hello(false), frm(cmd, false)), true},
			"hello-secret":      {cat(hello(false), frm(cmd, false)), true},
			"refused":           {frame(0, authBody("refused", nil)), true},
		},
	}
}

// TestFuzzSeeds rewrites the seed corpora with -update-seeds. Otherwise it
// checks that every seed is still in the directory, so that a format change
// is noticed; the fuzz functions run the seeds themselves.
func TestFuzzSeeds(t *testing.T) {
	for fuzzer, seeds := range fuzzSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", fuzzer)
		for name, args := range seeds {
			var b bytes.Buffer
			b.WriteString("go test fuzz v1\n")
			for _, a := range args {
				switch a := a.(type) {
				case []byte:
					fmt.Fprintf(&b, "[]byte(%q)\n", a)
				case bool:
					fmt.Fprintf(&b, "bool(%v)\n", a)
				}
			}
			path := filepath.Join(dir, name)
			if *updateSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("seed %s: %v (run go test -run TestFuzzSeeds -update-seeds)", path, err)
			}
			if !bytes.Equal(got, b.Bytes()) {
				t.Errorf("seed %s is out of date (run go test -run TestFuzzSeeds -update-seeds)", path)
			}
		}
	}
}
