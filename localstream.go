package tractor

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/tractor-go/tractor/transport"
)

// A generator of an actor of this process streams to its caller through
// memory, not through a dialog: Open starts it on a goroutine of its own,
// as a task of the callee (counted by the callee's gate, so the callee's
// end waits for it and refuses new ones; labelled as the callee's; its ctx
// the callee's, cancelled with the callee actor, by the end of the
// caller's ctx and by Close), and its yield puts the typed item in a
// bounded queue the receiver takes from. Nothing is boxed, encoded, routed
// or acknowledged per item: the sender takes one lock per item and wakes
// the receiver only when it is parked; the receiver takes a whole batch
// under one lock and gives the window back by halves, as a dialog's
// receiver grants credit. The window (items and bytes, as the in-memory
// transport measures them) bounds what a stalled receiver holds, so a
// stalled receiver stalls only its generator. Every outcome is the one the
// dialog would deliver: io.EOF after the generator returns, its failure
// or panic as a *RemoteError, ErrContextCancelled for the caller's own
// cancellation, the canceller named for anyone else's. Under WireCheck a
// generator of this process streams through a dialog instead, over an
// in-memory connection that encodes every message (see
// StreamEndpoint.Open): its items are then what a process actor's are.

// testHookDialogStreams, set by tests, makes generators of this process
// stream through dialogs, as those of other processes do.
var testHookDialogStreams bool

// openLocal starts e's generator in callee, an actor of this process, with
// arg; ch is the caller's connection to it, for what a dialog over it
// would report.
func (e *StreamEndpoint[A, T]) openLocal(ctx context.Context, ch *session, callee *Actor, arg A, opts []DialogOption) (*MsgStream[NoSend, T], error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ch.linkErr(); err != nil {
		return nil, err
	}
	q := newLocalStream[T](ch, callee, e.name, ch.dialogWindow(opts))
	s := &MsgStream[NoSend, T]{gen: q, oneWay: true}
	if !callee.inline.enter() {
		// A dialog's cmd would be refused: its stream ends with the
		// refusal.
		re := refusal(callee.id)
		q.end = &re
		close(q.done)
		return s, nil
	}
	tctx, cancel := context.WithCancelCause(callee.ctx)
	q.task, q.cancel, q.opener = &genTask{Context: tctx, by: ch.local.id, flow: &q.streamFlow}, cancel, ctx
	q.stopWatch = context.AfterFunc(ctx, func() { cancel(q.callerCause()) })
	// The calling actor's end cancels it too, as the end of its
	// connection would cancel a dialog's task.
	caller := ch.local
	q.stopCaller = context.AfterFunc(caller.ctx, func() {
		cancel(lostActor(caller.id, errors.New("the calling actor ended")))
	})
	go q.run(func(t context.Context) error {
		if _, ok := callee.exposes(e.name); !ok {
			// Names are unique in a process: exposing the name exposes e.
			_, err := callee.lookup(e.name)
			return err
		}
		return e.fn(t, arg, q.yield)
	})
	return s, nil
}

// genTask is the ctx of a generator running in this process: its callee
// actor's, cancelled as a dialog's task is, and naming its caller.
type genTask struct {
	context.Context
	by   ActorID     // the calling actor
	flow *streamFlow // its stream's window, for the tests
}

// Value implements context.Context: the callee actor's values, and the
// caller for [Caller].
func (t *genTask) Value(key any) any {
	if _, ok := key.(callerKey); ok {
		return t.by
	}
	return t.Context.Value(key)
}

// streamFlow is the state of a local stream that does not depend on its
// item type: its window, what is counted against it, its outcome and who
// waits. mu guards it and the stream's queue.
type streamFlow struct {
	window flowWindow
	// release is when the receiver gives consumed items back to the
	// window: half of it, in items or bytes, as a dialog grants credit.
	releaseItems, releaseBytes int

	sendWake chan struct{} // room was made, for a parked sender
	recvWake chan struct{} // items or the outcome came, for a parked receiver

	mu          sync.Mutex
	out         int   // items counted against the window: queued, or taken and not given back
	outBytes    int   // … and their bytes
	end         error // the outcome once in: io.EOF, or the generator's failure
	closed      bool  // Close was called
	sendWaiters int   // yields parked for room
	recvWaiters int   // receivers parked for items
}

