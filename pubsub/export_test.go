package pubsub

// Clients returns how many shared dialogs the publisher's subscribing side
// holds in this process.
func (p *Publisher[T]) Clients() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.clients)
}
