package tractor

import (
	"hash/fnv"

	"github.com/tractor-go/tractor/transport"
)

// InjectFaults is a testing option: the connection to each actor started
// under it (and, inherited, to each actor below those) passes through
// transport's fault wrappers, which inject f's faults into what it carries
// both ways (see [transport.Faults]). To a process actor, the byte stream
// under the wire codec carries every fault, handshake included, and
// IgnoreCredit applies to its messages; to a goroutine actor, the
// in-memory connection that its streams and context dialogs use carries
// Delay, IgnoreCredit and DisconnectAfter (calls to a goroutine actor run
// inline and pass through no connection). Each connection draws its
// decisions from f.Seed and the child's name, so that a tree whose actors
// have distinct names replays the same faults. f.Log is process-local: a
// process actor's connections to its own children log nothing.
//
// It is meant for tests of how a tree copes with a link that misbehaves;
// the runtime adds nothing to a connection without it.
func InjectFaults(f transport.Faults) Option {
	return optionFunc(func(c *config) {
		if !f.Active() {
			c.faults = nil
			return
		}
		c.faults = &f
	})
}

// faultsFor returns the faults of the connection to the child named name,
// its seed drawn from f's and the name; nil without faults.
func faultsFor(f *transport.Faults, name string) *transport.Faults {
	if f == nil {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	g := *f
	g.Seed ^= h.Sum64()
	return &g
}
