package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/pubsub"
	"github.com/tractor-go/tractor/tractortest"
)

const testTimeout = 30 * time.Second

// counters count events in the process of the actor that saw them.
var counters sync.Map // string -> *atomic.Int64

// incr counts an event of the actor of ctx.
func incr(ctx context.Context, name string) {
	name = tractor.CurrentActor(ctx).ID().UID + ":" + name
	c, _ := counters.LoadOrStore(name, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)
}

// gauge sets a counter of the actor of ctx to v.
func gauge(ctx context.Context, name string, v int64) {
	name = tractor.CurrentActor(ctx).ID().UID + ":" + name
	c, _ := counters.LoadOrStore(name, new(atomic.Int64))
	c.(*atomic.Int64).Store(v)
}

func load(ctx context.Context, name string) int64 {
	name = tractor.CurrentActor(ctx).ID().UID + ":" + name
	if c, ok := counters.Load(name); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

var (
	// ticker publishes, every millisecond, the next number of each
	// wanted topic: a subscriber sees consecutive numbers per topic.
	ticker = pubsub.Publish("test.ticker", func(ctx context.Context, f *pubsub.Feed[int]) error {
		incr(ctx, "started:"+f.Key())
		defer incr(ctx, "stopped:"+f.Key())
		seq := map[string]int{}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			for _, topic := range f.Topics() {
				f.Publish(topic, seq[topic])
				seq[topic]++
			}
			gauge(ctx, "lost:"+f.Key(), int64(pubsub.Lost(f)))
		}
	})
	// census publishes, on topic "n", how many actors subscribe, each
	// time that changes.
	census = pubsub.Publish("test.census", func(ctx context.Context, f *pubsub.Feed[int]) error {
		for {
			changed := f.Changed()
			f.Publish("n", f.Subscribers())
			select {
			case <-changed:
			case <-ctx.Done():
				return nil
			}
		}
	})
	// other is a second publisher with the default key.
	other = pubsub.Publish("test.other", func(ctx context.Context, f *pubsub.Feed[int]) error {
		incr(ctx, "started:"+f.Key())
		defer incr(ctx, "stopped:"+f.Key())
		<-ctx.Done()
		return nil
	})
	// broken publishes a few values, then fails.
	broken = pubsub.Publish("test.broken", func(ctx context.Context, f *pubsub.Feed[int]) error {
		for i := range 3 {
			f.Publish("a", i)
		}
		return errors.New("producer broke")
	})
	// finite publishes 0..key-1 on every topic wanted when it starts,
	// then returns.
	finite = pubsub.Publish("test.finite", func(ctx context.Context, f *pubsub.Feed[int]) error {
		n, err := strconv.Atoi(f.Key())
		if err != nil {
			return err
		}
		topics := f.Topics()
		for i := range n {
			for _, t := range topics {
				f.Publish(t, i)
			}
		}
		return nil
	})
	// watcher publishes, on topic "topics", the topics its subscribers
	// want, comma-separated, each time they change: what the producer
	// was told.
	watcher = pubsub.Publish("test.watcher", func(ctx context.Context, f *pubsub.Feed[string]) error {
		for {
			changed := f.Changed()
			f.Publish("topics", strings.Join(f.Topics(), ","))
			select {
			case <-changed:
			case <-ctx.Done():
				return nil
			}
		}
	})
	// count reads a counter in the actor's process.
	count = tractor.Func("pubsubtest.count", func(ctx context.Context, name string) (int64, error) {
		return load(ctx, name), nil
	})
	// follow subscribes to topic of the ticker served by the actor named
	// pub, found by name, and checks n consecutive numbers.
	follow = tractor.Func("pubsubtest.follow", func(ctx context.Context, arg followArg) (int, error) {
		p, err := tractor.FindActor(ctx, arg.Pub)
		if err != nil {
			return 0, err
		}
		sub, err := ticker.Subscribe(ctx, p, []string{arg.Topic})
		if err != nil {
			return 0, err
		}
		defer sub.Close()
		if arg.N == 0 { // until cancelled
			incr(ctx, "following")
			for {
				if _, err := sub.Receive(ctx); err != nil {
					return 0, err
				}
			}
		}
		return consecutive(ctx, sub, arg.N, arg.Topic)
	})
	// expectFailure subscribes to broken and returns the error that ends
	// the subscription.
	expectFailure = tractor.Func("pubsubtest.expectFailure", func(ctx context.Context, pub string) (string, error) {
		p, err := tractor.FindActor(ctx, pub)
		if err != nil {
			return "", err
		}
		// The producer may fail before the subscription is in:
		// Subscribe then returns its error.
		sub, err := broken.Subscribe(ctx, p, []string{"a"})
		if err == nil {
			defer sub.Close()
			for err == nil {
				_, err = sub.Receive(ctx)
			}
		}
		var re *tractor.RemoteError
		if errors.As(err, &re) {
			return re.Actor.Name + ": " + re.Message, nil
		}
		return "", err
	})
)

