package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"syscall"

	"github.com/klauspost/compress/s2"
)

// A frame is one message on a byte stream:
//
//	length  uint32, little-endian: the number of bytes that follow
//	flags   1 byte: bit 0 set means the body is S2-compressed (block format)
//	body    length-1 bytes: a message as the codec encodes it
//
// The length counts the flags byte, so it is at least 1, and at most the
// connection's frame limit. The limit bounds a frame as it is before
// compression: the flags byte plus the message's encoding must fit in it,
// so a compressed body must decompress to at most the limit less one. The
// sender checks that quantity before it compresses, and the receiver
// checks the same one, so a message either fails its Send or is accepted;
// compression never decides. Other flag bits are reserved and must be zero.

// ErrFrameTooLarge is returned (wrapped) when a frame is over the frame
// limit, counted before compression: by Send for a message whose encoding
// is over the limit the peer accepts, however well it compresses (only
// that Send fails), and by Serve for an incoming frame that declares a
// length, or decompresses to a length, over the local limit (the
// connection is closed: the peer broke the protocol).
var ErrFrameTooLarge = errors.New("transport: frame too large")

const (
	// frameHeader is the length prefix plus the flags byte.
	frameHeader = 5
	// flagS2 marks an S2-compressed body.
	flagS2 = 1 << 0

	// DefaultMaxFrame is the frame limit of [DefaultConfig]: 16 MiB.
	DefaultMaxFrame = 16 << 20

	// defaultCompressThreshold is the body size from which frames are
	// compressed, when both sides agreed to compress and the Config names
	// no other.
	//
	// Measured with s2.Encode on msgpack bodies on this project's machine
	// (BenchmarkS2Body: a list of small structs, English-like text; and
	// once by hand: a boxed error with its stack, a list of ints, random
	// bytes):
	//
	//	body     saved (structs / text / stack)   encode       decode
	//	 128 B   32% / 27% / none                 155-210 ns   ~40 ns
	//	 256 B   44% / 43% / 31%                  290-410 ns   ~90 ns
	//	 512 B   49% / 55% / 61%                  550-760 ns   ~150 ns
	//	   1 KiB 51% / 61% / 79%                  1.1-1.4 µs   ~0.4 µs
	//	   4 KiB 55% / 69% / 95%                  3.6-4.6 µs   ~1.5 µs
	//	  64 KiB 61% / 74% / 99%                  56-68 µs     ~20 µs
	//
	// Ints and random bytes do not compress (the output is 0-5% larger,
	// and such a frame is sent uncompressed, having cost the encode). Below
	// about 512 bytes a frame saves under 150 bytes, less than the
	// per-frame costs it rides with (a write syscall of 1-6 µs, 40-60 bytes
	// of TCP/IP headers), so compressing buys nothing. From 1 KiB up half
	// the bytes or more go away, for about the cost of one syscall, and at
	// s2's ~1 GB/s that wins on any link slower than a few Gbit/s. Loopback
	// and socketpairs are faster than that (BenchmarkPayload64K), which is
	// why compression is negotiated and a runtime may leave it off between
	// local processes.
	defaultCompressThreshold = 1 << 10

	// maxFrameLimit is the largest frame limit a Config can set: the
	// length field is a uint32, and the limit must fit an int everywhere.
	maxFrameLimit = math.MaxInt32
	// keepBuffer is the largest read or decompression buffer a connection
	// keeps between frames; a larger one, made for one big frame, is
	// dropped after it so that an idle connection stays small.
	keepBuffer = 1 << 20
)

// finishFrame completes the frame that starts at e.buf[start]: the caller
// reserved frameHeader bytes there and appended the body after them. It
// checks the frame, as it is before compression, against maxFrame (the
// quantity the receiver checks too, see [frameReader.next]); then it
// compresses the body when compress is set and the body is at least
// threshold bytes (keeping the compressed form only if it is smaller), and
// writes the header. If the frame is too large it truncates e.buf to start
// and returns an error wrapping [ErrFrameTooLarge].
func (e *encoder) finishFrame(start int, compress bool, threshold, maxFrame int) error {
	flags := byte(0)
	body := e.buf[start+frameHeader:]
	if n := 1 + len(body); n > maxFrame {
		e.buf = e.buf[:start]
		return fmt.Errorf("%w: %d bytes before compression, limit %d", ErrFrameTooLarge, n, maxFrame)
	}
	if compress && len(body) >= threshold {
		if n := s2.MaxEncodedLen(len(body)); cap(e.zbuf) < n {
			e.zbuf = make([]byte, n)
		}
		z := s2.Encode(e.zbuf[:cap(e.zbuf)], body)
		if len(z) < len(body) {
			e.buf = append(e.buf[:start+frameHeader], z...)
			flags |= flagS2
		}
	}
	n := len(e.buf) - start - 4 // at most the length checked above
	binary.LittleEndian.PutUint32(e.buf[start:], uint32(n))
	e.buf[start+4] = flags
	return nil
}

