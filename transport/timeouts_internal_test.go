package transport

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// CloseLinger returns how long Close waits for a flush (see closeLinger).
func CloseLinger() time.Duration { return closeLinger }

// flakyListener is a net.Listener whose Accept returns errs in turn, then
// waits for Close; it records when each Accept was called. A nil error
// accepts one end of a net.Pipe.
type flakyListener struct {
	errs   []error
	calls  []time.Time
	idle   chan struct{} // closed when errs are used up: calls is final
	closed chan struct{}
}

func (f *flakyListener) Accept() (net.Conn, error) {
	f.calls = append(f.calls, time.Now())
	if len(f.errs) == 0 {
		close(f.idle)
		<-f.closed
		return nil, net.ErrClosed
	}
	err := f.errs[0]
	f.errs = f.errs[1:]
	if err != nil {
		return nil, err
	}
	c, p := net.Pipe()
	p.Close()
	return c, nil
}

func (f *flakyListener) Close() error   { close(f.closed); return nil }
func (f *flakyListener) Addr() net.Addr { return &net.TCPAddr{} }

// TestAcceptBackoff: a listener out of descriptors, buffers or memory
// retries Accept after a pause that doubles from 5 ms up to 1 s, and
// starts over after an accept succeeds; any other error stops it at once,
// and Close ends a pause at once. Time is the bubble's: the pauses are
// exact.
func TestAcceptBackoff(t *testing.T) {
	transient := []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM}
	run := func(t *testing.T, errs []error) (*tcpListener, *flakyListener) {
		f := &flakyListener{errs: errs, idle: make(chan struct{}), closed: make(chan struct{})}
		l := &tcpListener{ln: f, accepted: make(chan net.Conn), done: make(chan struct{}), exited: make(chan struct{})}
		go l.acceptLoop()
		return l, f
	}
	gaps := func(f *flakyListener) []time.Duration {
		var d []time.Duration
		for i := 1; i < len(f.calls); i++ {
			d = append(d, f.calls[i].Sub(f.calls[i-1]))
		}
		return d
	}
	ms := time.Millisecond
	t.Run("doubles to a second, resets on success", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var errs []error
			for i := range 10 {
				errs = append(errs, transient[i%len(transient)])
			}
			errs = append(errs, nil, syscall.EMFILE)
			l, f := run(t, errs)
			nc := <-l.accepted
			nc.Close()
			<-f.idle
			want := []time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, time.Second, time.Second, 0, 5 * ms}
			if got := gaps(f); !equalDurations(got, want) {
				t.Fatalf("pauses between Accepts %v, want %v", got, want)
			}
			if err := l.Close(); err != nil || !errors.Is(l.err, ErrClosed) {
				t.Fatalf("Close returned %v, the accept loop %v; want nil and ErrClosed", err, l.err)
			}
		})
	})
	t.Run("close during a pause", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l, f := run(t, []error{syscall.EMFILE, syscall.EMFILE})
			<-time.After(2 * ms) // the bubble's clock: into the 5 ms pause
			start := time.Now()
			l.Close()
			if took := time.Since(start); took != 0 || len(f.calls) != 1 || !errors.Is(l.err, ErrClosed) {
				t.Fatalf("Close took %v after %d Accepts, the loop ended with %v; want at once, 1 Accept and ErrClosed", took, len(f.calls), l.err)
			}
		})
	})
	t.Run("other errors stop the loop", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			broken := errors.New("listener broken")
			l, f := run(t, []error{syscall.EMFILE, broken})
			<-l.exited
			if got := gaps(f); !errors.Is(l.err, broken) || !equalDurations(got, []time.Duration{5 * ms}) {
				t.Fatalf("accept loop ended with %v after pauses %v, want %v after [5ms]", l.err, got, broken)
			}
			l.Close()
		})
	})
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
