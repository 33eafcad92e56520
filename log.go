package tractor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// envLog names the environment variable that sets the runtime's log level
// without code: debug, info, warn or error (any text slog.Level parses,
// such as "warn+2"). A [LogLevel] option wins over it.
const envLog = "TRACTOR_LOG"

// levelFromEnv returns the level TRACTOR_LOG sets, or def when it is unset
// or is not a level.
func levelFromEnv(def slog.Level) slog.Level {
	v := os.Getenv(envLog)
	if v == "" {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		return def
	}
	return l
}

// isTerminal says whether w is a terminal, where a person reads the logs.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newOutputHandler returns the handler that writes the runtime's logs to
// w: console lines for a person when terminal says w is a terminal, JSON
// lines otherwise. It lets every level through: the runtime's level is
// applied above it (see levelHandler), so that one level governs a
// handler the user gave and one the runtime made alike.
func newOutputHandler(w io.Writer, terminal bool) slog.Handler {
	if terminal {
		return &consoleHandler{out: &lockedWriter{w: w}}
	}
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.Level(-1 << 20)})
}

// stderrHandler is the default handler, on os.Stderr, made once.
var stderrHandler = sync.OnceValue(func() slog.Handler {
	return newOutputHandler(os.Stderr, isTerminal(os.Stderr))
})

// handler returns the handler c's logs go to, under c's level, through
// c's wrapper, if any.
func (c *config) handler() slog.Handler {
	h := c.logHandler
	if h == nil {
		h = stderrHandler()
	}
	if c.logWrap != nil {
		h = c.logWrap(h)
	}
	return levelHandler{c.logLevel, h}
}

// levelHandler lets through the records at or above its level that its
// handler wants.
type levelHandler struct {
	level slog.Level
	h     slog.Handler
}

func (l levelHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= l.level && l.h.Enabled(ctx, level)
}

func (l levelHandler) Handle(ctx context.Context, r slog.Record) error { return l.h.Handle(ctx, r) }

func (l levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{l.level, l.h.WithAttrs(as)}
}

func (l levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{l.level, l.h.WithGroup(name)}
}

// debugTaskFailed logs, at debug level, that a task of endpoint failed
// with the error message, and the stack of a panic, if any, as its lines.
func (a *Actor) debugTaskFailed(endpoint, message, stack string) {
	l := a.debug()
	if l == nil {
		return
	}
	attrs := []any{slog.String("error", message), slog.String("endpoint", endpoint)}
	if stack != "" {
		attrs = append(attrs, StackAttr([]byte(stack)))
	}
	l.Debug("task failed", attrs...)
}

// stackKey is the attribute under which a stack is logged: as its lines,
// a []string, so that JSON shows a list and the console an indented block.
const stackKey = "stack"

// StackAttr returns a stack, as debug.Stack gives it, as a log attribute
// of its lines: JSON shows them as a list, the console format as an
// indented block under the line, rather than one escaped string.
func StackAttr(stack []byte) slog.Attr {
	return slog.Any(stackKey, strings.Split(strings.TrimRight(string(stack), "\n"), "\n"))
}

// lockedWriter serialises the writes of one output among the handlers
// derived from one another.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// consoleHandler writes a record as one line a person reads, then its
// stack, if any, indented under it:
//
//	21:04:19.512 WRN connection to peer failed actor=worker uid=3f2a… err="EOF"
type consoleHandler struct {
	out    *lockedWriter
	attrs  []byte // preformatted attributes of WithAttrs, each led by a space
	prefix string // the open groups, each followed by a dot
	stacks []string
}

func (h *consoleHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *consoleHandler) Handle(_ context.Context, r slog.Record) error {
	var b bytes.Buffer
	if !r.Time.IsZero() {
		b.WriteString(r.Time.Format("15:04:05.000 "))
	}
	b.WriteString(levelWord(r.Level))
	b.WriteByte(' ')
	b.WriteString(r.Message)
	b.Write(h.attrs)
	stacks := h.stacks
	r.Attrs(func(a slog.Attr) bool {
		stacks = appendAttr(&b, h.prefix, a, stacks)
		return true
	})
	b.WriteByte('\n')
	for _, s := range stacks {
		b.WriteString(s)
	}
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	_, err := h.out.w.Write(b.Bytes())
	return err
}

func (h *consoleHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b bytes.Buffer
	b.Write(h.attrs)
	stacks := h.stacks
	for _, a := range as {
		stacks = appendAttr(&b, h.prefix, a, stacks)
	}
	return &consoleHandler{out: h.out, attrs: b.Bytes(), prefix: h.prefix, stacks: stacks}
}

func (h *consoleHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix += name + "."
	return &c
}

// levelWord is a level's three-letter console word.
func levelWord(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DBG"
	case l < slog.LevelWarn:
		return "INF"
	case l < slog.LevelError:
		return "WRN"
	}
	return "ERR"
}