// appendFrame appends one frame carrying m. On error e.buf is as it was.
func (e *encoder) appendFrame(m Msg, compress bool, threshold, maxFrame int) error {
	start := len(e.buf)
	e.buf = append(e.buf, make([]byte, frameHeader)...)
	if err := e.appendMsg(m); err != nil {
		e.buf = e.buf[:start]
		return err
	}
	return e.finishFrame(start, compress, threshold, maxFrame)
}

// frameReader reads frames from a buffered stream. It is used by one
// goroutine at a time: Handshake, then Serve.
type frameReader struct {
	br *bufio.Reader
	// max is the frame limit; compress says whether compressed frames are
	// accepted (only once both sides agreed to compress).
	max      int
	compress bool

	// peeked is the length of the frame last returned from br's buffer,
	// discarded at the next call.
	peeked int
	buf    []byte // holds frames larger than br's buffer
	zbuf   []byte // holds decompressed bodies
	alloc  payloadAlloc
}

// next returns the body of the next frame, decompressed. The body is valid
// until the next call. At a clean end of the stream, between frames, it
// returns io.EOF; a stream that ends inside a frame gives an error wrapping
// io.ErrUnexpectedEOF; a bad frame gives one wrapping [ErrMalformed] or
// [ErrFrameTooLarge]. Nothing is allocated for a frame before its length is
// checked against the limit, and a large frame's buffer grows with the
// bytes that actually arrive, not with the length it declares.
func (fr *frameReader) next() ([]byte, error) {
	fr.br.Discard(fr.peeked) // cannot fail: the bytes are buffered
	fr.peeked = 0
	if cap(fr.buf) > keepBuffer {
		fr.buf = nil
	}
	if cap(fr.zbuf) > keepBuffer {
		fr.zbuf = nil
	}

	hdr, err := fr.br.Peek(4)
	if err != nil {
		return nil, readErr(err, len(hdr) == 0)
	}
	n := uint64(binary.LittleEndian.Uint32(hdr))
	switch {
	case n == 0:
		return nil, fmt.Errorf("%w: zero frame length", ErrMalformed)
	case n > uint64(fr.max):
		return nil, fmt.Errorf("%w: frame declares %d bytes, limit %d", ErrFrameTooLarge, n, fr.max)
	}
	fr.br.Discard(4)

	var frame []byte
	if int(n) <= fr.br.Size() {
		frame, err = fr.br.Peek(int(n))
		if err != nil {
			return nil, readErr(err, false)
		}
		fr.peeked = int(n)
	} else {
		if frame, err = fr.readLarge(int(n)); err != nil {
			return nil, err
		}
	}

	flags, body := frame[0], frame[1:]
	switch {
	case flags&^flagS2 != 0:
		return nil, fmt.Errorf("%w: reserved frame flags %#x", ErrMalformed, flags)
	case flags&flagS2 == 0:
		return body, nil
	case !fr.compress:
		return nil, fmt.Errorf("%w: compressed frame, but compression was not agreed", ErrMalformed)
	}
	dlen, err := s2.DecodedLen(body)
	if err != nil {
		return nil, fmt.Errorf("%w: compressed body: %w", ErrMalformed, err)
	}
	if 1+dlen > fr.max {
		// The sender checked the frame before compression: so does this.
		return nil, fmt.Errorf("%w: frame decompresses to %d bytes, limit %d", ErrFrameTooLarge, 1+dlen, fr.max)
	}
	fr.zbuf = slices.Grow(fr.zbuf[:0], dlen)
	out, err := s2.Decode(fr.zbuf[:dlen], body)
	if err != nil {
		return nil, fmt.Errorf("%w: compressed body: %w", ErrMalformed, err)
	}
	return out, nil
}

// readLarge reads a frame of n bytes, more than br buffers, into fr.buf.
// The buffer grows at most twofold per step, so a peer that declares a
// large frame and sends little makes it allocate only about what it sent.
func (fr *frameReader) readLarge(n int) ([]byte, error) {
	buf := fr.buf[:0]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			c := min(n, max(2*cap(buf), fr.br.Size()))
			buf = append(make([]byte, 0, c), buf...)
		}
		m, err := io.ReadFull(fr.br, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			fr.buf = buf
			return nil, readErr(err, false)
		}
	}
	fr.buf = buf
	return buf, nil
}

// readErr converts a read error. io.EOF stays io.EOF only at a frame
// boundary (atBoundary); inside a frame it is io.ErrUnexpectedEOF.
//
// A connection reset at a frame boundary is io.EOF too. A TCP peer that
// closes while data it has not read is queued for it, or arrives after,
// resets the connection instead of ending it, and whether that happens
// depends only on timing: the peer Closed either way, and the data it sent
// before has been delivered (Linux keeps received data readable before
// reporting the reset). A peer process that dies ends its streams the same
// two ways, so the difference carries no information worth an error.
func readErr(err error, atBoundary bool) error {
	switch {
	case atBoundary && (err == io.EOF || errors.Is(err, syscall.ECONNRESET)):
		return io.EOF
	case err == io.EOF, err == io.ErrUnexpectedEOF:
		return fmt.Errorf("transport: stream ended inside a frame: %w", io.ErrUnexpectedEOF)
	case errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("transport: stream reset inside a frame: %w (%v)", io.ErrUnexpectedEOF, err)
	}
	return fmt.Errorf("transport: read: %w", err)
}
