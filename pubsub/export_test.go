package pubsub

import (
	"context"
	"time"
)

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

// Lost returns how many values the feed dropped for its subscribing actors
// and has not yet reported to them.
func Lost[T any](f *Feed[T]) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, o := range f.outs {
		for _, k := range o.lost {
			n += k
		}
	}
	return n
}

// Producing reports whether the publisher runs a producer of key for the
// actor with uid in this process: from the first subscription until the
// producer has returned and its last subscribing actor's task has left.
func Producing[T any](p *Publisher[T], uid, key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.feeds[feedKey{actor: uid, key: key}] != nil
}

// SetProducerDoneHook makes f run in every dialog task of a publisher once
// it has seen its producer return, before its final frames go out: a
// dialog whose teardown a loaded machine delays. restore removes it.
func SetProducerDoneHook(f func()) (restore func()) {
	testHookProducerDone = f
	return func() { testHookProducerDone = nil }
}

// SetJoinHook makes f run in the publisher once it has taken (accepted)
// or refused a subscription joining a shared dialog. restore removes it.
func SetJoinHook(f func(accepted bool)) (restore func()) {
	testHookJoin = f
	return func() { testHookJoin = nil }
}

// SetTopicsSendHook makes f run just before a subscribing actor sends its
// publisher its topics, as a sending goroutine that a loaded machine
// schedules late would. restore removes it.
func SetTopicsSendHook(f func()) (restore func()) {
	testHookTopicsSend = f
	return func() { testHookTopicsSend = nil }
}

// SetCloseTimeout sets how long Close waits for the publisher, so that a
// test can pass it quickly. restore puts the default back.
func SetCloseTimeout(d time.Duration) (restore func()) {
	old := closeTimeout
	closeTimeout = d
	return func() { closeTimeout = old }
}
