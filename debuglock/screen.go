package debuglock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/tractor-go/tractor"
)

// The terminal is the prompt's while an actor holds it: nothing else may
// write on the prompt's line. What the root has to say to the person at
// the prompt (that an actor waits for the terminal, that Ctrl-C was
// ignored) goes to the holder over the lock's dialog, and its prompt
// prints it above itself, redrawn; the runtime's logs are held back (see
// holdLogs) until the prompt is released.

// rootInteractive says whether this process, the root, has a terminal to
// lend: its stdin is one.
// The first time it is, the terminal's mode is kept (see foundMode).
func rootInteractive() bool {
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return false
	}
	foundMode()
	return true
}

// foundMode is the mode of the root's terminal when it first lent it,
// before any prompt made it raw (a prompt reads in raw mode, see
// lineReader): a holder that goes away at its prompt, killed, leaves the
// terminal raw, and the root puts this mode back (see wentAway).
var foundMode = sync.OnceValue(func() *term.State {
	st, err := term.GetState(int(os.Stdin.Fd()))
	if err != nil {
		return nil
	}
	return st
})

// ctrlCIgnored is the note that Ctrl-C was ignored while holder holds
// the terminal, typed at its prompt or sent as SIGINT to the root while a
// command of the prompt ran.
func ctrlCIgnored(holder tractor.ActorID) string {
	return fmt.Sprintf("debuglock: Ctrl-C ignored: actor %s holds the terminal; quit (q) at its prompt cancels it", holder)
}

// noteLocked has text shown to the person at w's prompt; server.mu is
// held. Without a terminal nobody prompts, and the note goes to stderr.
func (w *waiter) noteLocked(text string) {
	if !rootInteractive() {
		fmt.Fprintln(os.Stderr, text)
		return
	}
	w.notes = append(w.notes, text)
	poke(w.kick)
}

// wentAway says, on the terminal the holder prompted on, that it went
// without releasing the lock: its process died, or its connection
// dropped. It puts back the terminal's mode first, which the holder's
// prompt may have left raw. The note starts on a line of its own, the holder's prompt
// being left open on the last one.
func wentAway(holder tractor.ActorID) {
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		return // no terminal: no prompt was left open
	}
	defer tty.Close()
	if st := foundMode(); st != nil {
		_ = term.Restore(int(tty.Fd()), st)
	}
	fmt.Fprintf(tty, "\ndebuglock: %s went away holding the terminal\n", holder)
}

// tellHolder has text shown to the person at the prompt of a terminal
// lock served by this process, and says whether an actor holds one.
func (s *server) tellHolder(text func(holder tractor.ActorID) string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.locks {
		if l.holder != nil {
			l.holder.noteLocked(text(l.holder.who.ID))
			return true
		}
	}
	return false
}

// sendNotes sends the holder w the notes for its screen until it
// releases the lock (closes its stream) or goes away (its actor ended,
// its process died, its connection dropped): either way the lock is
// free, and the acquire task did not fail. It says whether the holder
// released the lock, rather than went. It owns the goroutine that waits
// for the release.
func (s *server) sendNotes(c *tractor.Context, st *tractor.MsgStream[string, int], w *waiter) (released bool) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := st.Receive(c) // io.EOF once released; an error if the holder went
		released = errors.Is(err, io.EOF)
	}()
	for {
		select {
		case <-done:
			return released
		case <-w.kick:
			s.mu.Lock()
			notes := w.notes
			w.notes = nil
			s.mu.Unlock()
			for _, n := range notes {
				if st.Send(c, n) != nil {
					<-done // the holder went: so does its Receive
					return released
				}
			}
		}
	}
}

// maxNotes bounds the notes a holder keeps unread: a holder that does not
// prompt needs none.
const maxNotes = 64

// receiveNotes receives the root's notes until the dialog ends (ctx is
// its own, ended at the lease's release) into the channel it returns,
// closed then; the goroutine that does is added to wg. Notes that find
// the channel full are dropped: nobody is reading them.
func receiveNotes(ctx context.Context, st *tractor.MsgStream[int, string], wg *sync.WaitGroup) <-chan string {
	notes := make(chan string, maxNotes)
	wg.Go(func() {
		defer close(notes)
		for {
			n, err := st.Receive(ctx)
			if err != nil {
				return
			}
			select {
			case notes <- n:
			default:
			}
		}
	})
	return notes
}

