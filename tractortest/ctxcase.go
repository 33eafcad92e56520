package tractortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"

	"pgregory.net/rapid"

	"github.com/tractor-go/tractor"
)

// CtxModel predicts what a context endpoint does, for [Context] to check
// it: its first value, the items it sends back on the dialog's two-way
// stream, and its result, each from its argument and the items it
// received. The task is taken to open its stream right after Started and
// to send nothing once the caller has closed its side.
type CtxModel[A, F, S, R, Res any] struct {
	// Started is the value the task gives [tractor.Context.Started] for
	// arg.
	Started func(arg A) F
	// Replies returns the items the task has sent, in order, once it has
	// received sent, and whether it then returns (ending the dialog, and
	// its side of the stream) without waiting for more. It must grow with
	// sent: the items for a prefix of sent are a prefix of those for sent.
	Replies func(arg A, sent []S) (items []R, done bool)
	// Result is the task's result once it received sent and then, unless
	// Replies said it was done, the caller's close.
	Result func(arg A, sent []S) Res
}

// Context is a [Case] for a context endpoint: it opens a dialog with
// ep with an argument drawn from arg, checks the first value, opens the
// stream and draws an exchange, a random sequence of Sends (of items
// drawn from item) and Receives, with the caller closing its side at a
// drawn point and the task, as its model says, ending early at its own;
// then it checks the result, or cancels the dialog and checks for the
// cancellation (or the result, if the task could have returned first).
// Every item received must be the model's next, in order, and a Receive
// the model cannot answer is never drawn, so a missing item is a hang.
//
// A failure is allowed as for [Func]: a cancellation the caller asked
// for, or a *tractor.RemoteError from the worker (ErrActorGone once it
// ended).
func Context[A, F, S, R, Res any](ep *tractor.CtxEndpoint[A, Res], arg *rapid.Generator[A], item *rapid.Generator[S], model CtxModel[A, F, S, R, Res]) Case {
	return ctxCase[A, F, S, R, Res]{ep, arg, item, model}
}

type ctxCase[A, F, S, R, Res any] struct {
	ep    *tractor.CtxEndpoint[A, Res]
	arg   *rapid.Generator[A]
	item  *rapid.Generator[S]
	model CtxModel[A, F, S, R, Res]
}

func (c ctxCase[A, F, S, R, Res]) endpoints() []tractor.Endpoint { return []tractor.Endpoint{c.ep} }

// GoString names the case in the steps rapid prints.
func (c ctxCase[A, F, S, R, Res]) GoString() string { return "context " + c.ep.Name() }

// The operations of a context case's exchange.
const (
	opSend    = "send"
	opReceive = "receive"
	opClose   = "close"
)

func (c ctxCase[A, F, S, R, Res]) run(t *rapid.T, ctx context.Context, w *Worker) error {
	a := c.arg.Draw(t, c.ep.Name()+" argument")
	name := fmt.Sprintf("context %s with %s", c.ep.Name(), w.Portal.Actor())
	dc, err := c.ep.Open(ctx, w.Portal, a)
	if err != nil {
		return outcomeError(ctx, w, err)
	}
	if w.Ended {
		c.ep.Result(ctx, dc)
		return fmt.Errorf("%s opened, though the actor ended", name)
	}
	// Any failure ends the dialog: a Context must be ended with Result.
	fail := func(err error) error {
		if why := outcomeError(ctx, w, err); why != nil {
			c.ep.Result(ctx, dc)
			return fmt.Errorf("%s: %w", name, why)
		}
		if _, err := c.ep.Result(ctx, dc); err != nil {
			if why := outcomeError(ctx, w, err); why != nil {
				return fmt.Errorf("%s: result after %v: %w", name, err, why)
			}
		}
		return nil
	}
	first, err := tractor.First[F](dc)
	if err != nil {
		return fail(err)
	}
	if want := c.model.Started(a); !reflect.DeepEqual(first, want) {
		c.ep.Result(ctx, dc)
		return fmt.Errorf("%s: first value %#v, want %#v", name, first, want)
	}
	s, err := tractor.OpenStream[S, R](dc)
	if err != nil {
		return fail(err)
	}
	var (
		sent     []S // the items the task received (or will)
		received int
		closed   bool // the caller closed its side
		eof      bool // a Receive returned io.EOF
	)
	want, done := c.model.Replies(a, sent)
	for range rapid.IntRange(0, 30).Draw(t, "exchange steps") {
		var ops []string
		if !closed {
			ops = append(ops, opSend, opClose)
		}
		// The task ends once done or once the caller closed, and
		// Receive then returns its items and io.EOF: never a Receive
		// that nothing answers.
		if received < len(want) || done || closed {
			ops = append(ops, opReceive)
		}
		if len(ops) == 0 {
			break
		}
		switch rapid.SampledFrom(ops).Draw(t, "exchange") {
		case opSend:
			v := c.item.Draw(t, "item")
			err := s.Send(ctx, v)
			if done {
				// The task returned, or is about to: the item goes
				// nowhere, and Send may say so.
				if err != nil && !errors.Is(err, tractor.ErrStreamClosed) {
					return fail(err)
				}
				continue
			}
			if err != nil {
				return fail(err)
			}
			sent = append(sent, v)
			want, done = c.model.Replies(a, sent)
		case opClose:
			if err := s.Close(); err != nil {
				return fail(err)
			}
			closed = true
		case opReceive:
			v, err := s.Receive(ctx)
			if received < len(want) {
				if err != nil {
					return fail(err)
				}
				if !reflect.DeepEqual(v, want[received]) {
					return fmt.Errorf("%s: item %d received is %#v, want %#v (sent %v)", name, received, v, want[received], sent)
				}
				received++
				continue
			}
			if err != io.EOF {
				if err == nil {
					return fmt.Errorf("%s: item %d received is %#v, though the model has only %d (sent %v)", name, received, v, len(want), sent)
				}
				return fail(err)
			}
			eof = true
		}
	}
	if rapid.Bool().Draw(t, "cancel instead of awaiting the result") {
		dc.Cancel()
		res, err := c.ep.Result(ctx, dc)
		// The task may have returned before the cancel reached it, if
		// it could return at all: it was done, or the caller closed.
		if err == nil && (done || closed || eof) && reflect.DeepEqual(res, c.model.Result(a, sent)) {
			return nil
		}
		if err != tractor.ErrContextCancelled {
			if err != nil && (ctx.Err() != nil || w.Ended || w.link.accepts(w, err)) {
				// The step's end, the worker's, or its faulty link's cut
				// came first: judged as any other outcome.
				return outcomeError(ctx, w, err)
			}
			return fmt.Errorf("%s: cancelled by its caller: %#v, %v; want bare ErrContextCancelled", name, res, err)
		}
		return nil
	}
	res, err := c.ep.Result(ctx, dc)
	if err != nil {
		return outcomeError(ctx, w, err)
	}
	if wantRes := c.model.Result(a, sent); !reflect.DeepEqual(res, wantRes) {
		return fmt.Errorf("%s: result %#v, want %#v (sent %v)", name, res, wantRes, sent)
	}
	return nil
}
