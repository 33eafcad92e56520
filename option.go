package tractor

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/tractor-go/tractor/spawnproc"
	"github.com/tractor-go/tractor/transport"
)

// Option configures [Run], [OpenNursery], [Nursery.StartActor] or
// [Nursery.RunInActor]. Options given to Run or to a nursery are inherited
// by the actors started below them; an option given to one actor applies to
// that actor and is inherited by its own nurseries.
//
// Each option checks its value where it is made and panics, naming the
// option and the mistake, on one that could only hang or break the tree
// (a non-positive timeout, a nil endpoint): options are declared in code,
// as endpoints are, and such a value is a programmer's error.
type Option interface{ apply(*config) }

// badOption panics with the mistake made in an option.
func badOption(format string, args ...any) {
	panic(fmt.Sprintf("tractor: "+format, args...))
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Hosting says where an actor runs.
type Hosting uint8

const (
	// Goroutine hosts an actor in the parent's process: its calls run on
	// their callers' goroutines, its generators and context dialogs on
	// goroutines of their own. It is the default.
	Goroutine Hosting = iota
	// Process hosts an actor in a child process: this binary re-executed
	// (see [ServeIfChild]), reached over the [Wire] chosen with
	// [Transport], with the same endpoints and semantics.
	Process
)

func (h Hosting) String() string {
	switch h {
	case Goroutine:
		return "goroutine"
	case Process:
		return "process"
	}
	return "hosting(?)"
}

// Wire is how the runtime reaches a process actor.
type Wire = spawnproc.Wire

const (
	// Pipe reaches a process actor over a socketpair passed to it as an
	// extra file. It is the default.
	Pipe = spawnproc.Pipe
	// TCP reaches a process actor over TCP: the parent listens (on
	// loopback unless [BindAddr] says otherwise) and the child dials back.
	TCP = spawnproc.TCP
)

// config is the resolved set of options for one actor or nursery.
type config struct {
	name          string
	expose        []Endpoint
	hosting       Hosting
	logLevel      slog.Level
	logHandler    slog.Handler                    // nil: newOutputHandler on os.Stderr
	logWrap       func(slog.Handler) slog.Handler // see WrapLogHandler
	stderrWrap    func(io.Writer) io.Writer       // see WrapChildStderr
	cancelTimeout time.Duration
	exitGrace     time.Duration
	window        flowWindow
	wire          Wire
	bindAddr      string
	binary        string
	wireCheck     bool              // see WireCheck
	faults        *transport.Faults // see InjectFaults; nil: none

	// Discovery and peers; see ListenAddr, Registrar, Secret and TLS.
	listenAddr    string
	registrarAddr string
	secret        string
	tls           *tls.Config
	peers         transport.Network // see PeerNetwork
	root          registrarRef      // where this program's root is
	registry      Registry          // see UseRegistry; nil: the built-in registrar

	// Hooks, process-local like tls: see BeforeCancel and OnTaskError.
	beforeCancel func(ctx context.Context, child ActorID) (held bool)
	onTaskError  func(ctx context.Context, endpoint string, err error, stack []byte)
}

// defaultConfig is the configuration of a root actor before options.
func defaultConfig() config {
	return config{
		name:          "root",
		logLevel:      levelFromEnv(slog.LevelWarn),
		cancelTimeout: 500 * time.Millisecond,
		exitGrace:     defaultExitGrace,
		window:        newFlowWindow(defaultWindow, defaultWindowBytes),
		wireCheck:     testing.Testing(),
	}
}

// inherit returns the configuration a child starts from: everything but
// the name and the exposed endpoints, which belong to one actor.
func (c config) inherit() config {
	c.name = ""
	c.expose = nil
	return c
}

func (c config) with(opts []Option) config {
	if len(opts) == 0 {
		return c // no copy to the heap for options to write to
	}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// Name names the root actor started by [Run] (default "root"). It panics
// if name is empty.
func Name(name string) Option {
	if name == "" {
		badOption("Name(\"\"): an actor needs a name")
	}
	return optionFunc(func(c *config) { c.name = name })
}

// Expose lists the endpoints an actor serves. An actor refuses a call to any
// other endpoint with an error matching [ErrNotExposed], naming endpoint and
// actor, and keeps serving. It panics if an endpoint is nil.
func Expose(endpoints ...Endpoint) Option {
	for i, ep := range endpoints {
		if ep == nil || isNilValue(reflect.ValueOf(ep)) {
			badOption("Expose: endpoint %d of %d is nil", i, len(endpoints))
		}
	}
	return optionFunc(func(c *config) { c.expose = append(c.expose[:len(c.expose):len(c.expose)], endpoints...) })
}

// isNilValue says whether v is a nil pointer, map, func, chan, slice or
// interface: a typed nil in an interface. Values of other kinds are never
// nil.
func isNilValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// Spawn chooses where actors run (default [Goroutine]). Given to Run or a
// nursery it applies to every actor below; a process actor's own nurseries
// inherit it. It panics if h is neither.
func Spawn(h Hosting) Option {
	if h != Goroutine && h != Process {
		badOption("Spawn(%d): no such hosting (Goroutine or Process)", h)
	}
	return optionFunc(func(c *config) { c.hosting = h })
}

// WireCheck sets whether the values that actors of this process exchange
// pass through the wire's codec, as they would between processes.
//
// Off, which is the default in production, a value sent to an actor of
// this process travels by reference, as a value sent on a Go channel does:
// an argument, a result, a Started value, a stream item or an error
// reaches the other side as the same Go value, for the cost of passing a
// pointer. The contract is the channel's: do not mutate what you sent, or
// what you received, while the other side may still use it; a program
// that keeps to it behaves the same when the actor moves to a process.
//
// On, which is the default under go test (the library imports testing to
// ask [testing.Testing]), every value of those dialogs is encoded with the
// wire's codec, against its frame limit, and decoded on the other side, as
// between processes: a callee that mutates a map it received does not
// change its caller's; what the codec cannot carry arrives as a process
// actor would receive it; and a value that cannot be encoded, or is over
// the frame limit, fails the same way, with an error matching
// [ErrUnencodable] or [ErrMessageTooLarge]. So a test with goroutine actors
// sees what a process actor would, at the cost of an encoding per value.
//
// Given to [Run], a nursery or an actor, it applies to the dialogs of the
// actors below, and is inherited: a dialog between a goroutine actor and
// its parent follows the child's setting, and one with an actor of this
// process found by discovery follows the caller's. Process actors, whose
// values always cross the wire, are not affected, but pass the setting on
// to the goroutine actors they start.
//
// Production and tests thus differ by design. A test that needs
// production's behaviour, values by reference (a benchmark of that path,
// or a test of a value the codec cannot carry), gives WireCheck(false) to
// Run.
func WireCheck(on bool) Option {
	return optionFunc(func(c *config) { c.wireCheck = on })
}

// LogLevel sets the level of the runtime's logs (default warn, so a healthy
// tree is quiet; the environment variable TRACTOR_LOG, set to debug, info,
// warn or error, changes that default without code). Children inherit it,
// in their process or in their own. It applies to the handler given with
// [LogHandler] too, which may drop more.
func LogLevel(l slog.Level) Option {
	return optionFunc(func(c *config) { c.logLevel = l })
}

// LogOutput sets where the runtime's logs go (default os.Stderr; use
// io.Discard to drop them): as console lines a person reads when w is a
// terminal, as JSON lines otherwise. Children in the same process inherit
// it; a process child's logs come back to its parent's handler. It panics
// if w is nil.
func LogOutput(w io.Writer) Option {
	if w == nil {
		badOption("LogOutput(nil): give io.Discard to drop the logs")
	}
	return LogHandler(newOutputHandler(w, isTerminal(w)))
}

// LogHandler hands the runtime's logs to h, such as the handler of the
// program's own *slog.Logger (logger.Handler()). Every record carries
// the actor's name and uid as the attributes "actor" and "uid"; the
// records of process children, relayed from their stderr, reach h too.
// Children in the same process inherit it. It panics if h is nil.
func LogHandler(h slog.Handler) Option {
	if h == nil {
		badOption("LogHandler(nil): give LogOutput(io.Discard) to drop the logs")
	}
	return optionFunc(func(c *config) { c.logHandler = h })
}

// WrapLogHandler has the runtime's logs go through wrap(h), h being the
// handler they would go to otherwise (the one given with [LogHandler] or
// [LogOutput], or the default): a tool that shares the terminal with the
// logs, such as debuglock, holds them back while it prompts without
// choosing their output. Records relayed from process children go
// through it too. Children in the same process inherit it; a process
// actor takes it from its own Run or ServeIfChild options. A nil wrap
// removes it.
func WrapLogHandler(wrap func(slog.Handler) slog.Handler) Option {
	return optionFunc(func(c *config) { c.logWrap = wrap })
}

// WrapChildStderr has the lines a process child writes to its stderr
// that are not log records (a panic's output, the runtime's fatal errors,
// the user's own writes to os.Stderr) go through wrap(os.Stderr), one
// line per Write, rather than straight to os.Stderr: a tool that shares
// the terminal with them, such as debuglock, holds them back with the
// logs it holds (see [WrapLogHandler]) while it prompts. Children in the
// same process inherit it; a process actor takes it from its own Run or
// ServeIfChild options. A nil wrap removes it.
func WrapChildStderr(wrap func(io.Writer) io.Writer) Option {
	return optionFunc(func(c *config) { c.stderrWrap = wrap })
}

// CancelTimeout bounds how long a cancellation waits for its
// acknowledgement before the runtime reports the actor as slow (default
// 500ms, tractor's Portal.cancel_timeout). It bounds waiting only: a
// cancellation is always sent. A [BeforeCancel] hook that held a
// process child's cancellation back gives it the timeout anew. Children
// inherit it. It panics if d is not positive.
func CancelTimeout(d time.Duration) Option {
	if d <= 0 {
		badOption("CancelTimeout(%v): the timeout must be positive", d)
	}
	return optionFunc(func(c *config) { c.cancelTimeout = d })
}

// defaultExitGrace is ExitGrace's default: three times the race
// detector's exit sleep (one second, GORACE's atexit_sleep_ms).
const defaultExitGrace = 3 * time.Second

// ExitGrace bounds how long a process actor whose connection has ended
// (it acknowledged its cancellation, or died) is given to exit before its
// nursery terminates it: SIGTERM, then SIGKILL (default 3s). A process
// built with -race sleeps a second at exit. An actor that acknowledged
// its cancellation and is then terminated ended as asked: its nursery
// reports no error. Children inherit it. d must be positive: ExitGrace
// panics otherwise, naming the mistake.
func ExitGrace(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("tractor: ExitGrace(%v): the grace must be positive", d))
	}
	return optionFunc(func(c *config) { c.exitGrace = d })
}

