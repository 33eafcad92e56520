//go:build !unix

package transport

// rawWriter is unused where write(2) is not at hand.
type rawWriter struct{}

// tryWrite writes buf. Without unix write(2) at hand it cannot try a write
// without blocking, so it writes all of buf, blocking as long as that takes.
func (c *WireConn) tryWrite(buf []byte) (int, error) {
	return c.rwc.Write(buf)
}
