package tractor_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tractor-go/tractor"
)

// The conformance test speaks PROTOCOL.md from raw bytes: frames built with
// encoding/binary and msgpack values with vmihailenco/msgpack directly,
// against a real runtime listening on TCP. It uses nothing of the
// transport package, so it checks the document as another implementation
// would read it.

const (
	confMagic    = "tractor-go"
	confVersion  = 3
	confMaxFrame = 16 << 20 // §2: DefaultMaxFrame
	confDeadline = 20 * time.Second
	// confSecret is the tree's secret: Run always has one (it draws a
	// random one if none is given), so its listener always runs §3.2.
	confSecret = "conformance-secret"
)

// confKinds, §5.
const (
	kindCmd     = 1
	kindStarted = 2
	kindYield   = 3
	kindStop    = 4
	kindReturn  = 5
	kindError   = 6
	kindCancel  = 7
	kindCredit  = 8
)

// confPeer is the raw peer's ActorID, as its hello announces it.
var confPeer = tractor.ActorID{Name: "raw-peer", UID: "raw-peer-uid"}

// confConn is the raw peer's side of one TCP connection.
type confConn struct {
	t *testing.T
	c net.Conn
}

func confDial(t *testing.T, addr string) *confConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, confDeadline)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(confDeadline)); err != nil {
		t.Fatal(err)
	}
	return &confConn{t: t, c: c}
}

// confMarshal encodes v as msgpack with compact ints (§1).
func confMarshal(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		t.Fatalf("msgpack encode %v: %v", v, err)
	}
	return buf.Bytes()
}

// writeFrame writes one frame (§2): uint32 little-endian length of flags
// and body, the flags byte, the body.
func (cc *confConn) writeFrame(flags byte, body []byte) {
	cc.t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, uint32(1+len(body)))
	b = append(b, flags)
	b = append(b, body...)
	if _, err := cc.c.Write(b); err != nil {
		cc.t.Fatalf("write frame: %v", err)
	}
}

// readFrame reads one frame (§2) and returns its flags and body.
func (cc *confConn) readFrame() (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(cc.c, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:4])
	if n < 1 || n > confMaxFrame {
		cc.t.Fatalf("§2: frame length %d out of [1, %d]", n, confMaxFrame)
	}
	body := make([]byte, n-1)
	if _, err := io.ReadFull(cc.c, body); err != nil {
		return 0, nil, err
	}
	return hdr[4], body, nil
}

// confHello is a decoded hello (§3.1).
type confHello struct {
	Magic    string
	Version  uint64
	Compress bool
	MaxFrame uint64
	Info     msgpack.RawMessage
}

// sendHello sends the dialer's hello (§3.1) asking for actor uid.
func (cc *confConn) sendHello(version int, uid string) {
	cc.t.Helper()
	info := map[string]any{
		"From": map[string]any{"Name": confPeer.Name, "UID": confPeer.UID},
		"To":   uid,
		"PID":  os.Getpid(),
	}
	cc.writeFrame(0, confMarshal(cc.t, []any{confMagic, version, false, uint32(confMaxFrame), info}))
}

// readHello reads the acceptor's hello (§3.1), exactly 5 elements.
func (cc *confConn) readHello() confHello {
	cc.t.Helper()
	flags, body, err := cc.readFrame()
	if err != nil {
		cc.t.Fatalf("read hello: %v", err)
	}
	if flags != 0 {
		cc.t.Fatalf("§2: handshake frame flags = %#x, want 0", flags)
	}
	dec := msgpack.NewDecoder(bytes.NewReader(body))
	n, err := dec.DecodeArrayLen()
	if err != nil || n != 5 {
		cc.t.Fatalf("§3.1: hello array length = %d (%v), want 5", n, err)
	}
	var h confHello
	if h.Magic, err = dec.DecodeString(); err != nil {
		cc.t.Fatalf("hello magic: %v", err)
	}
	if h.Version, err = dec.DecodeUint64(); err != nil {
		cc.t.Fatalf("hello version: %v", err)
	}
	if h.Compress, err = dec.DecodeBool(); err != nil {
		cc.t.Fatalf("hello compress: %v", err)
	}
	if h.MaxFrame, err = dec.DecodeUint64(); err != nil {
		cc.t.Fatalf("hello maxFrame: %v", err)
	}
	if h.Info, err = dec.DecodeRaw(); err != nil {
		cc.t.Fatalf("hello info: %v", err)
	}
	return h
}