type followArg struct {
	Pub, Topic string
	N          int
}

// consecutive receives n messages and checks they are all of topic and
// consecutive numbers; it returns the last.
func consecutive(ctx context.Context, sub *pubsub.Subscription[int], n int, topics ...string) (int, error) {
	return consecutiveAt(ctx, sub, n, nil, topics...)
}

// consecutiveAt is consecutive that also stores each value received in at,
// if not nil, for the test to see how far it got.
func consecutiveAt(ctx context.Context, sub *pubsub.Subscription[int], n int, at *atomic.Int64, topics ...string) (int, error) {
	last := map[string]int{}
	v := 0
	for i := range n {
		m, err := sub.Receive(ctx)
		if err != nil {
			return 0, fmt.Errorf("message %d: %w", i, err)
		}
		ok := false
		for _, t := range topics {
			ok = ok || m.Topic == t
		}
		if !ok {
			return 0, fmt.Errorf("message %d has topic %q; want one of %v", i, m.Topic, topics)
		}
		if prev, seen := last[m.Topic]; seen && m.Value != prev+1 {
			return 0, fmt.Errorf("topic %q: %d after %d", m.Topic, m.Value, prev)
		}
		last[m.Topic] = m.Value
		v = m.Value
		if at != nil {
			at.Store(int64(v))
		}
	}
	return v, nil
}

type hosting struct {
	name string
	opts []tractor.Option
}

var hostings = []hosting{
	{"goroutine", nil},
	{"process-pipe", []tractor.Option{tractor.Spawn(tractor.Process)}},
	{"process-tcp", []tractor.Option{tractor.Spawn(tractor.Process), tractor.Transport(tractor.TCP)}},
}

// rows returns the rows of hs a test runs: all of them, but under -short
// not process-tcp, which differs from process-pipe only in the wire. The
// short suite still crosses a process.
func rows(hs []hosting) []hosting {
	if !testing.Short() {
		return hs
	}
	var short []hosting
	for _, h := range hs {
		if h.name != "process-tcp" {
			short = append(short, h)
		}
	}
	return short
}

// withPub runs body with an actor "pub" that serves the publishers, hosted
// per h, in a nursery body may add to.
func withPub(t *testing.T, h hosting, body func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	err := tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			pub, err := n.StartActor(ctx, "pub", tractor.Expose(ticker.Endpoint(), other.Endpoint(), broken.Endpoint(), census.Endpoint(), panicky.Endpoint(), finite.Endpoint(), watcher.Endpoint(), huge.Endpoint(), count))
			if err != nil {
				return err
			}
			body(ctx, n, pub)
			return nil
		})
	}, h.opts...)
	if err != nil {
		t.Fatal(err)
	}
}

