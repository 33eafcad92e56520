package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// The parity table: each value case runs over every hosting, and what the
// caller observes is the same on each hosting whose values cross the
// codec (goroutine actors under WireCheck, the tests' default, and process
// actors on either wire). Goroutine actors by reference (production's
// default) show what a Go channel would, where that differs: the
// documented by-reference contract.

// parityNested is a struct of structs, as a program's messages are.
type parityNested struct {
	Name  string
	Inner *parityInner
	List  []parityInner
	ByKey map[string]parityInner
}

type parityInner struct {
	N    int
	Tags []string
}

// parityNils holds nil and empty slices and maps.
type parityNils struct {
	NilSlice   []int
	EmptySlice []int
	NilMap     map[string]int
	EmptyMap   map[string]int
}

// frameLimit is the default frame limit (transport.DefaultMaxFrame); an
// argument of nearLimit bytes fits in a frame, one of frameLimit does not.
const (
	frameLimit = transport.DefaultMaxFrame
	nearLimit  = frameLimit - 4<<10
)

var (
	// parityMutate changes the map it received, and says how long it is.
	parityMutate = tractor.Func("test.parity.mutate", func(ctx context.Context, m map[string]int) (int, error) {
		m["callee"] = 1
		return len(m), nil
	})
	// parityFlip flips the first byte of the slice it received, and
	// returns that slice.
	parityFlip = tractor.Func("test.parity.flip", func(ctx context.Context, b []byte) ([]byte, error) {
		b[0] ^= 0xff
		return b, nil
	})
	parityAny = tractor.Func("test.parity.any", func(ctx context.Context, v any) (int, error) {
		return 1, nil
	})
	// parityChanResult returns a value holding a chan, typed any.
	parityChanResult = tractor.Func("test.parity.chanResult", func(ctx context.Context, _ struct{}) (any, error) {
		return chanHolder{C: make(chan int)}, nil
	})
	// parityChanStarted sends a first value holding a chan, and returns
	// the error Started gave.
	parityChanStarted = tractor.Ctx("test.parity.chanStarted", func(c *tractor.Context, _ struct{}) (string, error) {
		err := c.Started(chanHolder{C: make(chan int)})
		if err == nil {
			return "sent", nil
		}
		if err := c.Started("instead"); err != nil {
			return "", err
		}
		return "", err
	})
	// parityChanItem yields an item holding a chan, typed any, and returns
	// the error its yield gave.
	parityChanItem = tractor.Stream("test.parity.chanItem", func(ctx context.Context, _ struct{}, yield func(any) error) error {
		return yield(chanHolder{C: make(chan int)})
	})
	parityTime = tractor.Func("test.parity.time", func(ctx context.Context, t time.Time) (time.Time, error) {
		return t, nil
	})
	parityNestedEcho = tractor.Func("test.parity.nested", func(ctx context.Context, v parityNested) (parityNested, error) {
		return v, nil
	})
	parityNilsEcho = tractor.Func("test.parity.nils", func(ctx context.Context, v parityNils) (parityNils, error) {
		return v, nil
	})
	parityLen = tractor.Func("test.parity.len", func(ctx context.Context, s string) (int, error) {
		return len(s), nil
	})
	parityMake = tractor.Func("test.parity.make", func(ctx context.Context, n int) (string, error) {
		return strings.Repeat("r", n), nil
	})
	// parityFail fails with an error whose text is n bytes.
	parityFail = tractor.Func("test.parity.fail", func(ctx context.Context, n int) (int, error) {
		return 0, errors.New(strings.Repeat("e", n))
	})
	// parityInts sends 0..n-1 as ints on its context stream.
	parityInts = tractor.Ctx("test.parity.ints", func(c *tractor.Context, n int) (struct{}, error) {
		if err := c.Started(nil); err != nil {
			return struct{}{}, err
		}
		s, err := tractor.OpenStream[int, struct{}](c)
		if err != nil {
			return struct{}{}, err
		}
		for i := range n {
			if err := s.Send(c, i); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, s.Close()
	})
	// paritySum receives int64 items from its caller and returns their
	// sum.
	paritySum = tractor.Ctx("test.parity.sum", func(c *tractor.Context, _ struct{}) (int64, error) {
		if err := c.Started(nil); err != nil {
			return 0, err
		}
		s, err := tractor.OpenStream[struct{}, int64](c)
		if err != nil {
			return 0, err
		}
		var sum int64
		for v, err := range s.All(c) {
			if err != nil {
				return sum, err
			}
			sum += v
		}
		return sum, nil
	})
)

var parityEndpoints = eps(parityMutate, parityFlip, parityAny, parityChanResult, parityChanStarted,
	parityChanItem, parityTime, parityNestedEcho, parityNilsEcho, parityLen, parityMake, parityFail, parityInts, paritySum,
	errFail, failStream, returnAfter)

// parityOutcome is what a caller observes: a value, compared with
// reflect.DeepEqual, or an error, matched with errors.Is.
type parityOutcome struct {
	value any
	err   error
}

// parityCase is one row of the table: do makes the calls and returns
// what the caller observes; want is that observation on every hosting
// whose values cross the codec; byRef, if set, the one of goroutine
// actors by reference, where a Go channel's behaviour differs.
type parityCase struct {
	name  string
	do    func(ctx context.Context, p *tractor.Portal) (any, error)
	want  parityOutcome
	byRef *parityOutcome
}

// parityZone is a zone with an offset of its own, not UTC's.
var parityZone = time.FixedZone("UTC+05:30", 5*3600+30*60)

var parityCases = []parityCase{
	{
		name: "MapMutatedByCallee",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			m := map[string]int{"caller": 1}
			n, err := parityMutate.Call(ctx, p, m)
			return fmt.Sprintf("callee saw %d keys, caller has %v", n, m), err
		},
		want:  parityOutcome{value: "callee saw 2 keys, caller has map[caller:1]"},
		byRef: &parityOutcome{value: "callee saw 2 keys, caller has map[callee:1 caller:1]"},
	},
	{
		name: "BytesMutatedByCallee",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			mine := []byte{1, 2, 3}
			got, err := parityFlip.Call(ctx, p, mine)
			return fmt.Sprintf("caller has %v, result %v", mine, got), err
		},
		want:  parityOutcome{value: "caller has [1 2 3], result [254 2 3]"},
		byRef: &parityOutcome{value: "caller has [254 2 3], result [254 2 3]"},
	},
	{
		name: "ChanInAnyArgument",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			return parityAny.Call(ctx, p, chanHolder{C: make(chan int)})
		},
		want:  parityOutcome{err: tractor.ErrUnencodable},
		byRef: &parityOutcome{value: 1},
	},
	{
		name: "ChanInAnyResult",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			v, err := parityChanResult.Call(ctx, p, struct{}{})
			if err != nil {
				return nil, err
			}
			_, isChan := v.(chanHolder)
			return isChan, nil
		},
		want:  parityOutcome{err: tractor.ErrUnencodable},
		byRef: &parityOutcome{value: true},
	},
	{
		name: "ChanInStartedValue",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			c, err := parityChanStarted.Open(ctx, p, struct{}{})
			if err != nil {
				return nil, err
			}
			first, err := tractor.First[any](c)
			if err != nil {
				return nil, err
			}
			if _, err := parityChanStarted.Result(ctx, c); err != nil {
				return nil, err
			}
			_, isChan := first.(chanHolder)
			return isChan, nil
		},
		want:  parityOutcome{err: tractor.ErrUnencodable},
		byRef: &parityOutcome{value: true},
	},
	{
		name: "ChanInAnyStreamItem",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			s, err := parityChanItem.Open(ctx, p, struct{}{})
			if err != nil {
				return nil, err
			}
			items, err := receiveItems(ctx, s)
			var types []string
			for _, v := range items {
				types = append(types, fmt.Sprintf("%T", v))
			}
			return types, err
		},
		want:  parityOutcome{err: tractor.ErrUnencodable},
		byRef: &parityOutcome{value: []string{"tractor_test.chanHolder"}},
	},
	{
		name: "TimeWithZone",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			sent := time.Date(2024, 3, 31, 1, 30, 0, 123456789, parityZone)
			got, err := parityTime.Call(ctx, p, sent)
			_, offset := got.Zone()
			return fmt.Sprintf("same instant %v, offset %d", got.Equal(sent), offset), err
		},
		want: parityOutcome{value: fmt.Sprintf("same instant true, offset %d", 5*3600+30*60)},
	},
	{
		name: "IntItemsIntoInt64",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			c, err := parityInts.Open(ctx, p, 3)
			if err != nil {
				return nil, err
			}
			s, err := tractor.OpenStream[struct{}, int64](c)
			if err != nil {
				return nil, err
			}
			items, err := receiveItems(ctx, s)
			if err != nil {
				return items, err
			}
			_, err = parityInts.Result(ctx, c)
			return items, err
		},
		want: parityOutcome{value: []int64{0, 1, 2}},
	},
	{
		name: "IntItemsSentToInt64Receiver",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			c, err := paritySum.Open(ctx, p, struct{}{})
			if err != nil {
				return nil, err
			}
			s, err := tractor.OpenStream[int, struct{}](c)
			if err != nil {
				return nil, err
			}
			for i := range 4 {
				if err := s.Send(ctx, i); err != nil {
					return nil, err
				}
			}
			if err := s.Close(); err != nil {
				return nil, err
			}
			return paritySum.Result(ctx, c)
		},
		want: parityOutcome{value: int64(6)},
	},
	{
		name: "NestedStructs",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			sent := parityNested{
				Name:  "outer",
				Inner: &parityInner{N: 1, Tags: []string{"a"}},
				List:  []parityInner{{N: 2}, {N: 3, Tags: []string{"b", "c"}}},
				ByKey: map[string]parityInner{"k": {N: 4, Tags: []string{"d"}}},
			}
			got, err := parityNestedEcho.Call(ctx, p, sent)
			return fmt.Sprintf("equal %v, same pointer %v", reflect.DeepEqual(got, sent), got.Inner == sent.Inner), err
		},
		want:  parityOutcome{value: "equal true, same pointer false"},
		byRef: &parityOutcome{value: "equal true, same pointer true"},
	},
	{
		name: "NilAndEmptySlicesAndMaps",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			got, err := parityNilsEcho.Call(ctx, p, parityNils{EmptySlice: []int{}, EmptyMap: map[string]int{}})
			return fmt.Sprintf("nil slice %v, empty slice %v, nil map %v, empty map %v",
				got.NilSlice == nil, got.EmptySlice != nil && len(got.EmptySlice) == 0,
				got.NilMap == nil, got.EmptyMap != nil && len(got.EmptyMap) == 0), err
		},
		want: parityOutcome{value: "nil slice true, empty slice true, nil map true, empty map true"},
	},
	{
		name: "ArgumentNearFrameLimit",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			return parityLen.Call(ctx, p, strings.Repeat("a", nearLimit))
		},
		want: parityOutcome{value: nearLimit},
	},
	{
		name: "ArgumentAtFrameLimit",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			return parityLen.Call(ctx, p, strings.Repeat("a", frameLimit))
		},
		want:  parityOutcome{err: tractor.ErrMessageTooLarge},
		byRef: &parityOutcome{value: frameLimit},
	},
	{
		name: "ResultNearFrameLimit",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			s, err := parityMake.Call(ctx, p, nearLimit)
			return len(s), err
		},
		want: parityOutcome{value: nearLimit},
	},
	{
		name: "ResultAtFrameLimit",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			s, err := parityMake.Call(ctx, p, frameLimit)
			return len(s), err
		},
		want:  parityOutcome{err: tractor.ErrMessageTooLarge},
		byRef: &parityOutcome{value: frameLimit},
	},
	{
		name: "ErrorTextAtFrameLimit",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			_, err := parityFail.Call(ctx, p, frameLimit)
			var re *tractor.RemoteError
			if errors.As(err, &re) && !errors.Is(err, tractor.ErrMessageTooLarge) {
				return len(re.Message), nil
			}
			return nil, err
		},
		want:  parityOutcome{err: tractor.ErrMessageTooLarge},
		byRef: &parityOutcome{value: frameLimit},
	},
	// The error rows: what a caller can match of a callee's failure.
	{
		name: "WrappedSentinel",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			_, err := errFail.Call(ctx, p, "notexist")
			return fmt.Sprintf("fs.ErrNotExist %v", errors.Is(err, fs.ErrNotExist)), nil
		},
		want: parityOutcome{value: "fs.ErrNotExist true"},
	},
	{
		name: "RegisteredErrorType",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			_, err := errFail.Call(ctx, p, "quota:ann")
			var q *quotaError
			if !errors.As(err, &q) {
				return nil, err
			}
			return fmt.Sprintf("%s %d, cause fs.ErrPermission %v", q.User, q.Limit, errors.Is(err, fs.ErrPermission)), nil
		},
		want: parityOutcome{value: "ann 3, cause fs.ErrPermission true"},
	},
	{
		name: "UnregisteredErrorType",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			_, err := errFail.Call(ctx, p, "unregistered")
			var re *tractor.RemoteError
			var pe *plainError
			if !errors.As(err, &re) {
				return nil, err
			}
			return fmt.Sprintf("%s %q, value %v", re.Type, re.Message, errors.As(err, &pe)), nil
		},
		want:  parityOutcome{value: `*tractor_test.plainError "plain: kept as text", value false`},
		byRef: &parityOutcome{value: `*tractor_test.plainError "plain: kept as text", value true`},
	},
	{
		name: "JoinedErrors",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			_, err := errFail.Call(ctx, p, "joined")
			var q *quotaError
			return fmt.Sprintf("quota %v, fs.ErrExist %v", errors.As(err, &q) && q.User == "joe", errors.Is(err, fs.ErrExist)), nil
		},
		want: parityOutcome{value: "quota true, fs.ErrExist true"},
	},
	{
		name: "FailureAfterItemsNotEOF",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			c, err := failStream.Open(ctx, p, failStreamArg{N: 2})
			if err != nil {
				return nil, err
			}
			s, err := tractor.OpenStream[int, int](c)
			if err != nil {
				return nil, err
			}
			items, err := receiveItems(ctx, s)
			var re *tractor.RemoteError
			return fmt.Sprintf("items %v, then a RemoteError %v", items, errors.As(err, &re) && err != io.EOF), nil
		},
		want: parityOutcome{value: "items [0 1], then a RemoteError true"},
	},
	{
		name: "SendAfterPeerReturned",
		do: func(ctx context.Context, p *tractor.Portal) (any, error) {
			c, err := returnAfter.Open(ctx, p, 0)
			if err != nil {
				return nil, err
			}
			s, err := tractor.OpenStream[int, int](c)
			if err != nil {
				return nil, err
			}
			for _, err := range s.All(ctx) { // to the peer's end, not closing this side
				if err != nil {
					return nil, err
				}
			}
			if _, err := returnAfter.Result(ctx, c); err != nil {
				return nil, err
			}
			return nil, s.Send(ctx, 1)
		},
		want: parityOutcome{err: tractor.ErrStreamClosed},
	},
}

