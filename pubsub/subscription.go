package pubsub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tractor-go/tractor"
)

// closeTimeout bounds how long the last subscription of an actor waits for
// the publisher's task to end when it leaves. A task still running then is
// cancelled, and its acknowledgement waited for up to the actor's
// CancelTimeout: a Close returns within the sum of the two.
var closeTimeout = 5 * time.Second

// client is the dialog that every subscription of one actor to one
// publisher and key shares. It runs no goroutine: a subscription whose
// queue is empty pulls the next frame and hands it to every subscription
// of its topic, while the others wait.
type client[T any] struct {
	p *Publisher[T]
	k clientKey

	// setup is held (a token in it) while the dialog opens, while topics
	// are sent, and while the last subscription closes it: a channel, so
	// that a Subscribe or SetTopics waiting for it honours its ctx.
	setup  chan struct{}
	c      *tractor.Context
	s      *tractor.MsgStream[update, batch[T]]
	cancel context.CancelFunc
	sent   []string // the topics the publisher was last told
	joins  int      // how many joins were sent

	mu      sync.Mutex
	subs    map[*Subscription[T]]struct{}
	byTopic map[string][]*Subscription[T] // subs, indexed for dispatch
	closed  bool                          // the last subscription left; the client is retired
	acked   int                           // the last join the publisher acknowledged
	pulling bool
	end     error
	// pending[next:] are the frames of the last batch pulled not yet
	// handed out: a pull hands out one frame, as if each came alone.
	pending []frame[T]
	next    int
	wake    chan struct{}
	waiting bool // someone waits on wake
}

// Subscription receives what a publisher publishes on its topics.
// Receive is meant for one goroutine; Close and SetTopics may be called
// from another.
type Subscription[T any] struct {
	cl *client[T]

	// Guarded by cl.mu.
	topics map[string]bool
	queue  ring[entry[T]]
	lost   int // lost before the oldest entry of queue
	closed bool
	// stopPull, while this subscription pulls for all, cancels that pull:
	// Close calls it so that a Receive it interrupts returns at once
	// rather than at the publisher's next frame, however far off.
	stopPull context.CancelFunc
}

// entry is a queued message or, with lost > 0, the publisher's notice
// that it dropped that many values of the topic for this actor at this
// point: a subscription that still holds older messages learns of the loss
// after them, where it happened.
type entry[T any] struct {
	m    Message[T]
	lost int
}

// Subscribe subscribes to topics of the publisher served by the actor
// behind portal. The first subscription of this actor to that publisher
// and key opens the dialog that the later ones share; it returns once the
// publisher has taken the subscription, so every value published after
// that on topics reaches it.
func (p *Publisher[T]) Subscribe(ctx context.Context, portal *tractor.Portal, topics []string, opts ...Option) (*Subscription[T], error) {
	mustCtx("Subscribe", ctx)
	if portal == nil {
		panic(fmt.Sprintf("pubsub: Subscribe to %q: nil *tractor.Portal", p.name))
	}
	o := options{key: p.name, window: DefaultWindow}
	for _, opt := range opts {
		opt(&o)
	}
	if o.window <= 0 {
		o.window = DefaultWindow
	}
	a := tractor.CurrentActor(ctx)
	if a == nil {
		return nil, tractor.ErrNoActor
	}
	k := clientKey{local: a.ID().UID, remote: portal.Actor().UID, key: o.key}
	for {
		p.mu.Lock()
		cl := p.clients[k]
		if cl == nil {
			cl = &client[T]{p: p, k: k, setup: make(chan struct{}, 1), subs: make(map[*Subscription[T]]struct{}),
				byTopic: make(map[string][]*Subscription[T]), wake: make(chan struct{})}
			p.clients[k] = cl
		}
		p.mu.Unlock()

		if err := cl.lock(ctx); err != nil {
			return nil, fmt.Errorf("pubsub: subscribe to %q of actor %s: %w", p.name, portal.Actor(), err)
		}
		cl.mu.Lock()
		retired := cl.closed || cl.end != nil
		cl.mu.Unlock()
		if retired {
			// Its last subscription left, or its stream ended: a new
			// subscription needs a new dialog.
			cl.unlock()
			p.retire(cl)
			continue
		}
		joined := cl.s != nil
		if !joined {
			if err := cl.open(ctx, portal, o, topics); err != nil {
				cl.mu.Lock()
				cl.closed = true
				cl.mu.Unlock()
				cl.unlock()
				p.retire(cl)
				return nil, fmt.Errorf("pubsub: subscribe to %q of actor %s: %w", p.name, portal.Actor(), err)
			}
		}
		sub := &Subscription[T]{cl: cl, topics: make(map[string]bool), queue: ring[entry[T]]{max: o.window}}
		for _, t := range topics {
			sub.topics[t] = true
		}
		cl.mu.Lock()
		cl.subs[sub] = struct{}{}
		cl.indexLocked()
		cl.mu.Unlock()
		// Joining a dialog, tell the publisher even an unchanged union,
		// and wait until it takes the join: it refuses it once its
		// producer has returned (the others have not read to the end
		// yet), and the dialog ends without a word for it; the send
		// fails if the dialog has already ended unseen. Then this
		// subscription needs a new dialog and a new producer.
		n, err := cl.syncTopics(ctx, joined)
		if err == nil && joined {
			err = cl.awaitJoin(ctx, n)
		}
		cl.unlock()
		if err != nil {
			sub.Close()
			if joined && ctx.Err() == nil {
				p.retire(cl)
				continue
			}
			return nil, fmt.Errorf("pubsub: subscribe to %q of actor %s: %w", p.name, portal.Actor(), err)
		}
		return sub, nil
	}
}

