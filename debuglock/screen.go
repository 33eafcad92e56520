package debuglock

import (
	"bufio"
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
func rootInteractive() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

// noteLocked has text shown to the person at w's prompt; server.mu is
// held. Without a terminal nobody prompts, and the note goes to stderr.
func (w *waiter) noteLocked(text string) {
	if !rootInteractive() {
		fmt.Fprintln(os.Stderr, text)
		return
	}
	w.notes = append(w.notes, text)
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// wentAway says, on the terminal the holder prompted on, that it went
// without releasing the lock: its process died, or its connection
// dropped. The note starts on a line of its own, the holder's prompt
// being left open on the last one.
func wentAway(holder tractor.ActorID) {
	tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
	if err != nil {
		return // no terminal: no prompt was left open
	}
	defer tty.Close()
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
// It reads only while the prompt waits for a line: between lines the
// terminal is left alone (for a command that hands it to another
// program, or for the next prompt).
type lineReader struct {
	want chan struct{} // the prompt asks for a line
	ch   chan string   // a line, with its newline if it had one
	err  error         // why reading stopped, once ch is closed
	stop func()        // ends the reading and waits for the goroutine
}

// readLines starts reading in; stop ends that. The prompt calls stop
// between lines, when no read is in progress.
func readLines(in io.Reader) *lineReader {
	l := &lineReader{want: make(chan struct{}), ch: make(chan string)}
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(l.ch)
		r := bufio.NewReader(in)
		for {
			select {
			case <-l.want:
			case <-stopped:
				return
			}
			line, err := r.ReadString('\n')
			if line != "" {
				l.ch <- line // the prompt waits for it
			}
			if err != nil {
				l.err = err
				return
			}
		}
	})
	l.stop = func() {
		close(stopped)
		wg.Wait()
	}
	return l
}

// next returns the next line typed at the prompt, printing each note that
// comes meanwhile above the prompt, which it redraws: the line is cleared
// ("\r\033[K"), the note written, then the prompt again. It returns an
// error, and no line, once the input ends.
func (l *lineReader) next(out io.Writer, prompt string, notes <-chan string) (string, error) {
	want := l.want
	for {
		select {
		case want <- struct{}{}:
			want = nil
		case line, ok := <-l.ch:
			if !ok {
				return "", l.err
			}
			return line, nil
		case n, ok := <-notes:
			if !ok {
				notes = nil
				continue
			}
			fmt.Fprintf(out, "\r\033[K%s\n%s", n, prompt)
		}
	}
}

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

type heldRecord struct {
	h   slog.Handler
	ctx context.Context
	r   slog.Record
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
			h.h.Handle(h.ctx, h.r)
		}
		if dropped > 0 {
			r := slog.NewRecord(time.Now(), slog.LevelWarn, "debuglock: log records dropped while an actor held the terminal", 0)
			r.AddAttrs(slog.Int("dropped", dropped), slog.Int("kept", maxHeldLogs))
			via.Handle(context.Background(), r)
		}
	}
}

// handle holds r for h if a prompt is open, and says whether it did.
func (q *heldLogs) handle(ctx context.Context, h slog.Handler, r slog.Record) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.holds == 0 {
		return false
	}
	if len(q.queue) >= maxHeldLogs {
		if q.dropped == 0 {
			q.via = h
		}
		q.dropped++
		return true
	}
	q.queue = append(q.queue, heldRecord{h: h, ctx: context.WithoutCancel(ctx), r: r.Clone()})
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
