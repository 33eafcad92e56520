package tractor_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"sync/atomic"
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

// gate holds a stubborn task: it closes entered when it starts, then
// ignores its cancellation until release closes, and sets ended as it
// returns.
type gate struct {
	entered, release chan struct{}
	ended            atomic.Bool
}

// stubbornGate is the gate of the one stubborn task running. It is package
// state, so stubborn runs in goroutine actors only.
var stubbornGate atomic.Pointer[gate]

// stubborn ignores cancellation until the test releases it.
var stubborn = tractor.Func("test.stubborn", func(ctx context.Context, _ struct{}) (int, error) {
	g := stubbornGate.Load()
	defer g.ended.Store(true)
	close(g.entered)
	<-g.release
	return 0, ctx.Err()
})

// warnWatch keeps a tree's log and calls onWarn once, at the first warning
// whose text contains match.
type warnWatch struct {
	syncBuffer
	match  string
	once   sync.Once
	onWarn func()
}

func (w *warnWatch) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"level":"WARN"`)) && bytes.Contains(p, []byte(w.match)) {
		w.once.Do(w.onWarn)
	}
	return w.syncBuffer.Write(p)
}

// TestStubbornActorReported: a goroutine actor whose task ignores its ctx
// cannot be killed; the nursery names it after the bound, keeps waiting,
// and returns once it has ended. The task ends only once the warning is
// out, so the order is the test: warning, then the task's end, then the
// nursery's return.
func TestStubbornActorReported(t *testing.T) {
	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	stubbornGate.Store(g)
	warned := false
	buf := &warnWatch{match: `"child":"stubborn[`, onWarn: func() { warned = true; close(g.release) }}
	// Without the warning the task would never end, nor the nursery.
	unstick := time.AfterFunc(hangBound, func() { buf.once.Do(func() { close(g.release) }) })
	defer unstick.Stop()
	err := run(t, goroutines, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			if _, err := n.RunInActor(ctx, "stubborn", stubborn.Bind(struct{}{})); err != nil {
				return err
			}
			<-g.entered
			n.Cancel()
			return nil
		})
	}, tractor.CancelTimeout(20*time.Millisecond), tractor.LogOutput(buf))
	if err != nil {
		t.Fatalf("nursery: %v", err)
	}
	if !warned {
		t.Fatalf("no warning naming the stubborn actor within %v in:\n%s", hangBound, buf.b.String())
	}
	if !g.ended.Load() {
		t.Error("the nursery returned before its stubborn child ended")
	}
}
