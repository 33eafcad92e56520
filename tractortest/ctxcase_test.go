// A whole-file example: a context endpoint, its model, and Run checking
// it, with its output. TestContextCaseCatches, below it, plants faults
// that the same case must find.

package tractortest_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/tractortest"
)

// totals is the user's context endpoint under test: its first value
// greets the caller, it answers each item of its two-way stream with the
// running total, and it returns the total once the caller closes.
var totals = tractor.Ctx("tractortest.totals", runningTotals(func(int) int { return 0 }))

// runningTotals is the task of totals, its replies skewed by skew(item)
// (a fault to plant; none in totals).
func runningTotals(skew func(x int) int) func(*tractor.Context, string) (int, error) {
	return func(c *tractor.Context, greeting string) (int, error) {
		if err := c.Started("hello, " + greeting); err != nil {
			return 0, err
		}
		s, err := tractor.OpenStream[int, int](c)
		if err != nil {
			return 0, err
		}
		total := 0
		for {
			x, err := s.Receive(c)
			if err == io.EOF {
				return total, nil
			} else if err != nil {
				return total, err
			}
			total += x
			if err := s.Send(c, total+skew(x)); err != nil {
				return total, err
			}
		}
	}
}

// totalsModel says what totals does, from its argument and the items it
// received.
var totalsModel = tractortest.CtxModel[string, string, int, int, int]{
	Started: func(greeting string) string { return "hello, " + greeting },
	Replies: func(_ string, sent []int) ([]int, bool) {
		var totals []int
		total := 0
		for _, x := range sent {
			total += x
			totals = append(totals, total)
		}
		return totals, false // it waits for the caller's close
	},
	Result: func(_ string, sent []int) int {
		total := 0
		for _, x := range sent {
			total += x
		}
		return total
	},
}

// Check a context endpoint against its model: random exchanges on its
// two-way stream, closed early or cancelled, among cancelled steps and
// cancelled workers.
func ExampleContext() {
	err := tractortest.Run(tractortest.Config{
		Cases: []tractortest.Case{
			tractortest.Context(totals, rapid.StringMatching(`[a-z]{1,5}`), rapid.IntRange(-100, 100), totalsModel),
		},
		Faults: true,
	})
	fmt.Println("property holds:", err == nil)
	// Output:
	// property holds: true
}

// Endpoints with planted faults, each of which one case must catch.
var (
	// totalsOff answers a 7 with a total one too high.
	totalsOff = tractor.Ctx("tractortest.totals.off", runningTotals(func(x int) int {
		if x == 7 {
			return 1
		}
		return 0
	}))
	// countOverruns fails past its item 3 as the runtime reports a peer
	// that sent past its credit window, as a spurious overrun would.
	countOverruns = tractor.Stream("tractortest.count.overruns", func(_ context.Context, n int, yield func(int) error) error {
		for i := range n {
			if i == 4 {
				return &tractor.RemoteError{Type: "tractor.ProtocolError", Message: "peer sent more than the window"}
			}
			if err := yield(i); err != nil {
				return err
			}
		}
		return nil
	})
	// countRepeats sends its item 5 twice.
	countRepeats = tractor.Stream("tractortest.count.repeats", func(_ context.Context, n int, yield func(int) error) error {
		for i := range n {
			if err := yield(i); err != nil {
				return err
			}
			if i == 5 {
				if err := yield(i); err != nil {
					return err
				}
			}
		}
		return nil
	})
)

// TestContextCaseCatches plants faults that the Context and StreamOf
// cases must report: a context endpoint that answers one item wrongly, a
// generator that repeats an item, which only a stream received past it
// shows, and one whose stream fails with a protocol error though its link
// keeps the protocol.
//
// A run is shrunk by rapid, whose shrinker is randomised: the tests ask for
// the violation, not for the smallest sequence that shows it.
func TestContextCaseCatches(t *testing.T) {
	withShrinkTime(t, time.Second)
	upTo := func(n int) []int {
		items := make([]int, n)
		for i := range items {
			items[i] = i
		}
		return items
	}
	for _, tc := range []struct {
		name string
		c    tractortest.Case
		want string
	}{
		{"wrong reply", tractortest.Context(totalsOff, rapid.Just("x"), rapid.IntRange(5, 9), totalsModel), "received is"},
		{"repeated item", tractortest.StreamOf(countRepeats, rapid.IntRange(0, 20), upTo), "item 6 is 5"},
		{"protocol error", tractortest.StreamOf(countOverruns, rapid.IntRange(0, 20), upTo), "a protocol error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tractortest.Run(tractortest.Config{Cases: []tractortest.Case{tc.c}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v; want a failure saying %q", err, tc.want)
			}
		})
	}
}

// withShrinkTime bounds rapid's shrinking for t at d, unless the command
// line (-rapid.shrinktime) or RAPID_SHRINKTIME asked for a bound: a test
// that asks for a violation, not for the smallest sequence that shows
// it, need not spend rapid's default 30 s of shrinking on each failure
// it plants. It sets rapid's process-wide flag, so t must not run in
// parallel with other tests.
func withShrinkTime(t *testing.T, d time.Duration) {
	t.Helper()
	if _, ok := os.LookupEnv("RAPID_SHRINKTIME"); ok {
		return
	}
	f := flag.Lookup("rapid.shrinktime")
	if f.Value.String() != f.DefValue {
		return
	}
	if err := f.Value.Set(d.String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Value.Set(f.DefValue) })
}