// lineReader reads a prompt's input, a line at a time, on a goroutine of
// its own, so that the prompt can wait for a line and for notes at once.
// It reads through x/term's Terminal, the tty in raw mode: a note printed
// above the prompt (see next) redraws the prompt with what was typed so
// far, which the kernel's line discipline would have left hidden and
// pending, and the line can be edited and recalled (arrows, Ctrl-A/E/U,
// history). It reads, the tty raw, only while the prompt waits for a
// line: between lines the tty is in the mode the prompt found it in, for
// a command that hands it to another program (dlv) and for whatever
// follows the prompt.
//
// In raw mode Ctrl-C is a byte, not SIGINT: typed at the prompt, it
// clears the line being typed, and the prompt says it was ignored and
// that quit cancels the actor (see input). While a command runs the tty
// is not raw, and Ctrl-C is SIGINT, for [NotifyContext].
type lineReader struct {
	t      *term.Terminal
	fd     int           // the tty's, made raw while reading; -1 if in is no terminal
	want   chan struct{} // the prompt asks for a line
	ch     chan string   // a line, without its newline
	intr   chan struct{} // Ctrl-C was typed
	wait   chan struct{} // the Terminal waits for input, its prompt drawn
	notice string        // what the prompt says when it was
	err    error         // why reading stopped, once ch is closed
	stop   func()        // ends the reading and waits for the goroutine
}

// readLines starts reading in, prompting with prompt on out; stop ends
// that. The prompt calls stop between lines, when no read is in progress.
// notice is printed above the prompt when Ctrl-C is typed at it.
func readLines(in io.Reader, out io.Writer, prompt, notice string) *lineReader {
	l := &lineReader{fd: -1, want: make(chan struct{}), ch: make(chan string), intr: make(chan struct{}, 1), wait: make(chan struct{}, 1), notice: notice}
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		l.fd = int(f.Fd())
	}
	l.t = term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{&input{r: in, intr: l.intr, wait: l.wait}, out}, prompt)
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(l.ch)
		for {
			select {
			case <-l.want:
			case <-stopped:
				return
			}
			line, err := l.readLine()
			if err != nil {
				l.err = err
				return
			}
			l.ch <- line // the prompt waits for it
		}
	})
	l.stop = func() {
		close(stopped)
		wg.Wait()
	}
	return l
}

// readLine reads a line with the tty raw, and puts its mode back before
// it returns, however the read ends.
func (l *lineReader) readLine() (string, error) {
	if l.fd >= 0 {
		if st, err := term.MakeRaw(l.fd); err == nil {
			defer term.Restore(l.fd, st)
		}
	}
	line, err := l.t.ReadLine()
	if errors.Is(err, term.ErrPasteIndicator) {
		err = nil // a pasted line is a line
	}
	return line, err
}

// next prompts and returns the next line typed, printing each note that
// comes meanwhile above the prompt, which is redrawn with the input typed
// so far: the notes wait until the prompt is drawn, which they would
// otherwise precede. It returns an error, and no line, once the input
// ends.
func (l *lineReader) next(notes <-chan string) (string, error) {
	select {
	case <-l.wait: // from the last line's reading
	default:
	}
	want, later := l.want, notes
	notes = nil
	for {
		select {
		case want <- struct{}{}:
			want = nil
		case <-l.wait:
			notes = later
		case line, ok := <-l.ch:
			if !ok {
				return "", l.err
			}
			return line, nil
		case <-l.intr:
			fmt.Fprintln(l.t, l.notice)
		case n, ok := <-notes:
			if !ok {
				notes = nil
				continue
			}
			fmt.Fprintln(l.t, n)
		}
	}
}

// input reads a raw tty for a Terminal, turning each Ctrl-C into the
// keys that clear the line (Ctrl-E, to its end, then Ctrl-U): the
// Terminal would end the input at a Ctrl-C. It says on intr that one was
// typed, at its next read, once the Terminal has cleared the line: the
// notice printed then redraws an empty prompt. It says on wait that the
// Terminal waits for input, which it asks for once it has drawn its
// prompt and handled the keys it had.
type input struct {
	r       io.Reader
	intr    chan<- struct{} // buffered
	wait    chan<- struct{} // buffered
	pending []byte          // read, not yet returned
	err     error           // the error of the read pending came with
	typed   bool            // a Ctrl-C is in what was returned
}