// TestParity runs parityCases over every hosting, in one worker per
// hosting, and checks that each still serves calls after each case.
func TestParity(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, parityEndpoints, func(ctx context.Context, p *tractor.Portal) {
				for _, c := range parityCases {
					t.Run(c.name, func(t *testing.T) {
						cctx, cancel := context.WithTimeout(ctx, hangBound)
						defer cancel()
						want := c.want
						if h.byRef() && c.byRef != nil {
							want = *c.byRef
						}
						got, err := c.do(cctx, p)
						checkParity(t, got, err, want)
						if n, err := parityLen.Call(ctx, p, "ok"); n != 2 || err != nil {
							t.Fatalf("the next call on the same portal = %d, %v; want 2", n, err)
						}
					})
				}
			})
		})
	}
}

// receiveItems receives s's items until its end, and closes it.
func receiveItems[S, R any](ctx context.Context, s *tractor.MsgStream[S, R]) ([]R, error) {
	defer s.Close()
	var items []R
	for v, err := range s.All(ctx) {
		if err != nil {
			return items, err
		}
		items = append(items, v)
	}
	return items, nil
}

// checkParity checks one observation against the outcome wanted.
func checkParity(t *testing.T, got any, err error, want parityOutcome) {
	t.Helper()
	if want.err != nil {
		if !errors.Is(err, want.err) {
			t.Fatalf("got %s, error %s; want an error matching %v", short(got), short(err), want.err)
		}
		return
	}
	if err != nil {
		t.Fatalf("error %s; want %s", short(err), short(want.value))
	}
	if !reflect.DeepEqual(got, want.value) {
		t.Fatalf("got %s; want %s", short(got), short(want.value))
	}
}