// Window sets the flow-control window of streams: how many items, and how
// many bytes of them, a receiver lets its sender have in flight before the
// sender waits for credit, whichever limit comes first (default 1024 items
// and 4 MiB). The receiver grants credit back as it consumes, so a
// receiver that stops reading holds at most the window: at most items
// items, and under bytes bytes plus one item, for one item larger than the
// whole window still goes through, alone. Bytes are counted as the
// transport measures them ([transport.Msg.Size]): between processes the
// encoded size of each item, before compression; between goroutine actors,
// which pass values by reference, an estimate of each item's memory
// ([transport.PayloadSize]: a string's or a slice's contents are counted,
// what they point to further is not), or the encoded size under
// [WireCheck].
//
// The window is the receiver's, per stream and per direction: each side
// of a dialog announces the window it receives with when the dialog
// opens, and its peer keeps to it, so a two-way stream has two windows,
// one each way. Given to [Run], a nursery or an actor, Window sets the
// window of the actor's dialogs, and is inherited; given to
// [StreamEndpoint.Open] or [CtxEndpoint.Open] it sets the window of the
// stream that caller receives on that one dialog; given to [OpenStream],
// by either side of a context dialog, the window that side receives the
// stream with, changed from the one it announced.
//
// Items are capped at 2^31-1 and bytes at 2^61-1, what a sender's credit
// holds: a larger value means no limit beyond the cap, so that
// Window(n, math.MaxInt) bounds the items alone. Window panics if items
// or bytes is not positive.
func Window(items, bytes int) WindowOption {
	if items <= 0 || bytes <= 0 {
		panic(fmt.Sprintf("tractor: Window(%d, %d): want a positive number of items and of bytes", items, bytes))
	}
	return WindowOption{newFlowWindow(items, bytes)}
}

