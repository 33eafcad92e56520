package tractortest

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/tractor-go/tractor"
)

// stallsAbove returns its argument, but stalls, until its ctx ends, on one
// above 3: a planted hang that a cancellation ends.
var stallsAbove = tractor.Func("tractortest.test.stallsAbove", func(ctx context.Context, x int) (int, error) {
	if x > 3 {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return x, nil
})

// TestBubbleDetectsHang: in Bubble mode, a dialog that hangs fails its
// step at StepTimeout of virtual time, so the property fails, and shrinks
// to the minimal sequence: one worker, one call with the smallest
// argument that stalls.
func TestBubbleDetectsHang(t *testing.T) {
	var r reporter
	done := make(chan struct{})
	go func() { // the reporter's FailNow ends this goroutine
		defer close(done)
		check(&r, Config{
			Cases:  []Case{Func(stallsAbove, rapid.IntRange(0, 1000), nil)},
			Bubble: true,
		}, t)
	}()
	<-done
	if !r.failed {
		t.Fatal("the property held, though calls hang")
	}
	report := r.log.String()
	if want := "hung: no outcome within " + StepTimeout.String(); !strings.Contains(report, "dialog with worker-1[") || !strings.Contains(report, want) {
		t.Errorf("the report does not say that worker-1's dialog %s:\n%s", want, report)
	}
	// Shrunk: a worker started, then the call that stalls. rapid's
	// shrinker is randomised and may leave a few idle or passing steps
	// (runs have left up to 6); an unshrunk sequence has dozens.
	m := regexp.MustCompile(`stallsAbove argument: (\d+)`).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("the report shows no call:\n%s", report)
	}
	if x, _ := strconv.Atoi(m[1]); x <= 3 {
		t.Errorf("the report's call has argument %d, which does not stall:\n%s", x, report)
	}
	if steps := strings.Count(report, "draw action:"); steps > 10 {
		t.Errorf("the failing sequence shrank to %d steps, want at most 10:\n%s", steps, report)
	}
}

// TestBubbleRefusedByRun: Run, which has no *testing.T for the bubbles,
// refuses Bubble.
func TestBubbleRefusedByRun(t *testing.T) {
	err := Run(Config{Bubble: true})
	if err == nil || !strings.Contains(err.Error(), "Config.Bubble needs a *testing.T") {
		t.Errorf("Run with Bubble: %v, want its refusal", err)
	}
}