// appendAttr writes a as " key=value" to b, a group as its members with
// the group's name before their keys; a stack it appends to stacks, as
// the indented block printed under the line.
func appendAttr(b *bytes.Buffer, prefix string, a slog.Attr, stacks []string) []string {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return stacks
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, m := range a.Value.Group() {
			stacks = appendAttr(b, p, m, stacks)
		}
		return stacks
	}
	if a.Key == stackKey {
		lines, ok := a.Value.Any().([]string)
		if !ok {
			lines = strings.Split(strings.TrimRight(a.Value.String(), "\n"), "\n")
		}
		return appendBlock(stacks, prefix+a.Key, lines)
	}
	var v string
	switch a.Value.Kind() {
	case slog.KindString:
		v = a.Value.String()
	case slog.KindTime:
		v = a.Value.Time().Format(time.RFC3339Nano)
	default:
		if err, ok := a.Value.Any().(error); ok {
			v = err.Error()
		} else {
			v = a.Value.String()
		}
	}
	if strings.Contains(strings.TrimRight(v, "\n"), "\n") {
		// An error that carries a stack, or any text of several
		// lines: its lines, under the record's, as a stack's.
		return appendBlock(stacks, prefix+a.Key, strings.Split(strings.TrimRight(v, "\n"), "\n"))
	}
	b.WriteByte(' ')
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteByte('=')
	if v == "" || strings.ContainsAny(v, " \t\n\"=") {
		v = fmt.Sprintf("%q", v)
	}
	b.WriteString(v)
	return stacks
}

// appendBlock appends to blocks the block of lines printed, indented,
// under a record's line, headed by key.
func appendBlock(blocks []string, key string, lines []string) []string {
	var s strings.Builder
	fmt.Fprintf(&s, "  %s:\n", key)
	for _, l := range lines {
		fmt.Fprintf(&s, "    %s\n", l)
	}
	return append(blocks[:len(blocks):len(blocks)], s.String())
}

// childStderr returns where the lines of a process child's stderr that
// are not records go: os.Stderr, through c's wrapper, if any.
func (c *config) childStderr() io.Writer {
	if c.stderrWrap != nil {
		return c.stderrWrap(os.Stderr)
	}
	return os.Stderr
}

// logRelay receives a process child's stderr. The child, whose stderr is
// not a terminal, logs JSON lines there (see newOutputHandler); the relay
// decodes each line that is a record of an actor and hands it to the
// parent's handler, so that a child's logs, and its children's in turn,
// reach the logger the root was given. Any other line, such as a panic's,
// goes to out as it came, one line per Write (see WrapChildStderr).
type logRelay struct {
	h       slog.Handler // the parent's, without its actor's attributes
	out     io.Writer
	partial []byte // a line not yet ended
}

// Write is called by one goroutine, the one exec.Cmd copies stderr with.
func (r *logRelay) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			r.partial = append(r.partial, p...)
			break
		}
		line := p[:i+1]
		if len(r.partial) > 0 {
			line = append(r.partial, line...)
			r.partial = r.partial[:0]
		}
		r.line(line)
		p = p[i+1:]
	}
	return n, nil
}

// line relays one line, ending in a newline.
func (r *logRelay) line(line []byte) {
	rec, ok := decodeRecord(line)
	if !ok {
		r.out.Write(line)
		return
	}
	if r.h.Enabled(context.Background(), rec.Level) {
		r.h.Handle(context.Background(), rec)
	}
}

// decodeRecord decodes a JSON line slog wrote for an actor (it has a
// time, level, msg, actor and uid) back into a record, its attributes in
// the order they were written.
func decodeRecord(line []byte) (slog.Record, bool) {
	if len(line) == 0 || line[0] != '{' {
		return slog.Record{}, false
	}
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return slog.Record{}, false
	}
	var (
		rec        slog.Record
		attrs      []slog.Attr
		actor, uid bool
		level, msg bool
	)
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return slog.Record{}, false
		}
		key, _ := t.(string)
		var v any
		if err := d.Decode(&v); err != nil {
			return slog.Record{}, false
		}
		s, isStr := v.(string)
		switch {
		case key == slog.TimeKey && isStr:
			rec.Time, _ = time.Parse(time.RFC3339Nano, s)
		case key == slog.LevelKey && isStr:
			level = rec.Level.UnmarshalText([]byte(s)) == nil
		case key == slog.MessageKey && isStr:
			rec.Message, msg = s, true
		default:
			actor = actor || key == "actor"
			uid = uid || key == "uid"
			attrs = append(attrs, jsonAttr(key, v))
		}
	}
	if !actor || !uid || !level || !msg {
		return slog.Record{}, false
	}
	rec.AddAttrs(attrs...)
	return rec, true
}

// jsonAttr turns a decoded JSON value back into an attribute: an object
// becomes a group, a list of strings stays one (a stack's lines).
func jsonAttr(key string, v any) slog.Attr {
	switch v := v.(type) {
	case map[string]any:
		var as []any
		for k, m := range v {
			as = append(as, jsonAttr(k, m))
		}
		return slog.Group(key, as...)
	case []any:
		lines := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return slog.Any(key, v)
			}
			lines = append(lines, s)
		}
		return slog.Any(key, lines)
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return slog.Int64(key, i)
		}
		f, _ := v.Float64()
		return slog.Float64(key, f)
	}
	return slog.Any(key, v)
}
