package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tractor-go/tractor"
)

// mapItem is an item of the map tests. A worker reports its calls to the
// test's root actor (see mapGauge) when Run is set, fails on Fail and
// blocks until cancelled on Block; it returns 2*I.
type mapItem struct {
	Run   string // the gauge reported to; "" reports nothing
	I     int
	Fail  bool
	Block bool
}

// mapGaugeOp enters (Delta 1) or leaves (Delta -1) a call of the map
// whose gauge is Run.
type mapGaugeOp struct {
	Run   string
	Delta int
}

// gauge counts the calls of one map: started, in flight, the most in
// flight at once, and cancelled.
type gauge struct {
	mu                                 sync.Mutex
	started, inFlight, most, cancelled int
}

// gauges holds the map tests' gauges, in the test's process, where the
// root actor runs: workers in processes reach it through mapGauge.
var gauges sync.Map

// gaugeRuns numbers the gauges, one per map a test runs.
var gaugeRuns atomic.Int64

// newGauge names a fresh gauge for a map of t.
func newGauge(t *testing.T) string {
	run := fmt.Sprintf("%s#%d", t.Name(), gaugeRuns.Add(1))
	t.Cleanup(func() { gauges.Delete(run) })
	return run
}

func gaugeOf(run string) *gauge {
	g, _ := gauges.LoadOrStore(run, new(gauge))
	return g.(*gauge)
}

func (g *gauge) read() (started, most, cancelled int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.started, g.most, g.cancelled
}

var (
	// mapGauge, exposed by the root of a map test, keeps a map's gauge.
	mapGauge = tractor.Func("test.mapGauge", func(ctx context.Context, op mapGaugeOp) (int, error) {
		g := gaugeOf(op.Run)
		g.mu.Lock()
		defer g.mu.Unlock()
		switch op.Delta {
		case 1:
			g.started++
			g.inFlight++
			g.most = max(g.most, g.inFlight)
		case -1:
			g.inFlight--
		case 0:
			g.cancelled++
		}
		return g.inFlight, nil
	})

	// mapWork is the endpoint the map tests map.
	mapWork = tractor.Func("test.mapWork", func(ctx context.Context, it mapItem) (int, error) {
		if it.Run == "" {
			return 2 * it.I, nil
		}
		root, err := tractor.FindActor(ctx, "root")
		if err != nil {
			return 0, err
		}
		if _, err := mapGauge.Call(ctx, root, mapGaugeOp{it.Run, 1}); err != nil {
			return 0, err
		}
		// Leave with a context of its own: ctx may have ended.
		defer mapGauge.Call(context.WithoutCancel(ctx), root, mapGaugeOp{it.Run, -1})
		switch {
		case it.Fail:
			return 0, fmt.Errorf("item %d fails", it.I)
		case it.Block:
			<-ctx.Done()
			_, err := mapGauge.Call(context.WithoutCancel(ctx), root, mapGaugeOp{it.Run, 0})
			return 0, errors.Join(ctx.Err(), err)
		}
		runtime.Gosched() // let the other calls overlap this one
		return 2 * it.I, nil
	})
)

// mapItems returns n items reporting to run's gauge, which block until
// cancelled if block is set.
func mapItems(run string, n int, block bool) []mapItem {
	items := make([]mapItem, n)
	for i := range items {
		items[i] = mapItem{Run: run, I: i, Block: block}
	}
	return items
}

// runMap runs body in a tree hosted per h whose root serves mapGauge.
func runMap(t *testing.T, h hosting, body func(ctx context.Context) error) {
	t.Helper()
	if err := run(t, h, body, tractor.Expose(mapGauge)); err != nil {
		t.Fatal(err)
	}
}

func TestMap(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			t.Run("order", func(t *testing.T) { testMapOrder(t, h) })
			t.Run("first error", func(t *testing.T) { testMapFirstError(t, h) })
			t.Run("cancel", func(t *testing.T) { testMapCancel(t, h) })
			t.Run("limit", func(t *testing.T) { testMapLimit(t, h) })
			t.Run("empty", func(t *testing.T) { testMapEmpty(t, h) })
		})
	}
}

