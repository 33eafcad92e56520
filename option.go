package tractor

import (
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
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
)

func (h Hosting) String() string {
	switch h {
	case Goroutine:
		return "goroutine"
	}
	return "hosting(?)"
}

// config is the resolved set of options for one actor or nursery.
type config struct {
	name          string
	expose        []Endpoint
	hosting       Hosting
	logLevel      zerolog.Level
	logOutput     io.Writer
	cancelTimeout time.Duration
	window        int
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

// Spawn chooses where actors run (default [Goroutine]).
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
