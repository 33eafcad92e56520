package transport

import (
	"bufio"
	"io"
	"math"
	"reflect"
	"sync/atomic"
	"time"
)

// Internals exposed to this package's external tests.

// MaxNesting is how deeply payload values may nest.
const MaxNesting = maxNesting

// DecodeMsg decodes a frame body.
func DecodeMsg(body []byte) (Msg, error) { return decodeMsg(body, nil) }

// EncodeMsg returns the frame body encoding m.
func EncodeMsg(m Msg) ([]byte, error) {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.appendMsg(m); err != nil {
		return nil, err
	}
	return append([]byte(nil), e.buf...), nil
}

// EncodeFrame returns the frame carrying m, compressed as Send would with
// the given agreement and threshold.
func EncodeFrame(m Msg, compress bool, threshold int) ([]byte, error) {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.appendFrame(m, compress, threshold, maxFrameLimit); err != nil {
		return nil, err
	}
	return append([]byte(nil), e.buf...), nil
}

// EncodeHello returns the hello frame announcing h as it stands.
func EncodeHello(h Hello) ([]byte, error) {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.appendHello(h); err != nil {
		return nil, err
	}
	if err := e.finishFrame(0, false, 0, maxFrameLimit); err != nil {
		return nil, err
	}
	return append([]byte(nil), e.buf...), nil
}

// SetCloseLinger sets how long Close waits for a flush, until restore.
func SetCloseLinger(d time.Duration) (restore func()) {
	old := closeLinger
	closeLinger = d
	return func() { closeLinger = old }
}

// UsesDescriptor reports whether c's flushing Send writes through the
// stream's file descriptor, bypassing the stream's Write.
func UsesDescriptor(c *WireConn) bool { return c.raw != nil }

// ErrCrowdedOut is the error of a pending connection closed to make room.
var ErrCrowdedOut = errCrowdedOut

// PendingConns reports how many connections the TCP listener l holds
// pending, and how many of those have sent a byte.
func PendingConns(l Listener) (pending, heard int) {
	a := l.(*tcpListener).pending
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.queue {
		if p.heard.Load() {
			heard++
		}
	}
	return len(a.queue), heard
}

// HasTypeCodec reports whether payloads of type t skip msgpack's reflection.
func HasTypeCodec(t reflect.Type) bool { return codecFor(t) != nil }

// TypeCodecDecode decodes b into dst, a non-nil pointer to a type with a
// codec, with that codec alone: ok is false if the codec gave up (and
// Decode would hand the payload to msgpack).
func TypeCodecDecode(b []byte, dst any) (ok bool) {
	v := reflect.ValueOf(dst)
	rest, ok := codecFor(v.Type().Elem()).dec(b, v.UnsafePointer())
	return ok && len(rest) == 0
}

// RawPayload returns the payload whose encoding is b, as a connection
// delivers it.
func RawPayload(b []byte) Raw { return &rawPayload{b: b} }

// EncodePayload returns the encoding of v as a message carries it.
func EncodePayload(v any) ([]byte, error) {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.appendPayload(v); err != nil {
		return nil, err
	}
	return append([]byte(nil), e.buf...), nil
}

// CountZoneLoads clears the cache of time zones loaded by name and counts
// the loads from now on, until restore, which clears the cache again.
func CountZoneLoads() (loads func() int64, restore func()) {
	var n atomic.Int64
	reset := func() {
		zones.Lock()
		zones.m, zones.fixed = nil, nil
		zones.Unlock()
	}
	reset()
	loadLocation = func(name string) (*time.Location, error) {
		n.Add(1)
		return time.LoadLocation(name)
	}
	return n.Load, func() { loadLocation = time.LoadLocation; reset() }
}

// ZoneCaches returns how many named and fixed zones the receiver caches.
func ZoneCaches() (named, fixed int) {
	zones.Lock()
	defer zones.Unlock()
	return len(zones.m), len(zones.fixed)
}

// MaxZones bounds each of the zone caches.
const MaxZones = maxZones

// FrameReader reads frames as Serve does, for tests of the reader alone.
type FrameReader struct{ fr frameReader }

// NewFrameReader returns a reader of the frames on r, with Serve's buffer
// size, the frame limit max, and compressed frames accepted if compress.
func NewFrameReader(r io.Reader, max int, compress bool) *FrameReader {
	return &FrameReader{frameReader{br: bufio.NewReaderSize(r, readBuffer), max: max, compress: compress}}
}

// Next returns the body of the next frame, decompressed.
func (r *FrameReader) Next() ([]byte, error) { return r.fr.next() }

// Held returns the capacities of the frame and decompression buffers the
// reader keeps until its next frame.
func (r *FrameReader) Held() (buf, zbuf int) { return cap(r.fr.buf), cap(r.fr.zbuf) }

// EncoderKeeps returns the capacities of the buffers an encoder that
// grew buffers of buf and zbuf bytes keeps when it returns to the pool.
func EncoderKeeps(buf, zbuf int) (int, int) {
	e := &encoder{buf: make([]byte, 0, buf), zbuf: make([]byte, 0, zbuf)}
	e.dropLarge()
	return cap(e.buf), cap(e.zbuf)
}

// KeepBuffer is the largest buffer a connection keeps between frames.
const KeepBuffer = keepBuffer

// ReadBuffer is the size of Serve's buffered reader.
const ReadBuffer = readBuffer

// SetWriteHook makes c's flushing Send call hook instead of writing to the
// stream itself: hook gets each round's buffer (round 0 is the Send's own
// frame) and returns how much of it the stream took, as a write that does
// not block would. It must be set before c is used.
func SetWriteHook(c *WireConn, hook func(buf []byte, round int) (int, error)) { c.writeHook = hook }

// WaitWriteIdle waits until no goroutine writes for c: a Send that comes
// after it finds the connection idle and flushes its frame itself.
func WaitWriteIdle(c *WireConn) {
	c.mu.Lock()
	busy, writer := c.flushing, c.writer
	c.mu.Unlock()
	if busy && writer != nil {
		<-writer
	}
}

// ForgetLastWrite makes c's next Send take the connection for idle, as
// after a pause, so that it writes its frame itself instead of handing it
// to a goroutine as one of a stream of messages.
func ForgetLastWrite(c *WireConn) {
	c.mu.Lock()
	c.lastWrite = math.MinInt64 / 2
	c.mu.Unlock()
}
