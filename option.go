package tractor

import (
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/tractor-go/tractor/spawnproc"
)

// Option configures [Run], [OpenNursery], [Nursery.StartActor] or
// [Nursery.RunInActor]. Options given to Run or to a nursery are inherited
// by the actors started below them; an option given to one actor applies to
// that actor and is inherited by its own nurseries.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Hosting says where an actor runs.
type Hosting uint8

const (
	// Goroutine hosts an actor in the parent's process, as goroutines
	// reached over an in-memory connection. It is the default.
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
	logLevel      zerolog.Level
	logOutput     io.Writer
	cancelTimeout time.Duration
	window        int
	wire          Wire
	bindAddr      string
	binary        string
}

// defaultConfig is the configuration of a root actor before options.
func defaultConfig() config {
	return config{
		name:          "root",
		logLevel:      zerolog.WarnLevel,
		logOutput:     os.Stderr,
		cancelTimeout: 500 * time.Millisecond,
		window:        defaultWindow,
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
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// Name names the root actor started by [Run] (default "root").
func Name(name string) Option { return optionFunc(func(c *config) { c.name = name }) }

// Expose lists the endpoints an actor serves. An actor refuses a call to any
// other endpoint with an error matching [ErrNotExposed], naming endpoint and
// actor, and keeps serving.
func Expose(endpoints ...Endpoint) Option {
	return optionFunc(func(c *config) { c.expose = append(c.expose[:len(c.expose):len(c.expose)], endpoints...) })
}

// Spawn chooses where actors run (default [Goroutine]). Given to Run or a
// nursery it applies to every actor below; a process actor's own nurseries
// inherit it.
func Spawn(h Hosting) Option { return optionFunc(func(c *config) { c.hosting = h }) }

// LogLevel sets the level of the runtime's logs (default warn, so a healthy
// tree is quiet). Children inherit it.
func LogLevel(l zerolog.Level) Option { return optionFunc(func(c *config) { c.logLevel = l }) }

// LogOutput sets where the runtime's logs go (default os.Stderr). Children
// in the same process inherit it.
func LogOutput(w io.Writer) Option { return optionFunc(func(c *config) { c.logOutput = w }) }

// CancelTimeout bounds how long a cancellation waits for its
// acknowledgement before the runtime reports the actor as slow (default
// 500ms, tractor's Portal.cancel_timeout). Children inherit it.
func CancelTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.cancelTimeout = d })
}

// Transport chooses how the runtime reaches process actors (default
// [Pipe]). It is inherited like [Spawn].
func Transport(w Wire) Option { return optionFunc(func(c *config) { c.wire = w }) }

// BindAddr sets the host a parent listens on for [TCP] children (default
// "127.0.0.1": loopback only), as "host:port"; the port is ignored, each
// child dials back to a fresh one.
func BindAddr(addr string) Option { return optionFunc(func(c *config) { c.bindAddr = addr }) }

// Binary names the executable run for process actors (default: this
// program's own). It must be built with this library and call [Run] or
// [ServeIfChild] first in main, and must declare the same endpoints.
func Binary(path string) Option { return optionFunc(func(c *config) { c.binary = path }) }