// roomLocked reports whether the window lets one more item in: the
// sender may send while the items and bytes in flight are under it, so
// that one item larger than the whole byte window still goes, alone.
func (f *streamFlow) roomLocked() bool {
	return f.out < f.window.items && f.outBytes < f.window.bytes
}

// credit is what the generator may still yield before it waits.
func (f *streamFlow) credit() (items int, bytes int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.window.items - f.out, int64(f.window.bytes - f.outBytes)
}

// localStream is a one-way stream of T items from a generator of this
// process to its caller.
type localStream[T any] struct {
	streamFlow

	callee *Actor
	ch     *session // the caller's connection to callee
	name   string   // the endpoint
	fixed  int      // every item's size, when sizeOf is nil
	sizeOf func(T) int

	task       *genTask
	cancel     context.CancelCauseFunc
	opener     context.Context // the ctx Open was given
	stopWatch  func() bool     // stops the cancellation by opener
	stopCaller func() bool     // stops the cancellation by the calling actor's end
	done       chan struct{}   // closed once the outcome is in

	// Guarded by mu: what the generator yielded and no receiver took yet,
	// and their sizes if sizeOf is set.
	buf   []T
	sizes []int

	// recvMu serialises receivers; it guards the batch they take items
	// from, taken from buf whole, and what they consumed since they last
	// gave room back.
	recvMu        sync.Mutex
	batch         []T
	bsizes        []int
	next          int
	consumed      int
	consumedBytes int
}

func newLocalStream[T any](ch *session, callee *Actor, name string, w flowWindow) *localStream[T] {
	q := &localStream[T]{callee: callee, ch: ch, name: name, done: make(chan struct{})}
	q.window = w
	q.releaseItems, q.releaseBytes = max(w.items/2, 1), max(w.bytes/2, 1)
	q.sendWake, q.recvWake = make(chan struct{}, 1), make(chan struct{}, 1)
	q.fixed, q.sizeOf = itemSizer[T]()
	return q
}

// itemSizer says how the in-memory transport measures a T
// ([transport.PayloadSize]): as a constant when every T measures the
// same, the common case of small items, which then costs nothing to
// measure; else with a function.
func itemSizer[T any]() (fixed int, sizeOf func(T) int) {
	t := reflect.TypeFor[T]()
	variable := func(k reflect.Kind) bool {
		return k == reflect.String || k == reflect.Slice || k == reflect.Map
	}
	switch k := t.Kind(); {
	case k == reflect.Interface || k == reflect.Pointer || variable(k):
		return 0, func(v T) int { return transport.PayloadSize(v) }
	case k == reflect.Struct:
		for i := range t.NumField() {
			if variable(t.Field(i).Type.Kind()) {
				return 0, func(v T) int { return transport.PayloadSize(v) }
			}
		}
	}
	return int(t.Size()), nil
}

// callerCause is the cause of a cancellation by the caller.
func (q *localStream[T]) callerCause() error {
	return &cancelCause{by: q.ch.local.id, reason: "cancelled by its caller"}
}

// run runs the generator gen to its outcome, as the callee's task.
func (q *localStream[T]) run(gen func(context.Context) error) {
	defer q.callee.inline.leave()
	returned := false
	defer func() {
		if !returned {
			// The generator exited its goroutine (runtime.Goexit): the
			// stream still ends, with an error saying so.
			q.finish(q.failure(errGoexit))
		}
	}()
	pprof.SetGoroutineLabels(q.callee.goroutineLabels())
	err := q.generate(gen)
	returned = true
	end := io.EOF
	if err != nil {
		end = q.failure(err)
	} else if lerr := q.ch.linkErr(); lerr != nil {
		// The link broke while the generator ran, so a dialog's end
		// would not have come: the caller learns the loss instead.
		end = lerr
	}
	q.finish(end)
}