// readAuth reads an authentication frame (§3.2): 4 elements, a step
// string where a hello has its bool.
func (cc *confConn) readAuth() (step string, data []byte) {
	cc.t.Helper()
	flags, body, err := cc.readFrame()
	if err != nil {
		cc.t.Fatalf("read auth frame: %v", err)
	}
	dec := msgpack.NewDecoder(bytes.NewReader(body))
	n, err := dec.DecodeArrayLen()
	if err != nil || flags != 0 || n != 4 {
		cc.t.Fatalf("§3.2: auth frame %x (flags %#x): %d elements, %v", body, flags, n, err)
	}
	magic, err1 := dec.DecodeString()
	version, err2 := dec.DecodeUint64()
	step, err3 := dec.DecodeString()
	data, err4 := dec.DecodeBytes()
	if err := errors.Join(err1, err2, err3, err4); err != nil || magic != confMagic || version != confVersion {
		cc.t.Fatalf("§3.2: auth frame %x: %q, %d: %v", body, magic, version, err)
	}
	return step, data
}

// confProof is the §3.2 proof: HMAC-SHA256(secret, label || nD || nA).
func confProof(label string, nD, nA []byte) []byte {
	m := hmac.New(sha256.New, []byte(confSecret))
	m.Write([]byte(label))
	m.Write(nD)
	m.Write(nA)
	return m.Sum(nil)
}

// shake runs the dialer's side of the handshake with the secret (§3.2,
// then §3.1) and returns the acceptor's hello.
func (cc *confConn) shake(uid string) confHello {
	cc.t.Helper()
	cc.shakeAuth()
	cc.sendHello(confVersion, uid)
	return cc.readHello()
}

// shakeAuth runs the dialer's side of the challenge-response (§3.2).
func (cc *confConn) shakeAuth() {
	cc.t.Helper()
	nD := make([]byte, 32)
	rand.Read(nD)
	cc.writeFrame(0, confMarshal(cc.t, []any{confMagic, confVersion, "dial", nD}))
	step, nA := cc.readAuth()
	if step != "accept" || len(nA) != 32 {
		cc.t.Fatalf("§3.2: acceptor's challenge = %q, %d bytes", step, len(nA))
	}
	cc.writeFrame(0, confMarshal(cc.t, []any{confMagic, confVersion, "proof", confProof("tractor-go dial", nD, nA)}))
	step, proof := cc.readAuth()
	if step != "proof" || !hmac.Equal(proof, confProof("tractor-go accept", nD, nA)) {
		cc.t.Fatalf("§3.2: acceptor's proof = %q, %x", step, proof)
	}
}

// confMsg is a decoded envelope (§4).
type confMsg struct {
	Kind, CID           uint64
	Endpoint            string
	Mode, Credit, Bytes uint64
	Payload             msgpack.RawMessage
}

// send writes one message in the 6-element envelope (§4).
func (cc *confConn) send(kind, cid uint64, endpoint string, mode uint64, payload any) {
	cc.t.Helper()
	cc.writeFrame(0, confMarshal(cc.t, []any{kind, cid, endpoint, mode, 0, payload}))
}

