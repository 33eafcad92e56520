package tractor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

func TestDuplicateEndpointPanics(t *testing.T) {
	defer func() {
		v := recover()
		if s, _ := v.(string); !strings.Contains(s, `"test.square"`) || !strings.Contains(s, "twice") {
			t.Errorf("recovered %v, want a panic naming the duplicate", v)
		}
	}()
	tractor.Func("test.square", func(ctx context.Context, x int) (int, error) { return x, nil })
	t.Error("a duplicate endpoint name did not panic")
}

// TestStubbornActorReported: a goroutine actor whose task ignores its ctx
// cannot be killed; the nursery names it after the bound, keeps waiting,
// and returns once it has ended.
func TestStubbornActorReported(t *testing.T) {
	var buf syncBuffer
	start := time.Now()
	err := run(t, goroutines, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(n *tractor.Nursery) error {
			_, err := n.RunInActor(ctx, "stubborn", stubborn.Bind(400*time.Millisecond))
			if err != nil {
				return err
			}
			time.Sleep(10 * time.Millisecond)
			n.Cancel()
			return nil
		})
	}, tractor.CancelTimeout(20*time.Millisecond), tractor.LogOutput(&buf))
	if err != nil {
		t.Fatalf("nursery: %v", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("nursery returned after %v, before its child ended", d)
	}
	found := false
	for _, l := range buf.lines(t) {
		child, _ := l["child"].(string)
		if l["level"] == "warn" && strings.HasPrefix(child, "stubborn[") {
			found = true
		}
	}
	if !found {
		t.Errorf("no warning naming the stubborn actor in:\n%s", buf.b.String())
	}
}
