//go:build unix

package transport

import "syscall"

// rawWriter does the one write at a time of a connection's flushing Send
// through its descriptor. Its fields carry the arguments and results of
// write, a method value made once, so that passing it to
// syscall.RawConn.Write allocates nothing.
type rawWriter struct {
	buf   []byte
	n     int
	err   error
	write func(fd uintptr) bool
}

func (w *rawWriter) writeFD(fd uintptr) bool {
	for w.n < len(w.buf) {
		m, err := syscall.Write(int(fd), w.buf[w.n:])
		w.n += max(m, 0) // m is -1 when err is set
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return true // full: the caller queues the rest
		case err != nil:
			w.err = err
			return true
		case m <= 0:
			return true
		}
	}
	return true
}

// tryWrite writes as much of buf as the stream takes without blocking and
// returns how much that was. On a stream without a descriptor it writes
// all of buf, blocking as long as that takes. Only the flushing Send calls
// it, so c.rw has one user at a time.
func (c *WireConn) tryWrite(buf []byte) (int, error) {
	if c.raw == nil {
		return c.rwc.Write(buf)
	}
	w := &c.rw
	if w.write == nil {
		w.write = w.writeFD
	}
	w.buf, w.n, w.err = buf, 0, nil
	err := c.raw.Write(w.write)
	n := w.n
	if err == nil {
		err = w.err
	}
	w.buf, w.err = nil, nil
	return n, err
}