// WindowOption is a flow-control window, made by [Window]: an [Option] for
// actors and a [DialogOption] for one dialog.
type WindowOption struct{ w flowWindow }

func (o WindowOption) apply(c *config)             { c.window = o.w }
func (o WindowOption) applyDialog(c *dialogConfig) { c.window = o.w }

// DialogOption configures one dialog or stream, given to
// [StreamEndpoint.Open], [CtxEndpoint.Open] or [OpenStream]. [Window]
// makes one.
type DialogOption interface{ applyDialog(*dialogConfig) }

// dialogConfig is the resolved set of options for one dialog, on the side
// that opens it.
type dialogConfig struct {
	window flowWindow // what this side receives
}

// Transport chooses how the runtime reaches process actors (default
// [Pipe]). It is inherited like [Spawn]. It panics if w is neither Pipe
// nor TCP.
func Transport(w Wire) Option {
	if w != Pipe && w != TCP {
		badOption("Transport(%d): no such wire (Pipe or TCP)", w)
	}
	return optionFunc(func(c *config) { c.wire = w })
}

// BindAddr sets the host a parent listens on for [TCP] children (default
// "127.0.0.1": loopback only), as "host:port"; the port is ignored, each
// child dials back to a fresh one.
func BindAddr(addr string) Option { return optionFunc(func(c *config) { c.bindAddr = addr }) }

