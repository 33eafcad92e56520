package pubsub_test

import (
	"context"
	"fmt"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/pubsub"
)

// prices publishes a price for every symbol subscribers want, each time
// the set of symbols changes (a real feed would publish as quotes come).
var prices = pubsub.Publish("example.prices", func(ctx context.Context, f *pubsub.Feed[float64]) error {
	for {
		changed := f.Changed()
		for _, sym := range f.Topics() {
			f.Publish(sym, float64(len(sym))*10)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
})

// A publisher in one actor, a subscription in another: the subscription
// receives only its topics, and changes them on the live stream.
func Example() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			feed, err := n.StartActor(ctx, "feed", tractor.Expose(prices.Endpoint()))
			if err != nil {
				return err
			}
			sub, err := prices.Subscribe(ctx, feed, []string{"ABC"})
			if err != nil {
				return err
			}
			defer sub.Close()
			m, err := sub.Receive(ctx)
			fmt.Println(m.Topic, m.Value, err)

			if err := sub.SetTopics(ctx, "WXYZ"); err != nil {
				return err
			}
			m, err = sub.Receive(ctx) // from now on, only WXYZ
			fmt.Println(m.Topic, m.Value, err)
			return nil
		})
	})
	fmt.Println("err:", err)
	// Output:
	// ABC 30 <nil>
	// WXYZ 40 <nil>
	// err: <nil>
}

// watch runs in a subscribing actor: it finds the actor "feed" by name,
// subscribes to one topic and returns the first value published on it.
var watch = tractor.Func("example.watch", func(ctx context.Context, topic string) (string, error) {
	feed, err := tractor.FindActor(ctx, "feed")
	if err != nil {
		return "", err
	}
	sub, err := prices.Subscribe(ctx, feed, []string{topic})
	if err != nil {
		return "", err
	}
	defer sub.Close()
	m, err := sub.Receive(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprint(m.Topic, " ", m.Value), nil
})

// One producer fanned out by topic to subscribers in two actors: each
// receives only the topic it asked for.
func Example_twoActors() {
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel() // the feed is a daemon
			if _, err := n.StartActor(ctx, "feed", tractor.Expose(prices.Endpoint())); err != nil {
				return err
			}
			var watchers []*tractor.Portal
			for _, topic := range []string{"ABC", "WXYZ"} {
				p, err := n.RunInActor(ctx, "watch-"+topic, watch.Bind(topic))
				if err != nil {
					return err
				}
				watchers = append(watchers, p)
			}
			for _, p := range watchers {
				got, err := watch.Result(ctx, p)
				fmt.Println(p.Actor().Name, "received", got, err)
			}
			return nil
		})
	})
	fmt.Println("err:", err)
	// Output:
	// watch-ABC received ABC 30 <nil>
	// watch-WXYZ received WXYZ 40 <nil>
	// err: <nil>
}