// short formats v, cut to a length a failure message can show.
func short(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// parityOneShotCases are value cases of a one-shot actor: its invocation's
// argument and its result cross as a call's do. run starts the one-shot
// in n and returns what its caller observes, once Result has returned.
var parityOneShotCases = []struct {
	name  string
	run   func(ctx context.Context, n *tractor.Nursery) (any, error)
	want  parityOutcome
	byRef *parityOutcome
}{
	{
		name: "MapMutatedByCallee",
		run: func(ctx context.Context, n *tractor.Nursery) (any, error) {
			m := map[string]int{"caller": 1}
			p, err := n.RunInActor(ctx, "oneshot", parityMutate.Bind(m), tractor.Expose(parityEndpoints...))
			if err != nil {
				return nil, err
			}
			keys, err := parityMutate.Result(ctx, p)
			return fmt.Sprintf("callee saw %d keys, caller has %v", keys, m), err
		},
		want:  parityOutcome{value: "callee saw 2 keys, caller has map[caller:1]"},
		byRef: &parityOutcome{value: "callee saw 2 keys, caller has map[callee:1 caller:1]"},
	},
	{
		name: "ChanInAnyArgument",
		run: func(ctx context.Context, n *tractor.Nursery) (any, error) {
			p, err := n.RunInActor(ctx, "oneshot", parityAny.Bind(chanHolder{C: make(chan int)}), tractor.Expose(parityEndpoints...))
			if err != nil {
				return nil, err
			}
			return parityAny.Result(ctx, p)
		},
		want:  parityOutcome{err: tractor.ErrUnencodable},
		byRef: &parityOutcome{value: 1},
	},
	{
		name: "ResultAtFrameLimit",
		run: func(ctx context.Context, n *tractor.Nursery) (any, error) {
			p, err := n.RunInActor(ctx, "oneshot", parityMake.Bind(frameLimit), tractor.Expose(parityEndpoints...))
			if err != nil {
				return nil, err
			}
			s, err := parityMake.Result(ctx, p)
			return len(s), err
		},
		want:  parityOutcome{err: tractor.ErrMessageTooLarge},
		byRef: &parityOutcome{value: frameLimit},
	},
}

// TestParityOneShot runs parityOneShotCases over every hosting. A
// one-shot that fails fails its nursery, with the same error.
func TestParityOneShot(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			for _, c := range parityOneShotCases {
				t.Run(c.name, func(t *testing.T) {
					want := c.want
					if h.byRef() && c.byRef != nil {
						want = *c.byRef
					}
					var got any
					var err error
					nerr := run(t, h, func(ctx context.Context) error {
						return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
							got, err = c.run(ctx, n)
							return nil
						})
					})
					checkParity(t, got, err, want)
					if want.err != nil && !errors.Is(nerr, want.err) {
						t.Errorf("nursery: %s; want an error matching %v", short(nerr), want.err)
					} else if want.err == nil && nerr != nil {
						t.Errorf("nursery: %s", short(nerr))
					}
				})
			}
		})
	}
}