// Binary names the executable run for process actors (default: this
// program's own). It must be built with this library and call [Run] or
// [ServeIfChild] first in main, and must declare the same endpoints.
func Binary(path string) Option { return optionFunc(func(c *config) { c.binary = path }) }

// ListenAddr sets where the actors of this program accept connections from
// peers that found them through the registrar, as "host:port" (default
// "127.0.0.1:0": loopback only, a fresh port). Given to [Run], it is the
// address other programs join when this root is their registrar (see
// [Registrar]); process actors listen on the same host, each on a fresh
// port. The host must be one peers can dial, not an unspecified one
// ("0.0.0.0", "[::]" or none, as in ":7000"): the address is what the
// registrar tells them, and Run refuses those. Listening beyond loopback
// exposes the tree to the network: every peer must prove it knows the
// tree's [Secret], and [TLS] encrypts.
func ListenAddr(addr string) Option { return optionFunc(func(c *config) { c.listenAddr = addr }) }

// Registrar makes [Run] join the tree whose registrar listens at addr (the
// [ListenAddr] of another program's root) instead of being a registrar
// itself: this program's actors register there, and discovery
// ([FindActor], [WaitForActor], [Actors]) sees the actors of both
// programs. Run fails if the registrar cannot be reached in a bounded
// time. Without the option, Run reads the environment variable
// TRACTOR_REGISTRAR.
func Registrar(addr string) Option { return optionFunc(func(c *config) { c.registrarAddr = addr }) }

