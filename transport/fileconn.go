package transport

import (
	"fmt"
	"net"
	"os"
)

// FileConn returns a wire connection over f, a connected stream socket such
// as either end of a [Socketpair] or the descriptor a child process
// inherited (os.NewFile(3, "tractor") for the first of exec.Cmd.ExtraFiles).
// It goes through net.FileConn, so the connection uses the runtime's
// network poller and has deadlines (which Handshake uses to honour its
// ctx).
//
// FileConn takes f over: it closes f, whose descriptor the connection has
// duplicated, even on error. Keeping f open would keep the socket open
// after the connection's Close, and the peer would never see EOF.
func FileConn(f *os.File, cfg Config) (*WireConn, error) {
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("transport: file conn %s: %w", f.Name(), err)
	}
	return NewConn(nc, cfg), nil
}
