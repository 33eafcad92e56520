package transport

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"syscall"
)

// Authentication opens the handshake of a connection whose Config has a
// Secret. It is a challenge-response with HMAC-SHA256, in which the secret
// never travels:
//
//	dialer                               acceptor
//	["dial", nD]          ->    <-       ["accept", nA]     (at once, both)
//	["proof", HMAC(secret, "tractor-go dial" || nD || nA)] ->
//	                                     checks it, then
//	                      <-             ["proof", HMAC(secret, "tractor-go accept" || nD || nA)]
//	checks it, then the hellos as without a secret.
//
// nD and nA are 32 random bytes each, fresh for every connection, so a
// proof is good for one connection only and cannot be replayed. The two
// proofs have distinct labels, so neither side's proof can be reflected
// back to it as the peer's; a nonce equal to one's own is refused all the
// same. The acceptor proves only after checking the dialer's proof, so a
// peer that does not know the secret gets nothing from it but a refusal.
// Neither side sends its hello, nor reads the peer's, before the peer has
// proved: an unauthenticated peer can make this side read only frames of a
// few dozen bytes (authFrameMax), and never sees its Info. The cost over a
// plain handshake is two more exchanges; the HMACs take microseconds.
//
// Each step is a frame whose body is [magic, version, step, bytes]. A side
// that receives a well-formed frame it cannot accept (a wrong proof, a
// hello or a second dialer's challenge where a challenge or proof
// belongs, or, without a secret, a challenge) answers ["refused", ""]
// before it closes the connection, so that both sides report why.
//
// This authenticates the peer at the start of the connection; it neither
// encrypts nor protects what follows, and an attacker in the middle can
// relay a whole handshake between two honest sides, then take over. Anyone
// who can read the stream can also record a handshake and test guesses at
// the secret against it offline, so a secret should be long and random (32
// random bytes), and a connection over an untrusted network should use TLS
// as well, with certificates checked (see [TCP.TLS]).

// ErrAuth is returned (wrapped) by a handshake whose peer failed
// authentication: its proof was wrong, it sent no proof (it has no secret),
// or its challenge was malformed; or whose peer refused this side's proof
// or challenge. The connection is closed.
var ErrAuth = errors.New("transport: authentication failed")

// ErrDropped is returned (wrapped) by the dialer's Handshake, with a
// [Config.Secret], when the acceptor closed the connection before the
// authentication was done, without refusing anything: it did not hear
// this side's proof within its [Config.AuthTimeout], or closed the
// connection to make room for others (see [TCP.MaxPending]), or went
// away. A listener under a flood of connections does so; dialing again
// may succeed.
var ErrDropped = errors.New("transport: dropped by the acceptor before authentication")

const (
	// authFields is the length of an authentication frame's array:
	// [magic, version, step, bytes].
	authFields = 4
	// nonceSize is the size of a challenge's nonce, and of a proof.
	nonceSize = sha256.Size
	// authFrameMax is the frame limit while the peer is not authenticated.
	// An authentication frame takes about 60 bytes.
	authFrameMax = 128

	// The steps.
	stepDial    = "dial"    // the dialer's challenge: its nonce
	stepAccept  = "accept"  // the acceptor's challenge: its nonce
	stepProof   = "proof"   // a proof: an HMAC of both nonces
	stepRefused = "refused" // the peer's proof or challenge is refused

	// The labels of the two proofs.
	labelDial   = "tractor-go dial"
	labelAccept = "tractor-go accept"
)

