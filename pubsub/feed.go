package pubsub

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/tractor-go/tractor"
)

// Feed is a producer's side of a publisher: one per key, shared by every
// subscribing actor.
type Feed[T any] struct {
	key string

	mu      sync.Mutex
	outs    []*outbox[T]   // a slice: Publish ranges over it for every value
	topics  map[string]int // how many subscribing actors want each topic
	changed chan struct{}  // closed, and replaced, when topics change

	cancel context.CancelFunc
	done   chan struct{} // closed when the producer has returned
	err    error         // what it returned, once done is closed
}

// outbox holds what the producer published for one subscribing actor
// until that actor's dialog task sends it: at most window values, the
// oldest dropped (and counted by topic) beyond.
type outbox[T any] struct {
	topics map[string]bool // guarded by the feed's mu, like the rest
	queue  ring[published[T]]
	lost   map[string]int
	ack    int           // the subscribing actor's last join taken, to acknowledge
	wake   chan struct{} // one pending wake-up for the dialog task
}

// published is a value queued in an outbox.
type published[T any] struct {
	topic string
	value T
}

// Key returns the key the producer serves.
func (f *Feed[T]) Key() string { return f.key }

// Topics returns the topics at least one subscriber wants, sorted.
func (f *Feed[T]) Topics() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.topics))
}

// Subscribers returns how many actors subscribe: several subscriptions of
// one actor count once, as they share one dialog and get each value once.
func (f *Feed[T]) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.outs)
}

// Changed returns a channel closed at the next change of [Feed.Topics] or
// of [Feed.Subscribers].
func (f *Feed[T]) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// Publish hands v to every subscriber of topic and returns how many
// subscribing actors it reached. It never blocks: a subscriber that falls
// more than its window behind loses its oldest values instead.
func (f *Feed[T]) Publish(topic string, v T) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, o := range f.outs {
		if !o.topics[topic] {
			continue
		}
		if o.queue.len() == o.queue.max {
			oldest, _ := o.queue.pop()
			o.lost[oldest.topic]++
		}
		o.queue.push(published[T]{topic, v})
		select {
		case o.wake <- struct{}{}:
		default:
		}
		n++
	}
	return n
}

// changedLocked tells the producer that the topics changed.
func (f *Feed[T]) changedLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// setTopics replaces what a subscribing actor wants. The same set again
// (a subscribing actor checks its dialog so) changes nothing and tells
// the producer nothing.
func (f *Feed[T]) setTopics(o *outbox[T], topics []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	same := len(topics) == len(o.topics)
	for _, t := range topics {
		same = same && o.topics[t]
	}
	if same {
		return
	}
	f.dropTopicsLocked(o)
	f.addTopicsLocked(o, topics)
	f.changedLocked()
}

func (f *Feed[T]) addTopicsLocked(o *outbox[T], topics []string) {
	for _, t := range topics {
		if !o.topics[t] {
			o.topics[t] = true
			f.topics[t]++
		}
	}
}

func (f *Feed[T]) dropTopicsLocked(o *outbox[T]) {
	for t := range o.topics {
		if f.topics[t]--; f.topics[t] == 0 {
			delete(f.topics, t)
		}
	}
	clear(o.topics)
}

// take returns what is queued for o, a batch's worth: loss notices first,
// then at most maxBatch values, then, once no value is left queued before
// it, the acknowledgement of a join; ok is false if nothing is queued.
// more says that values are left, which stay in o's queue, under its
// window, until the next take.
func (f *Feed[T]) take(o *outbox[T]) (b batch[T], ok, more bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o.queue.len() == 0 && len(o.lost) == 0 && o.ack == 0 {
		return b, false, false
	}
	// Fresh slices every time: a goroutine actor's stream hands the
	// subscribing actor these very slices. Empty ones rather than nil,
	// which the type codec leaves to msgpack's reflection.
	b = batch[T]{LostTopics: []string{}, Lost: []int{}, Topics: []string{}, Values: []T{}}
	if len(o.lost) > 0 {
		b.LostTopics = slices.Sorted(maps.Keys(o.lost))
		b.Lost = make([]int, len(b.LostTopics))
		for i, t := range b.LostTopics {
			b.Lost[i] = o.lost[t]
		}
		clear(o.lost)
	}
	if n := min(o.queue.len(), maxBatch); n > 0 {
		b.Topics, b.Values = make([]string, n), make([]T, n)
		for i := range n {
			p, _ := o.queue.pop()
			b.Topics[i], b.Values[i] = p.topic, p.value
		}
	}
	if o.queue.len() > 0 {
		return b, true, true
	}
	b.Ack, o.ack = o.ack, 0
	return b, true, false
}

// acceptJoin takes join n of a subscribing actor's subscriptions, to be
// acknowledged to it, unless the producer has returned: a subscription
// joining then must start a new producer, not receive the end of this
// one. The check and the acknowledgement are one step under f's lock,
// and the dialog task takes its final frames, after it has seen the
// producer return, under that lock too: a join is either acknowledged
// before the dialog ends or refused.
func (f *Feed[T]) acceptJoin(o *outbox[T], n int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.done:
		return false
	default:
	}
	o.ack = n
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return true
}