// Secret sets the tree's shared secret: every connection between actors of
// different processes starts with an HMAC challenge in which both sides
// prove they know it, and a peer that fails is dropped before any endpoint
// is reachable. Process actors receive it from their parent. Programs that
// join one registrar must share it: give each the same Secret, or set the
// environment variable TRACTOR_SECRET. Without either, Run draws a random
// secret, so only the tree's own processes can connect. The secret is the
// tree's: given to a nursery or an actor, Secret changes nothing. It is at
// most [spawnproc.MaxSecret] bytes (4063): Run refuses a longer one with
// an error matching [ErrMisuse]. A process actor is handed it through an inherited pipe,
// never its environment or command line, and TRACTOR_SECRET is not passed
// on to it.
func Secret(secret string) Option { return optionFunc(func(c *config) { c.secret = secret }) }

// TLS encrypts connections between the processes of the tree with
// crypto/tls. One config serves both sides, so it holds the certificate
// (Certificates), the authorities that sign peers' certificates (RootCAs,
// and ClientCAs with ClientAuth for mutual TLS); a dialer checks the
// listener's certificate against the host it dials. A *tls.Config cannot
// travel to a process actor: give the option to Run in main, which a
// process actor runs too, and the child uses its own. TLS comes on top of
// the secret's challenge, which it does not replace.
func TLS(cfg *tls.Config) Option { return optionFunc(func(c *config) { c.tls = cfg }) }

// PeerNetwork makes the actors of this program reach those of others, and
// accept them, over nw as well as TCP, such as NATS subjects (package
// natsnet), so that programs that cannot connect to one another directly
// still call, stream and open contexts through servers both reach. The
// peer listener opens on nw, at [ListenAddr] if that is one of nw's
// addresses ("nats:tractor.registrar") or at a fresh one; a [Registrar]
// address, and those the registrar hands out, are dialled over nw when
// they have its scheme and over TCP otherwise. The tree's [Secret]
// authenticates peers as on TCP; [TLS] is TCP's, and nw secures itself
// (NATS with its own TLS and credentials). Like TLS, nw cannot travel to a
// process actor: give the option to Run in main, which a process actor
// runs too, and the child listens on its own nw; a child whose main does
// not is refused as it starts, and an address of a network the program
// has none for fails at once, with errors matching [ErrNoPeerNetwork].
func PeerNetwork(nw transport.Network) Option { return optionFunc(func(c *config) { c.peers = nw }) }

// BeforeCancel sets a function that a nursery calls before it cancels a
// child (because the nursery was cancelled or a sibling failed), once per
// child; the cancellation waits until it returns, so it must honour ctx.
// Debuggers use it to hold supervision back while a child owns the
// terminal (debuglock's Enable). f reports whether it held the
// cancellation back (it waited for something that has let go since).
// The cancel ladder asks f too, before it terminates a process child
// that did not acknowledge a request to end (a cancellation, or the end
// of a one-shot) within [CancelTimeout]: while f held it back, the child
// gets its cancel timeout anew and f is asked again, so a child that
// takes the terminal as it ends is not killed at its prompt; an f that
// returns false at once leaves the ladder's timing as it is. Children in
// this process inherit it; a process actor takes it from its own Run or
// ServeIfChild options. A nil f removes the hook.
func BeforeCancel(f func(ctx context.Context, child ActorID) (held bool)) Option {
	return optionFunc(func(c *config) { c.beforeCancel = f })
}

// OnTaskError sets a function called in the actor when one of its tasks
// fails (returns an error other than its cancellation, or panics), before
// the error goes to the caller: f gets the task's ctx, the endpoint's
// name, the error and, for a panic, the panicking stack (else the
// failing task's). f runs once per failure, on the task's goroutine; for
// a panic it runs inside the deferred call that recovers it, before the
// stack unwinds, so the panicking frames are still there (for a debugger
// to attach to, and at the top of runtime.Callers below the runtime's
// panic frames). The error propagates once f returns. Post-mortem
// debuggers use it (debuglock's PostMortem). Inherited like BeforeCancel;
// a nil f removes the hook.
func OnTaskError(f func(ctx context.Context, endpoint string, err error, stack []byte)) Option {
	return optionFunc(func(c *config) { c.onTaskError = f })
}