// authDial runs the dialer's side of the authentication.
func (s *shake) authDial() error {
	s.c.fr.max = authFrameMax
	nD := newNonce()
	s.send(authFrame(stepDial, nD))
	nA, err := s.readAuth(stepAccept)
	if err != nil {
		return s.dropped(err)
	}
	if bytes.Equal(nA, nD) {
		return s.fail(fmt.Errorf("transport: handshake: %w: the peer's challenge repeats ours", ErrAuth))
	}
	s.send(authFrame(stepProof, authProof(s.c.cfg.Secret, labelDial, nD, nA)))
	proof, err := s.readAuth(stepProof)
	if err != nil {
		return s.dropped(err)
	}
	if !hmac.Equal(proof, authProof(s.c.cfg.Secret, labelAccept, nD, nA)) {
		return s.fail(fmt.Errorf("transport: handshake: %w: wrong proof from the peer", ErrAuth))
	}
	s.c.fr.max = s.c.cfg.MaxFrame
	return nil
}

// dropped returns the dialer's err, wrapping [ErrDropped] too if the
// acceptor closed the stream, or reset it, while ctx lasts.
func (s *shake) dropped(err error) error {
	if s.ctx.Err() == nil && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
		return fmt.Errorf("%w: %w", ErrDropped, err)
	}
	return err
}

// authAccept runs the acceptor's side of the authentication.
func (s *shake) authAccept() error {
	s.c.fr.max = authFrameMax
	nA := newNonce()
	s.send(authFrame(stepAccept, nA))
	nD, err := s.readAuth(stepDial)
	if err != nil {
		return err
	}
	if bytes.Equal(nD, nA) {
		return s.fail(fmt.Errorf("transport: handshake: %w: the peer's challenge repeats ours", ErrAuth))
	}
	proof, err := s.readAuth(stepProof)
	if err != nil {
		return err
	}
	if !hmac.Equal(proof, authProof(s.c.cfg.Secret, labelDial, nD, nA)) {
		return s.fail(fmt.Errorf("transport: handshake: %w: wrong proof from the peer", ErrAuth))
	}
	s.send(authFrame(stepProof, authProof(s.c.cfg.Secret, labelAccept, nD, nA)))
	s.c.fr.max = s.c.cfg.MaxFrame
	return nil
}

// fail refuses the peer's challenge or proof, closes the stream, and
// returns err. The peer sent a well-formed frame of the handshake and
// waits for this side's next: it gets what this side queued so far, then
// the refusal, so that it can tell why the connection ends.
//
// While the refusal is written, what the peer still sends is read and
// dropped: a peer that fails too may be writing a refusal of its own, and
// on a stream that buffers nothing (net.Pipe) neither write would end.
// This also leaves nothing unread when the stream closes, which could
// reset the connection and lose the refusal.
func (s *shake) fail(err error) error {
	s.send(authFrame(stepRefused, nil))
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		io.Copy(io.Discard, s.c.fr.br) // until the stream closes, or ctx ends
	}()
	s.flush() // the connection fails anyway; a failed write changes nothing
	s.c.closeStream()
	<-drained
	return err
}

