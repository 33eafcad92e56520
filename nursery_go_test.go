package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tractor-go/tractor"
)

// Local tasks (Nursery.Go) are supervised with the nursery's actors:
// one-cancels-all across both, a panic is an error, the nursery waits for
// every task, and SetLimit bounds how many run.
func TestNurseryGo(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			t.Run("TaskErrorCancelsActorsAndTasks", func(t *testing.T) { testGoTaskErrorCancelsAll(t, h) })
			t.Run("ActorFailureCancelsTasks", func(t *testing.T) { testGoActorFailureCancelsTasks(t, h) })
			t.Run("PanicIsErrPanicWithStack", func(t *testing.T) { testGoPanic(t, h) })
			t.Run("LimitHoldsUnderLoad", func(t *testing.T) { testGoLimit(t, h) })
			t.Run("WaitsForEveryTask", func(t *testing.T) { testGoWaits(t, h) })
		})
	}
}

var errTask = errors.New("task failed")

// A task's error cancels a daemon that nobody else cancels (else the
// nursery would wait for it forever) and a sibling task, and is returned.
func testGoTaskErrorCancelsAll(t *testing.T, h hosting) {
	var siblingCause error
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "daemon", tractor.Expose(square))
			if err != nil {
				return err
			}
			started := make(chan struct{})
			n.Go(func(ctx context.Context) error {
				close(started)
				<-ctx.Done()
				siblingCause = context.Cause(ctx)
				return ctx.Err()
			})
			n.Go(func(ctx context.Context) error {
				<-started
				if _, err := square.Call(ctx, p, 3); err != nil {
					return err
				}
				return fmt.Errorf("after the call: %w", errTask)
			})
			return nil
		})
	})
	if !errors.Is(err, errTask) {
		t.Fatalf("nursery: %v, want errTask", err)
	}
	if errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "daemon") {
		t.Errorf("nursery: %v, want only the task's error (the cancellations it caused left out)", err)
	}
	if !errors.Is(siblingCause, errTask) {
		t.Errorf("sibling task's ctx cause: %v, want errTask", siblingCause)
	}
}

// An actor's failure cancels the tasks: their ctx ends, with the actor's
// error as cause, and only that error is returned.
func testGoActorFailureCancelsTasks(t *testing.T, h hosting) {
	var cancelled atomic.Int32
	const tasks = 3
	err := run(t, h, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			for range tasks {
				n.Go(func(ctx context.Context) error {
					<-ctx.Done()
					var re *tractor.RemoteError
					if errors.As(context.Cause(ctx), &re) && re.Actor.Name == "failing" {
						cancelled.Add(1)
					}
					return ctx.Err()
				})
			}
			_, err := n.RunInActor(ctx, "failing", fail.Bind("actor down"))
			return err
		})
	})
	re := asRemote(t, err)
	if re.Actor.Name != "failing" || !strings.Contains(err.Error(), "actor down") {
		t.Fatalf("nursery: %v, want the failing actor's error", err)
	}
	if strings.Contains(err.Error(), "task of nursery") {
		t.Errorf("nursery: %v, want the tasks' cancellation left out", err)
	}
	if got := cancelled.Load(); got != tasks {
		t.Errorf("%d tasks saw the actor's failure as their ctx's cause, want %d", got, tasks)
	}
}

// taskPanic panics in a task; its stack must name it.
func taskPanic() error { panic("task exploded") }

// A panic in a task is an ErrPanic RemoteError naming this actor, with
// the panicking stack; it cancels the other tasks and a daemon.
func testGoPanic(t *testing.T, h hosting) {
	var others atomic.Int32
	var self tractor.ActorID
	err := run(t, h, func(ctx context.Context) error {
		self = tractor.CurrentActor(ctx).ID()
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			if _, err := n.StartActor(ctx, "daemon"); err != nil {
				return err
			}
			for range 2 {
				n.Go(func(ctx context.Context) error {
					<-ctx.Done()
					others.Add(1)
					return ctx.Err()
				})
			}
			n.Go(func(context.Context) error { return taskPanic() })
			return nil
		})
	})
	if !errors.Is(err, tractor.ErrPanic) {
		t.Fatalf("nursery: %v, want ErrPanic", err)
	}
	re := asRemote(t, err)
	if re.Actor != self || !strings.Contains(re.Message, "task exploded") {
		t.Errorf("panic error: actor %s, message %q; want this actor and the panic value", re.Actor, re.Message)
	}
	if !strings.Contains(re.Stack, "taskPanic") || !strings.Contains(re.Stack, "nursery_go_test.go") {
		t.Errorf("panic stack does not name the panicking function:\n%s", re.Stack)
	}
	if others.Load() != 2 {
		t.Errorf("%d other tasks cancelled, want 2", others.Load())
	}
}