// join adds a subscribing actor's outbox to the producer of k, starting it
// if there is none (or the last one has returned).
func (p *Publisher[T]) join(ctx context.Context, k feedKey, o *outbox[T], topics []string) *Feed[T] {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.feeds[k]
	if f != nil {
		select {
		case <-f.done: // it has returned: the next subscriber starts anew
			f = nil
		default:
		}
	}
	if f == nil {
		f = &Feed[T]{key: k.key, topics: make(map[string]int),
			changed: make(chan struct{}), done: make(chan struct{})}
		// The producer outlives the subscriber that started it: its ctx
		// keeps the actor's values but is cancelled only by the last
		// subscriber to leave, which then waits for it.
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f.cancel = cancel
		p.feeds[k] = f
		// The first subscriber is in before the producer starts.
		f.add(o, topics)
		go func() {
			defer close(f.done)
			f.err = p.runProducer(pctx, f)
		}()
		return f
	}
	f.add(o, topics)
	return f
}

func (f *Feed[T]) add(o *outbox[T], topics []string) {
	f.mu.Lock()
	f.outs = append(f.outs, o)
	f.addTopicsLocked(o, topics)
	f.changedLocked()
	f.mu.Unlock()
}

// runProducer runs the producer, turning a panic into its error. That
// error matches [tractor.ErrPanic], so subscribers see the producer's
// panic as they would any actor task's.
func (p *Publisher[T]) runProducer(ctx context.Context, f *Feed[T]) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("pubsub: producer of %q (key %q) panicked: %v: %w", p.name, f.key, v, tractor.ErrPanic)
		}
	}()
	return p.produce(ctx, f)
}

// leave removes a subscribing actor's outbox; the last one to leave stops
// the producer and waits for it.
func (p *Publisher[T]) leave(k feedKey, f *Feed[T], o *outbox[T]) {
	p.mu.Lock()
	f.mu.Lock()
	f.outs = slices.DeleteFunc(f.outs, func(x *outbox[T]) bool { return x == o })
	f.dropTopicsLocked(o)
	f.changedLocked()
	last := len(f.outs) == 0
	f.mu.Unlock()
	if last && p.feeds[k] == f {
		delete(p.feeds, k)
	}
	p.mu.Unlock()
	if last {
		f.cancel()
		<-f.done
	}
}

// serve is the publisher's endpoint: the task serving one subscribing
// actor. It sends what the producer publishes for that actor, and takes
// the actor's topic changes, until the actor unsubscribes (closes its
// side), the producer returns, or the dialog is cancelled.
func (p *Publisher[T]) serve(c *tractor.Context, req request) (bool, error) {
	if req.Window <= 0 {
		req.Window = DefaultWindow
	}
	if req.Key == "" {
		req.Key = p.name
	}
	k := feedKey{actor: tractor.CurrentActor(c).ID().UID, key: req.Key}
	o := &outbox[T]{queue: ring[published[T]]{max: req.Window}, topics: make(map[string]bool), lost: make(map[string]int), wake: make(chan struct{}, 1)}
	f := p.join(c, k, o, req.Topics)
	defer p.leave(k, f, o)
	if err := c.Started(true); err != nil {
		return false, err
	}
	// The stream is not closed here: returning closes it, after the
	// final outcome (a producer's error) if there is one.
	s, err := tractor.OpenStream[batch[T], update](c)
	if err != nil {
		return false, err
	}

	// The subscribing actor's topic changes, until it closes its side.
	var wg sync.WaitGroup
	defer wg.Wait()
	rctx, stop := context.WithCancel(c)
	defer stop()
	unsubscribed := make(chan struct{})
	wg.Go(func() {
		defer close(unsubscribed)
		for {
			u, err := s.Receive(rctx)
			if err != nil {
				return
			}
			f.setTopics(o, u.Topics)
			if u.Join > 0 {
				accepted := f.acceptJoin(o, u.Join)
				if testHookJoin != nil {
					testHookJoin(accepted)
				}
			}
		}
	})

	// send sends a batch, if anything is queued, and says whether more is.
	send := func() (more bool, err error) {
		b, ok, more := f.take(o)
		if !ok {
			return false, nil
		}
		return more, sendBatch(c, s, b)
	}
	for {
		more, err := send()
		if err != nil {
			return false, err
		}
		wake := o.wake
		if more {
			wake = ready // send the next batch, unless the dialog is over
		}
		select {
		case <-wake:
		case <-unsubscribed:
			return true, nil
		case <-f.done:
			if testHookProducerDone != nil {
				testHookProducerDone()
			}
			// What it published before returning still goes out.
			for more := true; more; {
				if more, err = send(); err != nil {
					return false, err
				}
			}
			return false, f.err
		case <-c.Done():
			return false, c.Err()
		}
	}
}

// ready is a channel always ready to receive from.
var ready = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// sendBatch sends b as one stream item or, if it is over the frame limit,
// in halves, down to values sent alone: only a value too large by itself
// fails the dialog, as it would unbatched.
func sendBatch[T any](c *tractor.Context, s *tractor.MsgStream[batch[T], update], b batch[T]) error {
	err := s.Send(c, b)
	if len(b.Values) > 1 && errors.Is(err, tractor.ErrMessageTooLarge) {
		first, second := b.halves()
		if err := sendBatch(c, s, first); err != nil {
			return err
		}
		return sendBatch(c, s, second)
	}
	return err
}