// mustCtx panics, naming the call, if ctx is nil: a programmer's error,
// reported where it was made rather than as a nil dereference.
func mustCtx(call string, ctx context.Context) {
	if ctx == nil {
		panic("pubsub: " + call + ": nil context.Context")
	}
}

// lock takes cl's setup, or gives up with ctx's error.
func (cl *client[T]) lock(ctx context.Context) error {
	select {
	case cl.setup <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (cl *client[T]) unlock() { <-cl.setup }

// retire forgets cl, if it is still the actor's client.
func (p *Publisher[T]) retire(cl *client[T]) {
	p.mu.Lock()
	if p.clients[cl.k] == cl {
		delete(p.clients, cl.k)
	}
	p.mu.Unlock()
}

// open starts the shared dialog. Its lifetime is the client's, not the
// ctx of the subscription that happens to open it.
func (cl *client[T]) open(ctx context.Context, portal *tractor.Portal, o options, topics []string) error {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c, err := cl.p.ep.Open(dctx, portal, request{Key: o.key, Topics: topics, Window: o.window})
	if err == nil {
		// Stop opening if the subscriber's own ctx ends meanwhile.
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		cl.s, err = tractor.OpenStream[update, batch[T]](c)
	}
	if err != nil {
		cancel()
		return err
	}
	cl.c, cl.cancel, cl.sent = c, cancel, slices.Clone(topics)
	// The dialog outlives the ctx that opened it but not its connection:
	// when it ends (the subscribing actor ended without Close and its
	// connections closed, the publisher failed or went away), forget the
	// client, so that p.clients holds no dead entry and the next
	// Subscribe opens a new dialog.
	context.AfterFunc(c, func() { cl.p.retire(cl) })
	return nil
}

// errRefused says that the shared dialog ended before its publisher took
// a join: its producer had returned.
var errRefused = errors.New("the shared dialog ended before the publisher took the subscription")

// syncTopics tells the publisher the union of the subscriptions' topics,
// if it changed or a subscription joins: then it returns the number of
// the join, which the publisher acknowledges ([client.awaitJoin]). setup
// is held.
func (cl *client[T]) syncTopics(ctx context.Context, join bool) (int, error) {
	cl.mu.Lock()
	set := make(map[string]bool)
	for sub := range cl.subs {
		for t := range sub.topics {
			set[t] = true
		}
	}
	cl.mu.Unlock()
	union := make([]string, 0, len(set))
	for t := range set {
		union = append(union, t)
	}
	slices.Sort(union)
	sent := slices.Sorted(slices.Values(cl.sent))
	if !join && slices.Equal(union, sent) {
		return 0, nil
	}
	u := update{Topics: union}
	if join {
		cl.joins++
		u.Join = cl.joins
	}
	if testHookTopicsSend != nil {
		testHookTopicsSend()
	}
	if err := cl.s.Send(ctx, u); err != nil {
		return 0, err
	}
	cl.sent = union
	return u.Join, nil
}

// awaitJoin waits until the publisher acknowledges join n, pulling the
// shared dialog if no subscription is: it returns errRefused if the
// dialog ends first, and ctx's error if ctx ends first. A frame that is no
// T, pulled here, is lost without a subscription hearing of it.
func (cl *client[T]) awaitJoin(ctx context.Context, n int) error {
	for {
		cl.mu.Lock()
		switch {
		case cl.acked >= n:
			cl.mu.Unlock()
			return nil
		case cl.end != nil:
			cl.mu.Unlock()
			return errRefused
		case !cl.pulling:
			if err := cl.pullLocked(ctx, nil); err != nil && !errors.Is(err, tractor.ErrBadArgument) {
				return err
			}
		default:
			if err := cl.waitLocked(ctx); err != nil {
				return err
			}
		}
	}
}

// waitLocked releases cl.mu and waits for the next frame handed out, the
// dialog's end or a change of pullers, or returns ctx's error if ctx
// ends first.
func (cl *client[T]) waitLocked(ctx context.Context) error {
	wake := cl.wake
	cl.waiting = true
	cl.mu.Unlock()
	select {
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errInterrupted says that Close interrupted a subscription's pull.
var errInterrupted = errors.New("pull interrupted by Close")

// pullLocked takes the next frame, from the batch last pulled or else the
// next batch of the shared dialog, and hands it to the subscriptions, or
// records the dialog's end in cl.end. The caller holds cl.mu, released on
// return, and no one else pulls. s, if not nil, is the subscription
// pulling, whose Close interrupts the pull. It returns ctx's error if ctx
// ended first, errInterrupted if Close interrupted it, and an error
// matching [tractor.ErrBadArgument] for a batch whose values are no T:
// that batch is lost, the stream goes on.
func (cl *client[T]) pullLocked(ctx context.Context, s *Subscription[T]) error {
	if cl.next < len(cl.pending) {
		cl.handOutLocked()
		cl.wakeLocked()
		cl.mu.Unlock()
		return nil
	}
	cl.pulling = true
	pctx, stop := context.WithCancel(ctx)
	if s != nil {
		s.stopPull = stop
	}
	cl.mu.Unlock()
	b, err := cl.s.Receive(pctx)
	interrupted := pctx.Err() != nil
	stop()
	cl.mu.Lock()
	cl.pulling = false
	if s != nil {
		s.stopPull = nil
	}
	switch {
	case err == nil:
		var ok bool
		if cl.pending, ok = b.appendFrames(cl.pending[:0]); !ok {
			err = fmt.Errorf("pubsub: a malformed batch from publisher %q: %w", cl.p.name, tractor.ErrBadArgument)
		}
		cl.next = 0
		cl.handOutLocked()
	case ctx.Err() != nil:
		// Only this puller gave up; another pulls next.
		err = ctx.Err()
	case interrupted:
		err = errInterrupted
	case errors.Is(err, tractor.ErrBadArgument):
	default:
		cl.end = err
		err = nil
	}
	ended := cl.end != nil
	cl.wakeLocked()
	cl.mu.Unlock()
	if ended {
		// Its subscriptions drain what they hold; a new one needs a new
		// dialog.
		cl.p.retire(cl)
	}
	return err
}

// handOutLocked hands the next pending frame, if any, to the
// subscriptions.
func (cl *client[T]) handOutLocked() {
	if cl.next < len(cl.pending) {
		fr := cl.pending[cl.next]
		cl.pending[cl.next] = frame[T]{} // let go of its value
		cl.next++
		cl.dispatchLocked(fr)
	}
}

// Receive returns the next message on the subscription's topics. If it
// lost messages since the last Receive (it fell more than its window
// behind) it first returns a [*tractor.LaggedError] saying how many, then
// continues with the oldest kept (unless it lost more meanwhile: each
// LaggedError counts what was lost just before the next message). Once the publisher's producer has
// returned, Receive returns io.EOF after the messages kept, or the
// producer's error as a [*tractor.RemoteError]; after Close, an error
// matching [tractor.ErrStreamClosed]; if ctx ends first, ctx's error.
func (s *Subscription[T]) Receive(ctx context.Context) (Message[T], error) {
	mustCtx("Receive", ctx)
	cl := s.cl
	for {
		cl.mu.Lock()
		switch {
		case s.closed:
			cl.mu.Unlock()
			return Message[T]{}, fmt.Errorf("pubsub: Receive on a closed subscription: %w", tractor.ErrStreamClosed)
		case s.lost > 0:
			lost := s.lost
			s.lost = 0
			cl.mu.Unlock()
			return Message[T]{}, &tractor.LaggedError{Missed: lost}
		case s.queue.len() > 0:
			e, _ := s.queue.pop()
			cl.mu.Unlock()
			if e.lost > 0 {
				return Message[T]{}, &tractor.LaggedError{Missed: e.lost}
			}
			return e.m, nil
		case cl.end != nil:
			cl.mu.Unlock()
			return Message[T]{}, cl.end
		case !cl.pulling:
			// Closed while pulling (errInterrupted), this Receive
			// returns as closed: the loop's first case.
			if err := cl.pullLocked(ctx, s); err != nil && err != errInterrupted {
				return Message[T]{}, err
			}
		default:
			if err := cl.waitLocked(ctx); err != nil {
				return Message[T]{}, err
			}
		}
	}
}

// dispatchLocked hands a frame to every subscription of its topic. A
// loss notice is queued behind the messages a subscription still holds,
// so that its LaggedError comes where the values went missing; a message
// or notice dropped from a full queue counts before the oldest kept.
func (cl *client[T]) dispatchLocked(fr frame[T]) {
	if fr.Ack > 0 {
		cl.acked = max(cl.acked, fr.Ack)
		return
	}
	for _, sub := range cl.byTopic[fr.Topic] {
		if fr.Lost > 0 && sub.queue.len() == 0 {
			sub.lost += fr.Lost
			continue
		}
		old, dropped := sub.queue.push(entry[T]{m: Message[T]{Topic: fr.Topic, Value: fr.Value}, lost: fr.Lost})
		switch {
		case !dropped:
		case old.lost > 0:
			sub.lost += old.lost
		default:
			sub.lost++
		}
	}
}

// indexLocked rebuilds the index of subscriptions by topic.
func (cl *client[T]) indexLocked() {
	clear(cl.byTopic)
	for sub := range cl.subs {
		for t := range sub.topics {
			cl.byTopic[t] = append(cl.byTopic[t], sub)
		}
	}
}

// wakeLocked wakes whoever waits for a frame handed out or a change of
// pullers; with no one waiting it costs nothing.
func (cl *client[T]) wakeLocked() {
	if !cl.waiting {
		return
	}
	close(cl.wake)
	cl.wake = make(chan struct{})
	cl.waiting = false
}

// SetTopics replaces the subscription's topics on the live stream: from
// its return, Receive returns only messages of the new topics, and the
// publisher sends this actor what its subscriptions now want.
func (s *Subscription[T]) SetTopics(ctx context.Context, topics ...string) error {
	mustCtx("SetTopics", ctx)
	cl := s.cl
	if err := cl.lock(ctx); err != nil {
		return fmt.Errorf("pubsub: SetTopics: %w", err)
	}
	defer cl.unlock()
	cl.mu.Lock()
	if s.closed {
		cl.mu.Unlock()
		return fmt.Errorf("pubsub: SetTopics on a closed subscription: %w", tractor.ErrStreamClosed)
	}
	clear(s.topics)
	for _, t := range topics {
		s.topics[t] = true
	}
	s.queue.keep(func(e entry[T]) bool { return s.topics[e.m.Topic] })
	cl.indexLocked()
	cl.mu.Unlock()
	_, err := cl.syncTopics(ctx, false)
	return err
}

// Close ends the subscription; a Receive of it waiting in another
// goroutine returns an error matching [tractor.ErrStreamClosed], even one
// pulling the shared dialog for the others. The last subscription of an
// actor to a publisher closes their shared dialog and waits, within a
// bound (5 s, then the actor's [tractor.CancelTimeout] for the task's
// cancellation), for the publisher's task to end; the last subscriber of
// a producer stops it. Close is idempotent.
func (s *Subscription[T]) Close() error {
	cl := s.cl
	_ = cl.lock(context.Background())
	cl.mu.Lock()
	if s.closed {
		cl.mu.Unlock()
		cl.unlock()
		return nil
	}
	s.closed = true
	if s.stopPull != nil {
		s.stopPull()
	}
	s.queue.reset()
	delete(cl.subs, s)
	cl.indexLocked()
	last := len(cl.subs) == 0
	if last {
		cl.closed = true
	}
	ended := cl.end != nil
	cl.wakeLocked()
	cl.mu.Unlock()
	if !last {
		if ended {
			cl.unlock()
			return nil
		}
		cl.leave()
		return nil
	}
	defer cl.unlock()
	cl.p.retire(cl)
	cl.s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_, _ = cl.p.ep.Result(ctx, cl.c) // the publisher's task has ended
	cl.cancel()
	return nil
}

// leave tells the publisher the topics left once a subscription, not the
// last, has closed, and releases setup. No deadline decides whether the
// update is sent, or the publisher would go on sending the closed
// subscription's topics for as long as the dialog lasts: it is sent
// under the dialog's own context, which ends with the dialog (its
// connection's end included), and closeTimeout bounds only how long
// Close waits for it. The sending goroutine holds setup until it has
// sent, so whoever takes setup next (a Subscribe, a SetTopics, the last
// Close, which ends the dialog) waits for it.
func (cl *client[T]) leave() {
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		defer cl.unlock()
		_, _ = cl.syncTopics(cl.c, false)
	}()
	t := time.NewTimer(closeTimeout)
	defer t.Stop()
	select {
	case <-sent:
	case <-t.C:
	}
}