// readAuth reads the peer's authentication frame of the step want, and
// returns its bytes: a nonce or a proof.
func (s *shake) readAuth(want string) ([]byte, error) {
	what := "challenge"
	if want == stepProof {
		what = "proof"
	}
	body, err := s.c.fr.next()
	if err != nil {
		if s.ctx.Err() == nil && (errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrMalformed)) {
			// Garbage, or a hello longer than any authentication frame.
			return nil, fmt.Errorf("transport: handshake: %w: no %s from the peer: %w", ErrAuth, what, err)
		}
		return nil, s.readErr(what, err)
	}
	f, err := parseShakeFrame(body)
	if err != nil {
		return nil, s.fail(fmt.Errorf("transport: handshake: %w: malformed %s: %w", ErrAuth, what, err))
	}
	if !f.auth {
		if f.version != ProtocolVersion {
			return nil, s.fail(fmt.Errorf("transport: handshake: %w: local %d, peer %d", ErrVersion, ProtocolVersion, f.version))
		}
		return nil, s.fail(fmt.Errorf("transport: handshake: %w: the peer sent no proof, but a hello where its %s belongs (has it no Secret?)", ErrAuth, what))
	}
	step, data, err := f.decodeAuth()
	if err != nil {
		return nil, s.fail(fmt.Errorf("transport: handshake: %w: malformed %s: %w", ErrAuth, what, err))
	}
	switch {
	case step == want:
	case step == stepRefused && want == stepProof:
		return nil, fmt.Errorf("transport: handshake: %w: the peer refused our proof (is its secret another?)", ErrAuth)
	case step == stepRefused:
		return nil, fmt.Errorf("transport: handshake: %w: the peer refused our challenge (has it no Secret?)", ErrAuth)
	case step == stepDial && want == stepAccept:
		return nil, s.fail(fmt.Errorf("transport: handshake: %w: the peer dials too (one side must call Answer)", ErrAuth))
	case step == stepAccept && want == stepDial:
		return nil, s.fail(fmt.Errorf("transport: handshake: %w: the peer answers too (one side must call Handshake)", ErrAuth))
	default:
		return nil, s.fail(fmt.Errorf("transport: handshake: %w: %w: %q frame where the peer's %s belongs", ErrAuth, ErrMalformed, step, what))
	}
	if len(data) != nonceSize {
		return nil, s.fail(fmt.Errorf("transport: handshake: %w: %w: %s of %d bytes, want %d", ErrAuth, ErrMalformed, what, len(data), nonceSize))
	}
	return bytes.Clone(data), nil // data is in the reader's buffer, valid until the next frame
}

// unexpectedAuth returns the error for an authentication frame where a
// hello belongs. A side without a secret refuses the peer's challenge, so
// that the peer knows why the connection ends.
func (s *shake) unexpectedAuth(f shakeFrame) error {
	step, _, err := f.decodeAuth()
	if err != nil {
		return fmt.Errorf("transport: handshake: %w", err)
	}
	switch {
	case step == stepRefused:
		return fmt.Errorf("transport: handshake: %w: the peer refused our proof", ErrAuth)
	case len(s.c.cfg.Secret) > 0 || (step != stepDial && step != stepAccept):
		return fmt.Errorf("transport: handshake: %w: %q frame where the peer's hello belongs", ErrMalformed, step)
	}
	return s.fail(fmt.Errorf("transport: handshake: %w: the peer requires authentication (sent a challenge), but Config.Secret is empty", ErrAuth))
}

// decodeAuth decodes the rest of an authentication frame.
func (f *shakeFrame) decodeAuth() (step string, data []byte, err error) {
	if f.n != authFields {
		return "", nil, fmt.Errorf("%w: authentication frame has %d fields, want %d", ErrMalformed, f.n, authFields)
	}
	if step, err = f.r.str(); err != nil {
		return "", nil, err
	}
	if data, err = f.r.bin(); err != nil {
		return "", nil, err
	}
	if f.r.rest() != 0 {
		return "", nil, fmt.Errorf("%w: %d bytes after the authentication frame", ErrMalformed, f.r.rest())
	}
	return step, data, nil
}

// authFrame returns the frame of one authentication step.
func authFrame(step string, data []byte) []byte {
	b := make([]byte, frameHeader, frameHeader+authFrameMax)
	b = append(b, mpFixArray|authFields)
	b = appendStr(b, helloMagic)
	b = appendUint(b, ProtocolVersion)
	b = appendStr(b, step)
	b = appendBin(b, data)
	binary.LittleEndian.PutUint32(b, uint32(len(b)-4))
	return b // flags byte 0: never compressed
}

// newNonce returns a fresh random challenge.
func newNonce() []byte {
	n := make([]byte, nonceSize)
	rand.Read(n) // never fails, per its documentation
	return n
}

// authProof returns the proof that one knows secret: the HMAC-SHA256 of
// label and both nonces. Both nonces have a fixed size, so the input has
// one reading.
func authProof(secret []byte, label string, nD, nA []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	m.Write(nD)
	m.Write(nA)
	return m.Sum(nil)
}