// sendWindow writes one message in the 7-element envelope (§4), with
// credit fields: a cmd or started announcing a window (§8).
func (cc *confConn) sendWindow(kind, cid uint64, endpoint string, mode, credit, creditBytes uint64, payload any) {
	cc.t.Helper()
	cc.writeFrame(0, confMarshal(cc.t, []any{kind, cid, endpoint, mode, credit, creditBytes, payload}))
}

// next reads messages until one for cid, skipping credit grants (§8).
func (cc *confConn) next(cid uint64) confMsg {
	cc.t.Helper()
	for {
		m := cc.readMsg()
		if m.CID == cid && m.Kind != kindCredit {
			return m
		}
	}
}

// confValue decodes a payload into a T.
func confValue[T any](t *testing.T, m confMsg) T {
	t.Helper()
	var v T
	if err := msgpack.Unmarshal(m.Payload, &v); err != nil {
		t.Fatalf("payload %x of kind %d: %v", []byte(m.Payload), m.Kind, err)
	}
	return v
}

// expect checks that m is of kind want and returns m.
func expect(t *testing.T, m confMsg, want uint64) confMsg {
	t.Helper()
	if m.Kind != want {
		t.Fatalf("message kind %d (payload %x), want %d", m.Kind, []byte(m.Payload), want)
	}
	return m
}

// readMsg reads and decodes one message (§4).
func (cc *confConn) readMsg() confMsg {
	cc.t.Helper()
	flags, body, err := cc.readFrame()
	if err != nil {
		cc.t.Fatalf("read message: %v", err)
	}
	if flags != 0 {
		cc.t.Fatalf("§2: flags = %#x without agreed compression", flags)
	}
	dec := msgpack.NewDecoder(bytes.NewReader(body))
	n, err := dec.DecodeArrayLen()
	if err != nil || (n != 6 && n != 7) {
		cc.t.Fatalf("§4: envelope length %d (%v), want 6 or 7", n, err)
	}
	var m confMsg
	for _, p := range []*uint64{&m.Kind, &m.CID} {
		if *p, err = dec.DecodeUint64(); err != nil {
			cc.t.Fatalf("§4: envelope field: %v", err)
		}
	}
	if m.Endpoint, err = dec.DecodeString(); err != nil {
		cc.t.Fatalf("§4: endpoint: %v", err)
	}
	fields := []*uint64{&m.Mode, &m.Credit}
	if n == 7 {
		fields = append(fields, &m.Bytes)
	}
	for _, p := range fields {
		if *p, err = dec.DecodeUint64(); err != nil {
			cc.t.Fatalf("§4: envelope field: %v", err)
		}
	}
	if n == 7 && m.Bytes == 0 {
		cc.t.Errorf("§4: long form with creditBytes 0")
	}
	if m.Payload, err = dec.DecodeRaw(); err != nil {
		cc.t.Fatalf("§4: payload: %v", err)
	}
	return m
}

// final reads messages until the final one (return or error, §7) for cid;
// anything else in between (credit, other dialogs) is allowed.
func (cc *confConn) final(cid uint64) confMsg {
	cc.t.Helper()
	for {
		m := cc.readMsg()
		if m.CID == cid && (m.Kind == kindReturn || m.Kind == kindError) {
			return m
		}
	}
}

// closed asserts that the peer closes the connection (§10): reads end in
// EOF or a reset, not in the deadline. Frames before it are allowed.
func (cc *confConn) closed() {
	cc.t.Helper()
	for {
		_, _, err := cc.readFrame()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			cc.t.Fatalf("connection still open after %v: %v", confDeadline, err)
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
			cc.t.Logf("connection ended with %v", err)
		}
		cc.c.Close()
		return
	}
}

// confLog collects the runtime's log lines, where §5, §6 and §10 say a
// dropped message or a closed connection is logged.
type confLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // closed by the next Write, then replaced
}

func newConfLog() *confLog { return &confLog{written: make(chan struct{})} }

func (l *confLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.written)
	l.written = make(chan struct{})
	return l.buf.Write(p)
}