func countIn(ctx context.Context, t *testing.T, p *tractor.Portal, name string) int64 {
	t.Helper()
	v, err := count.Call(ctx, p, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tractortest.Eventually(t, 10*time.Second, func() error {
		if cond() {
			return nil
		}
		return errors.New(what + ": not yet")
	})
}

func TestPubSub(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			t.Run("order and topics", func(t *testing.T) { testOrderAndTopics(t, h) })
			t.Run("producer lifetime", func(t *testing.T) { testProducerLifetime(t, h) })
			t.Run("lagging subscriber", func(t *testing.T) { testLagging(t, h) })
			t.Run("producer error", func(t *testing.T) { testProducerError(t, h) })
			t.Run("cancelled subscriber", func(t *testing.T) { testCancelledSubscriber(t, h) })
			t.Run("set topics", func(t *testing.T) { testSetTopics(t, h) })
			t.Run("one dialog per actor", func(t *testing.T) { testOneDialogPerActor(t, h) })
		})
	}
}

// testOrderAndTopics: subscribers in the root and in other actors each
// see consecutive numbers of exactly their topics.
func testOrderAndTopics(t *testing.T, h hosting) {
	withPub(t, h, func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
		sa, err := ticker.Subscribe(ctx, pub, []string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		defer sa.Close()
		sb, _ := ticker.Subscribe(ctx, pub, []string{"b"})
		defer sb.Close()
		sab, _ := ticker.Subscribe(ctx, pub, []string{"a", "b"})
		defer sab.Close()
		f1, err := n.StartActor(ctx, "f1", tractor.Expose(follow))
		if err != nil {
			t.Fatal(err)
		}
		f2, err := n.StartActor(ctx, "f2", tractor.Expose(follow))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 5)
		check := func(sub *pubsub.Subscription[int], topics ...string) {
			wg.Go(func() {
				_, err := consecutive(ctx, sub, 100, topics...)
				errs <- err
			})
		}
		check(sa, "a")
		check(sb, "b")
		check(sab, "a", "b")
		for _, f := range []*tractor.Portal{f1, f2} {
			wg.Go(func() {
				_, err := follow.Call(ctx, f, followArg{Pub: "pub", Topic: "c", N: 100})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}

// testProducerLifetime: the first subscription starts the producer, every
// other one shares it, the last one to leave stops it; another key, or
// another publisher, has a producer of its own.
func testProducerLifetime(t *testing.T, h hosting) {
	withPub(t, h, func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
		started := func(key string) int64 { return countIn(ctx, t, pub, "started:"+key) }
		stopped := func(key string) int64 { return countIn(ctx, t, pub, "stopped:"+key) }
		if started("test.ticker") != 0 {
			t.Fatal("producer started before anyone subscribed")
		}
		s1, err := ticker.Subscribe(ctx, pub, []string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the first subscription started the producer", func() bool { return started("test.ticker") == 1 })
		s2, _ := ticker.Subscribe(ctx, pub, []string{"b"})
		f, err := n.StartActor(ctx, "f", tractor.Expose(follow))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := follow.Call(ctx, f, followArg{Pub: "pub", Topic: "a", N: 10}); err != nil {
			t.Fatal(err)
		}
		if got := started("test.ticker"); got != 1 {
			t.Fatalf("producer started %d times for three subscribers", got)
		}
		s1.Close()
		if _, err := consecutive(ctx, s2, 10, "b"); err != nil {
			t.Fatalf("after another subscriber left: %v", err)
		}
		if stopped("test.ticker") != 0 {
			t.Fatal("producer stopped while a subscriber remained")
		}
		s2.Close()
		eventually(t, "producer stopped after the last subscriber left", func() bool { return stopped("test.ticker") == 1 })

		s3, err := ticker.Subscribe(ctx, pub, []string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		defer s3.Close()
		eventually(t, "a new subscriber started a new producer", func() bool { return started("test.ticker") == 2 })
		k, err := ticker.Subscribe(ctx, pub, []string{"a"}, pubsub.Key("mine"))
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		o, err := other.Subscribe(ctx, pub, []string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		eventually(t, "a producer for each key and publisher", func() bool {
			return started("mine") == 1 && started("test.other") == 1
		})
		if _, err := consecutive(ctx, k, 10, "a"); err != nil {
			t.Fatal(err)
		}
		if got := started("test.ticker"); got != 2 {
			t.Fatalf("producer of the default key started %d times; want 2", got)
		}
	})
}

// testLagging: a subscriber that stops receiving loses the oldest messages
// beyond its window and is told exactly how many; the others miss nothing.
func testLagging(t *testing.T, h hosting) {
	withPub(t, h, func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
		fast, err := ticker.Subscribe(ctx, pub, []string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		defer fast.Close()
		slow, err := ticker.Subscribe(ctx, pub, []string{"a"}, pubsub.Window(5))
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Close()
		var fastAt atomic.Int64
		fastErr := make(chan error, 1)
		go func() {
			_, err := consecutiveAt(ctx, fast, 300, &fastAt, "a")
			fastErr <- err
		}()
		// The slow window of 5 may overflow before this first Receive on
		// a busy machine: start from the first message it keeps.
		var lag *tractor.LaggedError
		m0, err := slow.Receive(ctx)
		for errors.As(err, &lag) {
			m0, err = slow.Receive(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		// Messages go by: the fast subscriber is 25 past the slow one,
		// whose window holds 5.
		eventually(t, "the fast subscriber 25 messages ahead", func() bool { return fastAt.Load() >= int64(m0.Value+25) })
		_, err = slow.Receive(ctx)
		if !errors.As(err, &lag) || !errors.Is(err, tractor.ErrLagged) || lag.Missed < 10 {
			t.Fatalf("slow subscriber = %v; want a LaggedError", err)
		}
		// The fast subscriber goes on filling the slow one's full window,
		// so more losses may be reported before the oldest kept.
		missed := lag.Missed
		m1, err := slow.Receive(ctx)
		for errors.As(err, &lag) {
			missed += lag.Missed
			m1, err = slow.Receive(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		if m1.Value != m0.Value+missed+1 {
			t.Fatalf("after %d, lagged %d, then %d: the count is wrong", m0.Value, missed, m1.Value)
		}
		if err := <-fastErr; err != nil {
			t.Fatalf("fast subscriber disturbed: %v", err)
		}
	})
}

// testProducerError: a producer's failure reaches every subscriber, in any
// actor, as a *RemoteError from the publishing actor.
func testProducerError(t *testing.T, h hosting) {
	withPub(t, h, func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
		// The producer may fail before a subscription is in: Subscribe
		// then returns its error, which is the outcome checked below.
		subs := make([]*pubsub.Subscription[int], 2)
		errs := make([]error, 2)
		for i := range subs {
			if subs[i], errs[i] = broken.Subscribe(ctx, pub, []string{"a"}); errs[i] == nil {
				defer subs[i].Close()
			}
		}
		f, err := n.StartActor(ctx, "f", tractor.Expose(expectFailure))
		if err != nil {
			t.Fatal(err)
		}
		remote := make(chan string, 1)
		go func() {
			msg, err := expectFailure.Call(ctx, f, "pub")
			if err != nil {
				msg = err.Error()
			}
			remote <- msg
		}()
		for i, sub := range subs {
			err := errs[i]
			for err == nil {
				_, err = sub.Receive(ctx)
			}
			var re *tractor.RemoteError
			if !errors.As(err, &re) || re.Actor != pub.Actor() || !strings.Contains(re.Message, "producer broke") {
				t.Fatalf("subscriber %d ended with %v; want the producer's error from pub", i, err)
			}
		}
		if msg := <-remote; !strings.HasPrefix(msg, "pub: ") || !strings.Contains(msg, "producer broke") {
			t.Fatalf("subscriber in another actor ended with %q", msg)
		}
	})
}

// testCancelledSubscriber: cancelling a subscribing actor leaves the other
// subscribers and the producer running.
func testCancelledSubscriber(t *testing.T, h hosting) {
	withPub(t, h, func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
		mine, err := ticker.Subscribe(ctx, pub, []string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		defer mine.Close()
		f, err := n.StartActor(ctx, "f", tractor.Expose(follow, count))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := follow.Call(ctx, f, followArg{Pub: "pub", Topic: "a"})
			done <- err
		}()
		eventually(t, "the other actor subscribed", func() bool { return countIn(ctx, t, f, "following") == 1 })
		if _, err := consecutive(ctx, mine, 20, "a"); err != nil {
			t.Fatal(err)
		}
		if err := f.CancelActor(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, tractor.ErrContextCancelled) {
			t.Fatalf("cancelled subscriber's call = %v", err)
		}
		if _, err := consecutive(ctx, mine, 50, "a"); err != nil {
			t.Fatalf("after the other subscriber was cancelled: %v", err)
		}
		if countIn(ctx, t, pub, "stopped:test.ticker") != 0 {
			t.Fatal("producer stopped with a subscriber left")
		}
	})
}

// testSetTopics: a subscription changes its topics on the live stream and
// from then on receives exactly the new ones.
func testSetTopics(t *testing.T, h hosting) {
	withPub(t, h, func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
		sub, err := ticker.Subscribe(ctx, pub, []string{"a"})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if _, err := consecutive(ctx, sub, 5, "a"); err != nil {
			t.Fatal(err)
		}
		if err := sub.SetTopics(ctx, "b", "c"); err != nil {
			t.Fatal(err)
		}
		if _, err := consecutive(ctx, sub, 40, "b", "c"); err != nil {
			t.Fatal(err)
		}
		sub.Close()
		if _, err := sub.Receive(ctx); !errors.Is(err, tractor.ErrStreamClosed) {
			t.Fatalf("Receive after Close = %v", err)
		}
		if err := sub.SetTopics(ctx, "a"); !errors.Is(err, tractor.ErrStreamClosed) {
			t.Fatalf("SetTopics after Close = %v", err)
		}
	})
}

// testOneDialogPerActor: the subscriptions of one actor share one dialog,
// so the publisher sends each value once per subscribing actor, however
// many subscriptions it has.
func testOneDialogPerActor(t *testing.T, h hosting) {
	withPub(t, h, func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
		var subs []*pubsub.Subscription[int]
		for range 10 {
			sub, err := census.Subscribe(ctx, pub, []string{"n"})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			subs = append(subs, sub)
		}
		// A subscription is promised only the values published once it
		// is in: have census count again, now that all are.
		if err := subs[0].SetTopics(ctx, "n", "again"); err != nil {
			t.Fatal(err)
		}
		// Every subscription sees the publisher count one subscriber.
		for i, sub := range subs {
			m, err := sub.Receive(ctx)
			if err != nil || m.Value != 1 {
				t.Fatalf("subscription %d: %+v, %v; want 1 subscribing actor", i, m, err)
			}
		}
	})
}

// TestEndOfStream: a producer that returns nil ends every subscription
// with io.EOF after the values it published.
func TestEndOfStream(t *testing.T) {
	withPub(t, hostings[0], func(ctx context.Context, n *tractor.Nursery, pub *tractor.Portal) {
		sub, err := finite.Subscribe(ctx, pub, []string{"t"}, pubsub.Key("5"))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		var got []int
		for {
			m, err := sub.Receive(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m.Value)
		}
		if fmt.Sprint(got) != "[0 1 2 3 4]" {
			t.Fatalf("got %v", got)
		}
		if n := finite.Clients(); n != 0 {
			t.Fatalf("%d shared dialogs kept after the end, before Close", n)
		}
	})
}
