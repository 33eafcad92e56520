// Package pubsub publishes values by topic from one producer to many
// subscribers across actors (tractor's @msg.pub).
//
// A [Publisher] is an endpoint: expose it ([Publisher.Endpoint]) in the
// actor that publishes. A subscriber in any actor, on any hosting, opens a
// [Subscription] naming the topics it wants and receives, in order, every
// value published on them from then on. One producer task per publisher
// and key serves every subscriber: the first subscription starts it, the
// last one leaving stops it. The key defaults to the publisher's name, so
// two publishers of one actor never share a producer.
//
// All the subscriptions of one actor to one publisher share a single
// dialog: each value crosses a connection, and is encoded, once, however
// many local subscribers want it. Each subscriber has a window: one that
// falls further behind loses the oldest values and is told how many with
// a [*tractor.LaggedError], so a slow subscriber never holds back the
// producer or the others.
package pubsub

import (
	"context"
	"fmt"
	"sync"

	"github.com/tractor-go/tractor"
)

// DefaultWindow is how many values a subscriber may fall behind before it
// loses the oldest, unless [Window] says otherwise.
const DefaultWindow = 1024

// Message is one published value with its topic.
type Message[T any] struct {
	Topic string
	Value T
}

// Publisher is a topic publisher: an endpoint whose producer publishes
// values of type T by topic. Declare it at package level with [Publish],
// as endpoints are.
type Publisher[T any] struct {
	name    string
	produce func(ctx context.Context, f *Feed[T]) error
	ep      *tractor.CtxEndpoint[request, bool]

	mu      sync.Mutex
	feeds   map[feedKey]*Feed[T]     // publishing side: running producers
	clients map[clientKey]*client[T] // subscribing side: shared dialogs
}

// feedKey names one producer: the publishing actor and the key.
type feedKey struct{ actor, key string }

// clientKey names one shared dialog: the subscribing actor, the publishing
// actor and the key.
type clientKey struct{ local, remote, key string }

// request opens a subscription dialog.
type request struct {
	Key    string
	Topics []string
	Window int
}

// update is what a subscribing actor sends its publisher: the topics its
// subscriptions now want, and, with Join > 0, that a new subscription
// joins the dialog and waits for the publisher to take it.
type update struct {
	Topics []string
	Join   int
}

// frame is one thing a publisher tells a subscribing actor: a value; with
// Lost > 0, how many values of Topic it had to drop for that actor; with
// Ack > 0, that it took the actor's join numbered Ack.
type frame[T any] struct {
	Topic string
	Value T
	Lost  int
	Ack   int
}

// batch is what a publisher sends a subscribing actor as one stream item:
// frames in the order a publisher queues them, loss notices (LostTopics[i]
// lost Lost[i] values), then values (Values[i] on Topics[i]), then, if Ack
// > 0, the acknowledgement of a join. Parallel slices rather than a slice
// of frames keep the encoding free of field names and zeros: a value costs
// its topic and itself.
//
// Frames go in batches of what queued up while the last batch was sent,
// so that the costs of a stream item (its credit, the wake-up of the
// receiving goroutine, the subscribing actor's lock) are paid once a batch
// rather than once a value; a lone value still goes at once, as a batch of
// one. The subscribing actor hands the frames out one by one, as if each
// had come alone.
type batch[T any] struct {
	LostTopics []string
	Lost       []int
	Topics     []string
	Values     []T
	Ack        int
}

// maxBatch bounds how many frames a batch holds, which keeps a batch of
// small values well under the stream's byte window and frame limit.
const maxBatch = 256

// halves splits b's values in two batches, in order: the first with b's
// loss notices, the second with its acknowledgement.
func (b batch[T]) halves() (first, second batch[T]) {
	h := len(b.Values) / 2
	first = batch[T]{LostTopics: b.LostTopics, Lost: b.Lost, Topics: b.Topics[:h:h], Values: b.Values[:h:h]}
	second = batch[T]{LostTopics: []string{}, Lost: []int{}, Topics: b.Topics[h:], Values: b.Values[h:], Ack: b.Ack}
	return first, second
}

// appendFrames appends b's frames to out, in their order, and reports
// whether b was well formed (as many topics as values and as losses).
func (b *batch[T]) appendFrames(out []frame[T]) ([]frame[T], bool) {
	if len(b.LostTopics) != len(b.Lost) || len(b.Topics) != len(b.Values) {
		return out, false
	}
	for i, t := range b.LostTopics {
		out = append(out, frame[T]{Topic: t, Lost: b.Lost[i]})
	}
	for i, t := range b.Topics {
		out = append(out, frame[T]{Topic: t, Value: b.Values[i]})
	}
	if b.Ack > 0 {
		out = append(out, frame[T]{Ack: b.Ack})
	}
	return out, true
}

// Hooks, set by tests: testHookProducerDone runs in a publisher's dialog
// task once it has seen its producer return, before its final frames go
// out; testHookJoin runs in the publisher once it has judged a join;
// testHookTopicsSend runs just before a subscribing actor sends its
// topics, as a sending goroutine that a loaded machine schedules late.
var (
	testHookProducerDone func()
	testHookJoin         func(accepted bool)
	testHookTopicsSend   func()
)

// Publish declares a publisher named name (its endpoint's name). produce
// runs once per key while the key has subscribers, in the publishing
// actor; it publishes with [Feed.Publish], may follow the topics wanted
// with [Feed.Topics] and [Feed.Changed], and must return once ctx ends
// (the last subscriber left, or the actor is ending). Its error, or panic
// (matching [tractor.ErrPanic]), reaches every subscriber as a
// [*tractor.RemoteError]; returning nil ends
// every subscription (io.EOF) after the values already published. Publish
// panics if the name is taken or produce is nil.
func Publish[T any](name string, produce func(ctx context.Context, f *Feed[T]) error) *Publisher[T] {
	if produce == nil {
		panic(fmt.Sprintf("pubsub: Publish(%q): nil produce function", name))
	}
	p := &Publisher[T]{
		name:    name,
		produce: produce,
		feeds:   make(map[feedKey]*Feed[T]),
		clients: make(map[clientKey]*client[T]),
	}
	p.ep = tractor.Ctx(name, p.serve)
	return p
}

// Name returns the publisher's name.
func (p *Publisher[T]) Name() string { return p.name }

// Endpoint returns the endpoint to expose in the publishing actor.
func (p *Publisher[T]) Endpoint() tractor.Endpoint { return p.ep }

// Option configures a subscription.
type Option func(*options)

type options struct {
	key    string
	window int
}

// Key chooses which producer of the publisher to subscribe to (default:
// the publisher's name). Subscriptions with the same key share one
// producer; its function learns the key from [Feed.Key].
func Key(key string) Option { return func(o *options) { o.key = key } }

// Window sets how many values the subscription may fall behind before it
// loses the oldest (default [DefaultWindow]). The queue grows as the
// subscription falls behind, so a large window costs memory only when
// used. Window panics if n is not positive.
func Window(n int) Option {
	if n <= 0 {
		panic(fmt.Sprintf("pubsub: Window(%d): the window must be positive", n))
	}
	return func(o *options) { o.window = n }
}