// errGoexit is the failure of a task that exited its goroutine.
var errGoexit = errors.New("tractor: task exited its goroutine (runtime.Goexit)")

// finish ends the stream with end, once its generator has returned.
func (q *localStream[T]) finish(end error) {
	q.stopWatch()
	q.stopCaller()
	q.cancel(context.Canceled) // the task's ctx ends with it
	q.mu.Lock()
	q.end = end
	wake := q.recvWaiters > 0
	q.mu.Unlock()
	if wake {
		signal(q.recvWake)
	}
	close(q.done)
}

// generate runs gen, turning a panic into a *panicError as invoke does.
func (q *localStream[T]) generate(gen func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = q.callee.recoverTask(q.task, q.name, v)
		}
	}()
	return gen(q.task)
}

// failure is what the caller gets for the generator's error err: what
// its dialog would have carried, its cancellation included.
func (q *localStream[T]) failure(err error) error {
	a := q.callee
	re := a.taskFailure(q.task, q.name, err, context.Cause(q.task))
	a.debugTaskFailed(q.name, re.Message, re.Stack)
	q.mu.Lock()
	self := q.closed || q.opener.Err() != nil
	q.mu.Unlock()
	return callerError(re, self, q.ch.local.id)
}

// yield queues v for the receiver, waiting while the window is full. It
// fails, as a dialog's yield does, once the generator's ctx has ended.
func (q *localStream[T]) yield(v T) error {
	size := q.fixed
	if q.sizeOf != nil {
		size = q.sizeOf(v)
	}
	q.mu.Lock()
	for {
		if q.task.Err() != nil {
			q.mu.Unlock()
			return ctxErr(q.task)
		}
		if q.roomLocked() {
			break
		}
		q.sendWaiters++
		q.mu.Unlock()
		select {
		case <-q.sendWake:
		case <-q.task.Done():
		}
		q.mu.Lock()
		q.sendWaiters--
	}
	q.buf = append(q.buf, v)
	if q.sizeOf != nil {
		q.sizes = append(q.sizes, size)
	}
	q.out++
	q.outBytes += size
	wakeRecv := q.recvWaiters > 0
	wakeSend := q.sendWaiters > 0 && q.roomLocked() // another yield may go
	q.mu.Unlock()
	if wakeRecv {
		signal(q.recvWake)
	}
	if wakeSend {
		signal(q.sendWake)
	}
	return nil
}

// receive takes the next item. It returns the stream's outcome once every
// item has been taken, or ctx's error if ctx ends first. The item goes
// from the batch to the result as a value, in registers for a small one:
// through a pointer to the caller's frame it cost a third more per item.
func (q *localStream[T]) receive(ctx context.Context) (T, error) {
	q.recvMu.Lock()
	if q.next < len(q.batch) {
		v := q.takeNext()
		q.recvMu.Unlock()
		return v, nil
	}
	q.recvMu.Unlock()
	var v T
	err := q.takeSlow(ctx, &v)
	return v, err
}

// takeLocked takes the batch's next item into *p; see takeNext.
func (q *localStream[T]) takeLocked(p *T) { *p = q.takeNext() }

// takeNext takes the batch's next item, and gives room back to the
// generator once half the window has been consumed; recvMu is held.
func (q *localStream[T]) takeNext() T {
	var zero T
	v := q.batch[q.next]
	q.batch[q.next] = zero
	if q.bsizes != nil {
		q.consumedBytes += q.bsizes[q.next]
	} else {
		q.consumedBytes += q.fixed
	}
	q.next++
	q.consumed++
	if q.consumed >= q.releaseItems || q.consumedBytes >= q.releaseBytes {
		q.mu.Lock()
		wake := q.releaseLocked()
		q.mu.Unlock()
		if wake {
			signal(q.sendWake)
		}
	}
	return v
}

