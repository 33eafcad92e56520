package pubsub

import "context"

// Clients returns how many shared dialogs the publisher's subscribing side
// holds in this process.
func (p *Publisher[T]) Clients() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.clients)
}

// HoldSetup takes the setup of the dialog sub shares, as a Subscribe, a
// SetTopics or a Close in progress would, until release is called.
func HoldSetup[T any](sub *Subscription[T]) (release func()) {
	sub.cl.lock(context.Background())
	return sub.cl.unlock
}