// The limit holds while every task calls an actor: a counter of running
// tasks reaches it (each task waits at a gate until as many run as may,
// or the body has started them all) and never exceeds it, and every task
// runs.
func testGoLimit(t *testing.T, h hosting) {
	const limit, tasks = 3, 40
	var (
		mu            sync.Mutex
		gate          = sync.NewCond(&mu)
		running, peak int
		launched      bool
		done          atomic.Int32
	)
	withWorker(t, h, eps(square), func(ctx context.Context, p *tractor.Portal) {
		err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			n.SetLimit(limit)
			for i := range tasks {
				n.Go(func(ctx context.Context) error {
					mu.Lock()
					running++
					peak = max(peak, running)
					gate.Broadcast()
					for running < limit && !launched {
						gate.Wait()
					}
					mu.Unlock()
					defer func() {
						mu.Lock()
						running--
						mu.Unlock()
					}()
					if v, err := square.Call(ctx, p, i); err != nil || v != i*i {
						return fmt.Errorf("square(%d) = %d, %v", i, v, err)
					}
					done.Add(1)
					return nil
				})
			}
			mu.Lock()
			launched = true
			gate.Broadcast()
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})
	if peak != limit {
		t.Errorf("peak of concurrent tasks: %d, want the limit, %d", peak, limit)
	}
	if done.Load() != tasks {
		t.Errorf("%d tasks done, want %d", done.Load(), tasks)
	}
}

// OpenNursery returns only once every task has ended, those started by
// tasks included, even after the body has returned.
func testGoWaits(t *testing.T, h hosting) {
	var started, finished atomic.Int32
	var saved *tractor.Nursery
	err := run(t, h, func(ctx context.Context) error {
		err := tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			saved = n
			p, err := n.RunInActor(ctx, "one-shot", square.Bind(7))
			if err != nil {
				return err
			}
			var spawn func(depth int)
			spawn = func(depth int) {
				started.Add(1)
				n.Go(func(ctx context.Context) error {
					defer finished.Add(1)
					if depth > 0 {
						spawn(depth - 1)
						spawn(depth - 1)
					}
					_, err := square.Result(ctx, p)
					return err
				})
			}
			spawn(4)
			return nil
		})
		if s, f := started.Load(), finished.Load(); s != 31 || f != s {
			t.Errorf("OpenNursery returned with %d of %d tasks finished, want 31 of 31", f, s)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "Nursery.Go after the nursery's body returned") {
			t.Errorf("Go after OpenNursery returned: panic %v, want one saying so", v)
		}
	}()
	saved.Go(func(context.Context) error { return nil })
}

// SetLimit while tasks run is a misuse, as errgroup's is.
func TestNurseryGoSetLimitWhileRunning(t *testing.T) {
	err := run(t, goroutines, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			release := make(chan struct{})
			n.Go(func(context.Context) error { <-release; return nil })
			defer close(release)
			defer func() {
				if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "while 1 tasks run") {
					t.Errorf("SetLimit while a task runs: panic %v, want one saying so", v)
				}
			}()
			n.SetLimit(2)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A body that returns the cancellation a failed task caused adds nothing
// to the task's error; a body that returns a cancellation of its own,
// with nothing failed, has it returned.
func TestNurseryBodyCancellation(t *testing.T) {
	t.Run("AfterTaskFailed", func(t *testing.T) {
		err := run(t, goroutines, func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				n.Go(func(context.Context) error { return errTask })
				<-ctx.Done()
				return ctx.Err()
			})
		})
		if !errors.Is(err, errTask) || errors.Is(err, context.Canceled) {
			t.Errorf("nursery: %v, want errTask alone", err)
		}
	})
	t.Run("NothingFailed", func(t *testing.T) {
		err := run(t, goroutines, func(ctx context.Context) error {
			return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				return cctx.Err()
			})
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("nursery: %v, want the body's context.Canceled", err)
		}
	})
}

// ExampleNursery_Go fans work out to at most 4 local tasks, as errgroup
// does; the first error would cancel the others, and any actors.
func ExampleNursery_Go() {
	squares := make([]int, 8)
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			n.SetLimit(4)
			for i := range squares {
				n.Go(func(ctx context.Context) error {
					squares[i] = i * i
					return ctx.Err()
				})
			}
			return nil
		})
	})
	fmt.Println(squares, err)
	// Output:
	// [0 1 4 9 16 25 36 49] <nil>
}
