// Command crash shows supervision: one actor fails, the nursery cancels its
// siblings (one-cancels-all) and OpenNursery returns the failure as a
// *tractor.RemoteError naming the actor it came from.
//
// Run it with:
//
//	go run ./examples/crash
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tractor-go/tractor"
)

// parseError is the error type the failing actor returns; the parent sees
// its name in RemoteError.Type.
type parseError struct{ input string }

func (e *parseError) Error() string { return fmt.Sprintf("cannot parse %q", e.input) }

var (
	// parse fails on anything but digits.
	parse = tractor.Func("crash.parse", func(ctx context.Context, s string) (int, error) {
		n := 0
		for _, r := range s {
			if r < '0' || r > '9' {
				return 0, &parseError{s}
			}
			n = n*10 + int(r-'0')
		}
		return n, nil
	})

	// forever runs until it is cancelled.
	forever = tractor.Func("crash.forever", func(ctx context.Context, _ struct{}) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})

	// ping is served by a daemon actor.
	ping = tractor.Func("crash.ping", func(ctx context.Context, _ struct{}) (string, error) {
		return "pong", nil
	})
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tractor.Run(ctx, demo); err != nil {
		fmt.Println("FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("done")
}

func demo(ctx context.Context) error {
	err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
		daemon, err := n.StartActor(ctx, "server", tractor.Expose(ping))
		if err != nil {
			return err
		}
		pong, err := ping.Call(ctx, daemon, struct{}{})
		if err != nil {
			return err
		}
		fmt.Println("daemon actor server answers ping with", pong)

		if _, err := n.RunInActor(ctx, "sleeper", forever.Bind(struct{}{})); err != nil {
			return err
		}
		fmt.Println("one-shot actor sleeper started; it would run forever")

		p, err := n.RunInActor(ctx, "parser", parse.Bind("12x"))
		if err != nil {
			return err
		}
		fmt.Println(`one-shot actor parser started on "12x"`)

		// Result returns the one-shot's failure too; the nursery reports
		// it as well, so the body need not return it.
		var re *tractor.RemoteError
		if _, err := parse.Result(ctx, p); !errors.As(err, &re) {
			return fmt.Errorf("parser's result: want a *tractor.RemoteError, got %v", err)
		}
		fmt.Println("parser's Result: failed in actor", re.Actor.Name)

		// The failure cancelled the nursery, so its ctx is done: every
		// sibling (the daemon and the sleeper) is being cancelled.
		<-ctx.Done()
		fmt.Println("the nursery is cancelled; OpenNursery waits for server and sleeper to end")
		return nil // the failure is the nursery's to report
	})
	fmt.Println("OpenNursery returned; live actors:", names(tractor.Actors(ctx)))
	if err == nil {
		return errors.New("OpenNursery: want the parser's error, got nil")
	}

	var re *tractor.RemoteError
	if !errors.As(err, &re) {
		return fmt.Errorf("OpenNursery: want a *tractor.RemoteError, got %T: %v", err, err)
	}
	// Error() names the actor by name and uid prefix; the uid is random,
	// so it is elided here to keep the output stable.
	fmt.Println("OpenNursery error:", strings.ReplaceAll(err.Error(), re.Actor.String(), re.Actor.Name+"[…]"))
	fmt.Println("error from actor:", re.Actor.Name)
	fmt.Println("error type:      ", re.Type)
	fmt.Println("error message:   ", re.Message)
	if re.Actor.Name != "parser" || re.Type != "*main.parseError" {
		return fmt.Errorf("unexpected error: %v", err)
	}
	if n := countErrors(err); n != 1 {
		return fmt.Errorf("OpenNursery: want 1 error (siblings' cancellations are left out), got %d: %v", n, err)
	}
	fmt.Println("the siblings' cancellations are not reported: 1 error in all")
	return nil
}

// countErrors counts the errors joined in err.
func countErrors(err error) int {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return len(j.Unwrap())
	}
	return 1
}

func names(infos []tractor.ActorInfo, err error) []string {
	if err != nil {
		return []string{err.Error()}
	}
	out := make([]string, len(infos))
	for i, in := range infos {
		out[i] = in.ID.Name
	}
	return out
}