// testMapOrder: the results of 200 items come in the items' order.
func testMapOrder(t *testing.T, h hosting) {
	items := mapItems("", 200, false)
	slices.Reverse(items)
	runMap(t, h, func(ctx context.Context) error {
		out, err := tractor.Map(ctx, mapWork, items, tractor.Workers(4))
		if err != nil {
			return err
		}
		if len(out) != len(items) {
			t.Fatalf("%d results for %d items", len(out), len(items))
		}
		for i, v := range out {
			if v != 2*items[i].I {
				t.Fatalf("out[%d] = %d, want %d", i, v, 2*items[i].I)
			}
		}
		return nil
	})
}

// testMapFirstError: the first failing call ends the map with its error
// and cancels the calls under way, which would otherwise never end; no
// item is started after it.
func testMapFirstError(t *testing.T, h hosting) {
	const workers = 4
	run := newGauge(t)
	items := mapItems(run, 200, true)
	items[2] = mapItem{Run: run, I: 2, Fail: true}
	runMap(t, h, func(ctx context.Context) error {
		out, err := tractor.Map(ctx, mapWork, items, tractor.Workers(workers))
		re := asRemote(t, err)
		if out != nil || re.Message != "item 2 fails" || !strings.Contains(err.Error(), `Map "test.mapWork": item 2: `) {
			t.Fatalf("Map = %v, %v; want no results and item 2's failure", out, err)
		}
		// The queue hands out items in order, and every item but 2
		// blocks: the workers took no more than items 0 to 3, and every
		// other item started was cancelled.
		started, _, cancelled := gaugeOf(run).read()
		if started > workers || cancelled != started-1 {
			t.Errorf("%d items started and %d cancelled; want at most %d, all but the failing one", started, cancelled, workers)
		}
		return nil
	})
}

// testMapCancel: ctx's end ends the map with ctx's error, and every worker
// with it.
func testMapCancel(t *testing.T, h hosting) {
	const workers = 3
	run := newGauge(t)
	items := mapItems(run, 10, true)
	runMap(t, h, func(ctx context.Context) error {
		mctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := tractor.Map(mctx, mapWork, items, tractor.Workers(workers))
			done <- err
		}()
		eventually(t, hangBound, "every worker busy", func() bool {
			started, _, _ := gaugeOf(run).read()
			return started == workers
		})
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Map = %v; want context.Canceled", err)
		}
		if d := descendants(); len(d) != 0 {
			t.Errorf("processes left after Map: %v", d)
		}
		infos, err := tractor.Actors(ctx)
		if err != nil {
			return err
		}
		if got := infoNames(infos); !slices.Equal(got, []string{"root"}) {
			t.Errorf("actors left after Map: %v", got)
		}
		return nil
	})
}

// testMapLimit: no more calls are in flight than there are workers,
// counted by the root whatever hosts the workers; by default there is one
// worker per CPU.
func testMapLimit(t *testing.T, h hosting) {
	runMap(t, h, func(ctx context.Context) error {
		for _, limit := range []int{1, 3, 0} {
			run := newGauge(t)
			var opts []tractor.Option
			want := runtime.NumCPU()
			if limit > 0 {
				opts, want = []tractor.Option{tractor.Workers(limit)}, limit
			}
			out, err := tractor.Map(ctx, mapWork, mapItems(run, 60, false), opts...)
			if err != nil {
				return err
			}
			started, most, _ := gaugeOf(run).read()
			if len(out) != 60 || started != 60 || most > want {
				t.Errorf("Workers(%d): %d results, %d started, at most %d in flight; want 60, 60, <= %d", limit, len(out), started, most, want)
			}
		}
		return nil
	})
}

// testMapEmpty: no items, no workers: an empty slice at once, even where
// no worker could start.
func testMapEmpty(t *testing.T, h hosting) {
	runMap(t, h, func(ctx context.Context) error {
		out, err := tractor.Map(ctx, mapWork, nil, tractor.Spawn(tractor.Process), tractor.Binary("/nonexistent/tractor-worker"))
		if err != nil || out == nil || len(out) != 0 {
			t.Fatalf("Map(no items) = %#v, %v; want an empty slice", out, err)
		}
		return nil
	})
}