// releaseLocked gives what the receivers consumed back to the window and
// says whether a parked yield may now go.
func (q *localStream[T]) releaseLocked() bool {
	q.out -= q.consumed
	q.outBytes -= q.consumedBytes
	q.consumed, q.consumedBytes = 0, 0
	return q.sendWaiters > 0 && q.roomLocked()
}

// takeSlow is take once the batch is empty: it takes what the generator
// queued as the next batch, or the outcome, or parks until either comes.
func (q *localStream[T]) takeSlow(ctx context.Context, p *T) error {
	for {
		q.recvMu.Lock()
		if q.next < len(q.batch) { // another receiver refilled it
			q.takeLocked(p)
			more := q.next < len(q.batch)
			q.recvMu.Unlock()
			if more {
				q.passOn()
			}
			return nil
		}
		q.mu.Lock()
		wakeSend := q.releaseLocked()
		refilled := len(q.buf) > 0
		if refilled {
			q.batch, q.buf = q.buf, q.batch[:0]
			q.bsizes, q.sizes = q.sizes, q.bsizes[:0]
			q.next = 0
		}
		end := q.end
		waiters := q.recvWaiters
		if !refilled && end == nil {
			q.recvWaiters++
		}
		q.mu.Unlock()
		if refilled {
			q.takeLocked(p)
		}
		more := q.next < len(q.batch)
		q.recvMu.Unlock()
		if wakeSend {
			signal(q.sendWake)
		}
		switch {
		case refilled:
			if more && waiters > 0 {
				signal(q.recvWake) // the others may share the batch
			}
			return nil
		case end != nil:
			if waiters > 0 {
				signal(q.recvWake) // sticky: the others see it too
			}
			return end
		}
		select {
		case <-q.recvWake:
		case <-ctx.Done():
		}
		q.mu.Lock()
		q.recvWaiters--
		q.mu.Unlock()
		if ctx.Err() != nil {
			return ctxErr(ctx)
		}
	}
}

// passOn wakes a parked receiver, if any, to share the batch.
func (q *localStream[T]) passOn() {
	q.mu.Lock()
	waiters := q.recvWaiters
	q.mu.Unlock()
	if waiters > 0 {
		signal(q.recvWake)
	}
}

// close is the receiver's Close: before the generator's end, it cancels
// the generator, as its caller, and waits for it within the cancel
// timeout, then drops what it had queued, as a dialog's Close discards
// the items before the outcome.
func (q *localStream[T]) close() {
	q.mu.Lock()
	q.closed = true
	ended := q.end != nil
	q.mu.Unlock()
	if ended {
		return
	}
	q.cancel(q.callerCause())
	t := time.NewTimer(q.ch.local.cfg.cancelTimeout)
	defer t.Stop()
	select {
	case <-q.done:
	case <-t.C:
		q.ch.local.logger().Warn("generator did not end on its cancellation in time", slog.String("peer", q.ch.peer.String()), slog.String("endpoint", q.name))
	}
	q.recvMu.Lock()
	q.mu.Lock()
	items, bytes := q.pendingLocked()
	q.consumed += items
	q.consumedBytes += bytes
	clear(q.batch[q.next:])
	clear(q.buf)
	q.batch, q.bsizes, q.next = q.batch[:0], q.bsizes[:0], 0
	q.buf, q.sizes = q.buf[:0], q.sizes[:0]
	q.releaseLocked()
	q.mu.Unlock()
	q.recvMu.Unlock()
}

// pendingLocked counts the items queued and not yet received, and adds
// up their sizes. Both recvMu and mu are held.
func (q *localStream[T]) pendingLocked() (items, bytes int) {
	items = len(q.batch) - q.next + len(q.buf)
	if q.sizeOf == nil {
		return items, items * q.fixed
	}
	for _, n := range q.bsizes[q.next:] {
		bytes += n
	}
	for _, n := range q.sizes {
		bytes += n
	}
	return items, bytes
}