// count returns how many lines hold s, and a channel closed by the next
// line written.
func (l *confLog) count(s string) (int, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s), l.written
}

// waitMore waits, line by line as the runtime writes them, until more than
// before lines hold s.
func (l *confLog) waitMore(t *testing.T, s string, before int) {
	t.Helper()
	bound := time.NewTimer(confDeadline)
	defer bound.Stop()
	for {
		n, written := l.count(s)
		if n > before {
			return
		}
		select {
		case <-written:
		case <-bound.C:
			t.Fatalf("no new log line with %q", s)
		}
	}
}

// confRemoteError is the §9.3 error payload, the fields checked here.
type confRemoteError struct {
	Actor   tractor.ActorID
	Type    string
	Message string
	Code    string
}

func TestConformance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logs := newConfLog()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		self := tractor.CurrentActor(ctx)
		addr, id := self.Addr(), self.ID()
		if addr == "" {
			t.Fatal("root has no listen address")
		}

		t.Run("Handshake", func(t *testing.T) {
			cc := confDial(t, addr)
			h := cc.shake(id.UID)
			// §3: magic and version open every handshake frame.
			if h.Magic != confMagic || h.Version != confVersion {
				t.Fatalf("§3: hello opens with %q, %d; want %q, %d", h.Magic, h.Version, confMagic, confVersion)
			}
			// §3.1: maxFrame > 0 and at most the acceptor's own limit.
			if h.MaxFrame == 0 || h.MaxFrame > 1<<32-1 {
				t.Errorf("§3.1: maxFrame = %d", h.MaxFrame)
			}
			// §3.1: the acceptor's info is a peerWelcome map.
			var w struct {
				ID      tractor.ActorID
				PID     int
				Hosting int
				Refused string
			}
			if err := msgpack.Unmarshal(h.Info, &w); err != nil {
				t.Fatalf("§3.1: welcome: %v", err)
			}
			// §3.1: Hosting 1 (process) for the main actor of its process,
			// as a root is.
			if w.ID != id || w.Refused != "" || w.PID != os.Getpid() || w.Hosting != 1 {
				t.Errorf("§3.1: welcome = %+v; want ID %v, PID %d, Hosting 1, not refused", w, id, os.Getpid())
			}
		})

		t.Run("HandshakeRefusedActor", func(t *testing.T) {
			cc := confDial(t, addr)
			h := cc.shake("no-such-uid")
			var w struct{ Refused string }
			if err := msgpack.Unmarshal(h.Info, &w); err != nil {
				t.Fatalf("§3.1: welcome: %v", err)
			}
			// §3.1: a non-empty Refused means no such actor.
			if w.Refused == "" {
				t.Errorf("§3.1: welcome for an unknown uid not refused")
			}
		})

		t.Run("FunctionDialog", func(t *testing.T) {
			cc := confDial(t, addr)
			cc.shake(id.UID)
			// §4/§5/§6: cmd, odd CID (this side dialled), mode 1 (§7), credit 0.
			cc.send(kindCmd, 1, "test.square", 1, 7)
			m := cc.final(1)
			// §7: return(result) ends a function dialog.
			if m.Kind != kindReturn {
				t.Fatalf("§7: final kind = %d (payload %x), want return (5)", m.Kind, []byte(m.Payload))
			}
			var got int
			if err := msgpack.Unmarshal(m.Payload, &got); err != nil || got != 49 {
				t.Fatalf("§9.2: result = %d (%v), want 49", got, err)
			}
			// A second dialog on the same connection, the next odd id.
			cc.send(kindCmd, 3, "test.square", 1, -3)
			m = cc.final(3)
			if err := msgpack.Unmarshal(m.Payload, &got); m.Kind != kindReturn || err != nil || got != 9 {
				t.Fatalf("second dialog: kind %d, result %d (%v); want return 9", m.Kind, got, err)
			}
		})

		t.Run("NotExposed", func(t *testing.T) {
			cc := confDial(t, addr)
			cc.shake(id.UID)
			for i, c := range []struct{ endpoint, code string }{
				// §9.1: in the program but not exposed by this actor.
				{"test.fail", "not_exposed"},
				// §9.1: no endpoint of that name in the program.
				{"test.no-such-endpoint", "unknown_endpoint"},
			} {
				cid := uint64(2*i + 1)
				cc.send(kindCmd, cid, c.endpoint, 1, "x")
				m := cc.final(cid)
				if m.Kind != kindError {
					t.Fatalf("%s: final kind = %d, want error (6)", c.endpoint, m.Kind)
				}
				// §9.3: a map keyed by field name.
				var raw map[string]any
				if err := msgpack.Unmarshal(m.Payload, &raw); err != nil {
					t.Fatalf("§9.3: error payload not a map: %v", err)
				}
				for _, k := range []string{"Actor", "Type", "Message", "Stack", "RelayPath", "Canceller", "Code", "Died"} {
					if _, ok := raw[k]; !ok {
						t.Errorf("§9.3: error payload lacks %s: %v", k, raw)
					}
				}
				var e confRemoteError
				if err := msgpack.Unmarshal(m.Payload, &e); err != nil {
					t.Fatalf("§9.3: %v", err)
				}
				if e.Code != c.code || e.Message == "" || e.Actor != id {
					t.Errorf("§9.3: %s: error = %+v; want Code %q from %v", c.endpoint, e, c.code, id)
				}
			}
		})

		t.Run("StreamDialog", func(t *testing.T) {
			cc := confDial(t, addr)
			cc.shake(id.UID)
			// §7 Stream: cmd(mode=2, arg, credit=W, creditBytes=B), the
			// long envelope (§4) since creditBytes != 0.
			cc.sendWindow(kindCmd, 1, "test.count", 2, 16, 1<<20, 3)
			for i := range 3 {
				m := expect(t, cc.next(1), kindYield)
				if v := confValue[int](t, m); v != i {
					t.Fatalf("§7: yield %d = %d", i, v)
				}
			}
			// §7: stop (the generator returned), then return.
			expect(t, cc.next(1), kindStop)
			expect(t, cc.next(1), kindReturn)
		})

		t.Run("ContextDialog", func(t *testing.T) {
			cc := confDial(t, addr)
			cc.shake(id.UID)
			// §7 Context: cmd(mode=3) with C's window; started(first)
			// with E's window.
			cc.sendWindow(kindCmd, 1, "test.echo", 3, 16, 1<<20, "hi")
			m := expect(t, cc.next(1), kindStarted)
			if v := confValue[string](t, m); v != "hi" {
				t.Fatalf("§7: started(%q), want \"hi\"", v)
			}
			if m.Credit == 0 || m.Bytes == 0 {
				t.Errorf("§7/§8: started announces window %d items, %d bytes", m.Credit, m.Bytes)
			}
			// C -> E yield* then stop, within E's window; E echoes each.
			for _, v := range []int{5, 6} {
				cc.send(kindYield, 1, "", 0, v)
			}
			cc.send(kindStop, 1, "", 0, nil)
			for _, want := range []int{5, 6} {
				if v := confValue[int](t, expect(t, cc.next(1), kindYield)); v != want {
					t.Fatalf("§7: echoed %d, want %d", v, want)
				}
			}
			// The task returns with its stream open: stop before return.
			expect(t, cc.next(1), kindStop)
			if n := confValue[int](t, expect(t, cc.next(1), kindReturn)); n != 2 {
				t.Fatalf("§7: return(%d), want 2", n)
			}
		})

		t.Run("Cancel", func(t *testing.T) {
			cc := confDial(t, addr)
			cc.shake(id.UID)
			cc.sendWindow(kindCmd, 1, "test.sleeper", 3, 16, 1<<20, map[string]any{})
			expect(t, cc.next(1), kindStarted)
			// §7: cancel(cid, payload = C's ActorID) is acknowledged with
			// error{Type: tractor.ContextCancelled, Code: context_cancelled,
			// Canceller: C}.
			cc.send(kindCancel, 1, "", 0, map[string]any{"Name": confPeer.Name, "UID": confPeer.UID})
			m := expect(t, cc.final(1), kindError)
			var e struct {
				confRemoteError
				Canceller tractor.ActorID
			}
			if err := msgpack.Unmarshal(m.Payload, &e); err != nil {
				t.Fatalf("§9.3: %v", err)
			}
			if e.Type != "tractor.ContextCancelled" || e.Code != "context_cancelled" || e.Canceller != confPeer {
				t.Errorf("§7: cancel acknowledged with %+v", e)
			}
		})

		t.Run("CallErrors", func(t *testing.T) {
			cc := confDial(t, addr)
			cc.shake(id.UID)
			for i, c := range []struct {
				endpoint string
				mode     uint64
				arg      any
				code     string
			}{
				// §9.1: an argument of the wrong type.
				{"test.square", 1, "not an int", "bad_argument"},
				// §5/§9.1: a mode other than the endpoint's.
				{"test.square", 2, 2, "misuse"},
			} {
				cid := uint64(2*i + 1)
				cc.sendWindow(kindCmd, cid, c.endpoint, c.mode, 16, 1<<20, c.arg)
				e := confValue[confRemoteError](t, expect(t, cc.final(cid), kindError))
				if e.Code != c.code {
					t.Errorf("§9.1: %s mode %d (%v): error %+v; want Code %q", c.endpoint, c.mode, c.arg, e, c.code)
				}
			}
		})

		t.Run("Dropped", func(t *testing.T) {
			const unknownKind, cmdDropped = "unknown message kind dropped", "cmd dropped"
			kinds, _ := logs.count(unknownKind)
			cmds, _ := logs.count(cmdDropped)
			cc := confDial(t, addr)
			cc.shake(id.UID)
			// §5/§10: an unknown kind is dropped, the connection stays up.
			cc.send(10, 1, "", 0, nil)
			cc.send(0, 1, "", 0, nil)
			// §6: a cmd with the receiver's parity (even) or id 0 is
			// dropped without an answer.
			cc.send(kindCmd, 2, "test.square", 1, 2)
			cc.send(kindCmd, 0, "test.square", 1, 2)
			// §10: return/yield/error for an unknown dialog are dropped.
			cc.send(kindReturn, 99, "", 0, 1)
			cc.send(kindCredit, 99, "", 0, nil)
			cc.send(kindCmd, 1, "test.square", 1, 4)
			for {
				m := cc.readMsg()
				if m.CID == 0 || m.CID == 2 {
					t.Fatalf("§6: answer %d on dropped cmd %d", m.Kind, m.CID)
				}
				if m.CID == 1 && (m.Kind == kindReturn || m.Kind == kindError) {
					if v := confValue[int](t, expect(t, m, kindReturn)); v != 16 {
						t.Fatalf("return %d, want 16", v)
					}
					break
				}
			}
			// §5, §10: warnings logged for the unknown kinds and the cmds.
			logs.waitMore(t, unknownKind, kinds+1)
			logs.waitMore(t, cmdDropped, cmds+1)
		})

		t.Run("HelloWithoutSecret", func(t *testing.T) {
			cc := confDial(t, addr)
			cc.sendHello(confVersion, id.UID)
			// §3.2: the acceptor sends its challenge at once, then
			// refuses a hello where a proof belongs, and closes.
			step, nA := cc.readAuth()
			if step != "accept" || len(nA) != 32 {
				t.Fatalf("§3.2: acceptor's challenge = %q, %d bytes", step, len(nA))
			}
			step, data := cc.readAuth()
			if step != "refused" || len(data) != 0 {
				t.Fatalf("§3.2: answer to a bare hello = %q, %x; want refused", step, data)
			}
			cc.closed()
		})

		t.Run("VersionMismatch", func(t *testing.T) {
			cc := confDial(t, addr)
			cc.shakeAuth()
			cc.sendHello(confVersion+1, id.UID)
			// §3.1: the acceptor answers with a hello of its own version,
			// so that the dialer reports the mismatch too, and closes.
			h := cc.readHello()
			if h.Magic != confMagic || h.Version != confVersion {
				t.Errorf("§3.1: answer to another version opens with %q, %d", h.Magic, h.Version)
			}
			cc.closed()
		})

		t.Run("AuthVersionMismatch", func(t *testing.T) {
			cc := confDial(t, addr)
			nD := make([]byte, 32)
			rand.Read(nD)
			// §3.2: a version mismatch in an auth frame fails the
			// handshake (ErrVersion); the connection is closed.
			cc.writeFrame(0, confMarshal(t, []any{confMagic, confVersion + 1, "dial", nD}))
			cc.closed()
		})

		t.Run("VersionMismatchUnreadable", func(t *testing.T) {
			cc := confDial(t, addr)
			cc.shakeAuth()
			// Another version with a shape this one cannot parse.
			cc.writeFrame(0, confMarshal(t, []any{confMagic, confVersion + 1, "future"}))
			h := cc.readHello()
			if h.Magic != confMagic || h.Version != confVersion {
				t.Errorf("§3.1: bare hello opens with %q, %d", h.Magic, h.Version)
			}
			cc.closed()
		})

		t.Run("MalformedFrame", func(t *testing.T) {
			for _, c := range []struct {
				name  string
				err   string // the §10 error, as logged
				write func(cc *confConn)
			}{
				// §2/§10: reserved flag bits set.
				{"ReservedFlags", "malformed frame", func(cc *confConn) {
					cc.writeFrame(0x02, confMarshal(t, []any{kindCmd, 1, "test.square", 1, 0, 2}))
				}},
				// §2/§10: compressed frame without agreement.
				{"CompressedUnagreed", "malformed frame", func(cc *confConn) {
					cc.writeFrame(0x01, confMarshal(t, []any{kindCmd, 1, "test.square", 1, 0, 2}))
				}},
				// §2/§10: zero length.
				{"ZeroLength", "malformed frame", func(cc *confConn) {
					cc.c.Write([]byte{0, 0, 0, 0})
				}},
				// §2/§10: length over the limit, checked before the body.
				{"TooLarge", "frame too large", func(cc *confConn) {
					cc.c.Write(binary.LittleEndian.AppendUint32(nil, confMaxFrame+1))
				}},
				// §4/§10: an envelope of 5 elements.
				{"ShortEnvelope", "malformed frame", func(cc *confConn) {
					cc.writeFrame(0, confMarshal(t, []any{kindCmd, 1, "test.square", 1, 0}))
				}},
				// §4/§10: zero creditBytes in the long form.
				{"ZeroCreditBytes", "malformed frame", func(cc *confConn) {
					cc.writeFrame(0, confMarshal(t, []any{kindCmd, 1, "test.square", 1, 0, 0, 2}))
				}},
			} {
				t.Run(c.name, func(t *testing.T) {
					before, _ := logs.count(c.err)
					cc := confDial(t, addr)
					cc.shake(id.UID)
					c.write(cc)
					cc.closed()
					logs.waitMore(t, c.err, before)
				})
			}
		})
		return nil
	}, tractor.ListenAddr("127.0.0.1:0"), tractor.Secret(confSecret), tractor.LogOutput(logs),
		tractor.Expose(square, count, echo, sleeper))
	if err != nil {
		t.Errorf("Run: %v", err)
	}
	if t.Failed() {
		t.Logf("runtime's log:\n%s", logs.buf.String())
	}
}