func (c *input) Read(p []byte) (int, error) {
	if c.typed {
		c.typed = false
		poke(c.intr)
	}
	poke(c.wait)
	if len(c.pending) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		buf := make([]byte, len(p))
		n, err := c.r.Read(buf)
		c.err = err
		if bytes.IndexByte(buf[:n], keyCtrlC) >= 0 {
			c.typed = true
			c.pending = bytes.ReplaceAll(buf[:n], []byte{keyCtrlC}, []byte(clearLine))
		} else {
			c.pending = buf[:n]
		}
		if n == 0 {
			c.err = nil
			return 0, err
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// poke sends on ch, buffered, unless a send is pending there already.
func poke(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

const (
	keyCtrlC  = 0x03
	clearLine = "\x05\x15" // Ctrl-E, Ctrl-U
)

// maxHeldLogs bounds the records held while a prompt is open; the ones
// past it are dropped, and counted in a record written with the others.
const maxHeldLogs = 1024

// heldLogs holds the runtime's records back while an actor of a tree this
// process serves (as its root) holds the terminal to prompt: every
// actor's records end up at the root's handler, a process child's relayed
// from its stderr, and would otherwise be written across the prompt.
type heldLogs struct {
	mu      sync.Mutex
	holds   int // prompts open
	queue   []heldRecord
	dropped int
	via     slog.Handler // the handler of the first record dropped
}

// heldRecord is a record held for its handler h, or a raw line of a
// process child's stderr held for its writer w (see holdStderr).
type heldRecord struct {
	h   slog.Handler
	ctx context.Context
	r   slog.Record
	w   io.Writer
	raw []byte
}

var logs heldLogs

// hold starts holding records back, until the matching release.
func (q *heldLogs) hold() {
	q.mu.Lock()
	q.holds++
	q.mu.Unlock()
}

// release writes the records held, to the handlers they were for, in
// the order they came; with the last prompt closed, records go through
// again. Records that come while it writes are held and written too.
func (q *heldLogs) release() {
	for {
		q.mu.Lock()
		held, dropped, via := q.queue, q.dropped, q.via
		q.queue, q.dropped, q.via = nil, 0, nil
		if len(held) == 0 && dropped == 0 {
			q.holds--
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		for _, h := range held {
			if h.w != nil {
				h.w.Write(h.raw)
				continue
			}
			h.h.Handle(h.ctx, h.r)
		}
		if dropped > 0 {
			r := slog.NewRecord(time.Now(), slog.LevelWarn, "debuglock: log records dropped while an actor held the terminal", 0)
			r.AddAttrs(slog.Int("dropped", dropped), slog.Int("kept", maxHeldLogs))
			if via == nil {
				via = slog.NewTextHandler(os.Stderr, nil) // the first dropped was a raw line
			}
			via.Handle(context.Background(), r)
		}
	}
}

// handle holds r for h if a prompt is open, and says whether it did.
func (q *heldLogs) handle(ctx context.Context, h slog.Handler, r slog.Record) bool {
	return q.add(h, func() heldRecord { return heldRecord{h: h, ctx: context.WithoutCancel(ctx), r: r.Clone()} })
}

// write holds line for w if a prompt is open, and says whether it did.
func (q *heldLogs) write(w io.Writer, line []byte) bool {
	return q.add(nil, func() heldRecord { return heldRecord{w: w, raw: bytes.Clone(line)} })
}

// add queues what held makes if a prompt is open, and says whether it
// did; past maxHeldLogs it counts it as dropped instead, and the count
// goes to the first dropped record's handler, via, or to stderr.
func (q *heldLogs) add(via slog.Handler, held func() heldRecord) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.holds == 0 {
		return false
	}
	if len(q.queue) >= maxHeldLogs {
		if q.dropped == 0 {
			q.via = via
		}
		q.dropped++
		return true
	}
	q.queue = append(q.queue, held())
	return true
}

// holdLogs wraps the handler of the runtime's logs (see
// [tractor.WrapLogHandler]) so that its records wait while a prompt is
// open, in the root.
func holdLogs(h slog.Handler) slog.Handler { return holdingHandler{h} }

type holdingHandler struct{ h slog.Handler }

func (h holdingHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h holdingHandler) Handle(ctx context.Context, r slog.Record) error {
	if logs.handle(ctx, h.h, r) {
		return nil
	}
	return h.h.Handle(ctx, r)
}

func (h holdingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return holdingHandler{h.h.WithAttrs(as)}
}

func (h holdingHandler) WithGroup(name string) slog.Handler {
	return holdingHandler{h.h.WithGroup(name)}
}

// holdStderr wraps where the lines of a process child's stderr that are
// not log records go (see [tractor.WrapChildStderr]) so that they wait
// with the held records, in order with them, while a prompt is open.
func holdStderr(w io.Writer) io.Writer { return holdingWriter{w} }

type holdingWriter struct{ w io.Writer }

// Write is given one line at a time.
func (h holdingWriter) Write(line []byte) (int, error) {
	if logs.write(h.w, line) {
		return len(line), nil
	}
	return h.w.Write(line)
}
