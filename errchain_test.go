package tractor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tractor-go/tractor"
)

// quotaError is a user's error type registered to cross processes, by
// pointer; limitError is one registered by value; plainError is not
// registered.
type quotaError struct {
	User  string
	Limit int
	Cause error
}

func (e *quotaError) Error() string { return fmt.Sprintf("quota of %s exceeded (%d)", e.User, e.Limit) }
func (e *quotaError) Unwrap() error { return e.Cause }

type limitError struct{ Max int }

func (e limitError) Error() string { return fmt.Sprintf("over the limit of %d", e.Max) }

type plainError struct{ Detail string }

func (e *plainError) Error() string { return "plain: " + e.Detail }

// detailError is a registered error type with a field of type any, which
// may hold a value the codec cannot carry.
type detailError struct{ Detail any }

func (e *detailError) Error() string {
	if _, ok := e.Detail.(func()); ok {
		return "detail: a func"
	}
	return fmt.Sprintf("detail: %v", e.Detail)
}

// expiredError is a registered error type with a time field: its zone
// crosses a wire with it.
type expiredError struct{ At time.Time }

func (e *expiredError) Error() string { return "expired at " + e.At.Format(time.RFC3339) }

// expiredAt is the time of the expiredError a callee returns, in a zone of
// its own.
var expiredAt = time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("Q", 3600))

func init() {
	tractor.RegisterError[*expiredError]("errchain_test.expired")
	tractor.RegisterError[*quotaError]("errchain_test.quota")
	tractor.RegisterError[limitError]("errchain_test.limit")
	tractor.RegisterError[*detailError]("errchain_test.detail")
}

// failure is the error a callee returns for kind; "quota:NAME" is a
// quotaError of user NAME.
func failure(ctx context.Context, kind string) error {
	if user, ok := strings.CutPrefix(kind, "quota:"); ok {
		return fmt.Errorf("charging: %w", &quotaError{User: user, Limit: 3, Cause: fs.ErrPermission})
	}
	switch kind {
	case "notexist":
		return fmt.Errorf("loading config: %w", fs.ErrNotExist)
	case "patherror":
		_, err := os.Open("/nonexistent/errchain")
		return err
	case "limit":
		return fmt.Errorf("checking: %w", limitError{Max: 7})
	case "unregistered":
		return &plainError{Detail: "kept as text"}
	case "eof":
		return io.EOF
	case "deadline":
		c, cancel := context.WithDeadline(ctx, time.Now())
		defer cancel()
		<-c.Done()
		return c.Err()
	case "joined":
		return errors.Join(&quotaError{User: "joe", Limit: 1}, fmt.Errorf("and: %w", fs.ErrExist))
	case "detail":
		return &detailError{Detail: "kept"}
	case "detail-nil":
		return &detailError{}
	case "expired":
		return &expiredError{At: expiredAt}
	case "unencodable":
		// One member's value the codec cannot carry, beside another's.
		return errors.Join(&quotaError{User: "kim", Limit: 2}, &detailError{Detail: func() {}})
	}
	return errors.New("unknown kind " + kind)
}

// deniedError wraps an error and adds fs.ErrPermission to what it
// matches: a relay that names a sentinel of its own.
type deniedError struct{ error }

func (e deniedError) Unwrap() error        { return e.error }
func (e deniedError) Is(target error) bool { return target == fs.ErrPermission }

// route is where errRoute takes a failure: through the actors of Via, one
// below the other, to the failing one; with Fan, that one starts an actor
// per "name=kind" entry, has each fail with its kind, and returns their
// errors joined.
type route struct {
	Kind string
	Via  []string
	Fan  []string
	// Denied has the first actor of Via's caller wrap fs.ErrPermission
	// around the error it relays.
	Denied bool
}

var (
	errFail    = tractor.Func("errchain.fail", func(ctx context.Context, kind string) (int, error) { return 0, failure(ctx, kind) })
	errFailCtx = tractor.Ctx("errchain.failctx", func(c *tractor.Context, kind string) (int, error) { return 0, failure(c, kind) })
	errRoute   *tractor.FuncEndpoint[route, int]
)

func init() {
	errRoute = tractor.Func("errchain.route", func(ctx context.Context, r route) (int, error) {
		if len(r.Via) == 0 && len(r.Fan) == 0 {
			return 0, failure(ctx, r.Kind)
		}
		return 0, tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			if len(r.Via) > 0 {
				p, err := n.StartActor(ctx, r.Via[0], tractor.Expose(errRoute))
				if err != nil {
					return err
				}
				_, err = errRoute.Call(ctx, p, route{Kind: r.Kind, Via: r.Via[1:], Fan: r.Fan})
				if r.Denied {
					return fmt.Errorf("via %s: %w", r.Via[0], deniedError{err})
				}
				return fmt.Errorf("via %s: %w", r.Via[0], err)
			}
			var errs []error
			for _, leaf := range r.Fan {
				name, kind, _ := strings.Cut(leaf, "=")
				p, err := n.StartActor(ctx, name, tractor.Expose(errRoute))
				if err != nil {
					return err
				}
				_, err = errRoute.Call(ctx, p, route{Kind: kind})
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		})
	})
}

// TestErrorChain runs the error cases over every hosting, the failing call
// made as a function call and over a context dialog (in-process, one runs
// inline and the other over a dialog), and checks what errors.Is and
// errors.As find through the caller's *RemoteError.
func TestErrorChain(t *testing.T) {
	cases := []struct {
		kind  string
		check func(t *testing.T, h hosting, err error, re *tractor.RemoteError)
	}{
		{"notexist", func(t *testing.T, h hosting, err error, re *tractor.RemoteError) {
			if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) {
				t.Errorf("errors.Is(err, fs.ErrNotExist) = %v, want only that", errors.Is(err, fs.ErrNotExist))
			}
			if re.Code != "fs.not_exist" || re.Message != "loading config: file does not exist" {
				t.Errorf("code %q, message %q", re.Code, re.Message)
			}
		}},
		{"patherror", func(t *testing.T, h hosting, err error, re *tractor.RemoteError) {
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Op != "open" || pe.Path != "/nonexistent/errchain" {
				t.Fatalf("errors.As *fs.PathError: %+v", pe)
			}
			if !errors.Is(pe, fs.ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the path error does not match fs.ErrNotExist: %v", pe)
			}
			if !strings.Contains(pe.Error(), "no such file or directory") {
				t.Errorf("path error text %q", pe.Error())
			}
		}},
		{"quota:ann", func(t *testing.T, h hosting, err error, re *tractor.RemoteError) {
			var q *quotaError
			if !errors.As(err, &q) {
				t.Fatalf("errors.As(*quotaError) found nothing in %v", err)
			}
			if q.User != "ann" || q.Limit != 3 {
				t.Errorf("quotaError fields %+v, want User ann, Limit 3", q)
			}
			if !errors.Is(q, fs.ErrPermission) || !errors.Is(err, fs.ErrPermission) {
				t.Errorf("the quota error's cause does not match fs.ErrPermission")
			}
			if re.TypeCode != "errchain_test.quota" || re.Type != "*fmt.wrapError" {
				t.Errorf("type code %q, type %q", re.TypeCode, re.Type)
			}
		}},
		{"limit", func(t *testing.T, h hosting, err error, re *tractor.RemoteError) {
			var l limitError
			if !errors.As(err, &l) || l.Max != 7 {
				t.Errorf("errors.As(limitError) = %+v in %v", l, err)
			}
		}},
		{"unregistered", func(t *testing.T, h hosting, err error, re *tractor.RemoteError) {
			if re.Type != "*tractor_test.plainError" || re.Message != "plain: kept as text" {
				t.Errorf("type %q, message %q", re.Type, re.Message)
			}
			// Its value stays only where values travel by reference:
			// in the process where it happened, without wire-check
			// (which shows what a process would see).
			var pe *plainError
			if found, byRef := errors.As(err, &pe), h.byRef(); found != byRef {
				t.Errorf("errors.As(*plainError) = %v, want %v", found, byRef)
			}
		}},
		{"eof", func(t *testing.T, h hosting, err error, re *tractor.RemoteError) {
			if !errors.Is(err, io.EOF) || re.Code != "io.eof" {
				t.Errorf("errors.Is(err, io.EOF) = %v, code %q", errors.Is(err, io.EOF), re.Code)
			}
		}},
		{"deadline", func(t *testing.T, h hosting, err error, re *tractor.RemoteError) {
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				t.Errorf("errors.Is(err, context.DeadlineExceeded) = %v", errors.Is(err, context.DeadlineExceeded))
			}
		}},
		{"joined", func(t *testing.T, h hosting, err error, re *tractor.RemoteError) {
			var q *quotaError
			if !errors.As(err, &q) || q.User != "joe" || !errors.Is(err, fs.ErrExist) {
				t.Errorf("errors.As(*quotaError) = %+v, errors.Is(fs.ErrExist) = %v", q, errors.Is(err, fs.ErrExist))
			}
			if len(re.Errors) != 2 || re.Errors[0].TypeCode != "errchain_test.quota" || re.Errors[1].Code != "fs.exist" {
				t.Fatalf("members %+v, want the quota error and fs.ErrExist", re.Errors)
			}
			if re.Errors[1].Type != "*fmt.wrapError" || re.Errors[1].Actor.Name != "worker" {
				t.Errorf("second member: type %q, actor %v", re.Errors[1].Type, re.Errors[1].Actor)
			}
		}},
		{"detail", func(t *testing.T, h hosting, err error, re *tractor.RemoteError) {
			var d *detailError
			if !errors.As(err, &d) || d.Detail != "kept" {
				t.Errorf("errors.As(*detailError) = %+v in %v", d, err)
			}
		}},
		{"expired", func(t *testing.T, h hosting, err error, re *tractor.RemoteError) {
			var x *expiredError
			if !errors.As(err, &x) {
				t.Fatalf("errors.As(*expiredError) found nothing in %v", err)
			}
			abbr, offset := x.At.Zone()
			if !x.At.Equal(expiredAt) || abbr != "Q" || offset != 3600 {
				t.Errorf("At = %v (zone %s %+d), want %v", x.At, abbr, offset, expiredAt)
			}
		}},
		// A member whose value cannot be encoded loses only that value:
		// the tree, the other member's value and its own text and type
		// arrive, not an error saying that the error was not sent.
		{"unencodable", func(t *testing.T, h hosting, err error, re *tractor.RemoteError) {
			if errors.Is(err, tractor.ErrUnencodable) {
				t.Fatalf("the whole error was replaced: %v", err)
			}
			var q *quotaError
			if !errors.As(err, &q) || q.User != "kim" || q.Limit != 2 {
				t.Errorf("errors.As(*quotaError) = %+v in %v", q, err)
			}
			if len(re.Errors) != 2 {
				t.Fatalf("members %+v, want 2", re.Errors)
			}
			bad := re.Errors[1]
			if bad.Type != "*tractor_test.detailError" || bad.Message != "detail: a func" || bad.Actor.Name != "worker" {
				t.Errorf("second member: type %q, message %q, actor %v", bad.Type, bad.Message, bad.Actor)
			}
			var d *detailError
			if found, byRef := errors.As(bad, &d), h.byRef(); found != byRef {
				t.Errorf("errors.As(*detailError) = %v, want %v", found, byRef)
			}
		}},
	}
	calls := []struct {
		name string
		call func(ctx context.Context, p *tractor.Portal, kind string) error
	}{
		{"func", func(ctx context.Context, p *tractor.Portal, kind string) error {
			_, err := errFail.Call(ctx, p, kind)
			return err
		}},
		{"ctx", func(ctx context.Context, p *tractor.Portal, kind string) error {
			c, err := errFailCtx.Open(ctx, p, kind)
			if err != nil {
				return err
			}
			_, err = errFailCtx.Result(ctx, c)
			return err
		}},
	}
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(errFail, errFailCtx), func(ctx context.Context, p *tractor.Portal) {
				for _, call := range calls {
					for _, c := range cases {
						t.Run(call.name+"/"+c.kind, func(t *testing.T) {
							err := call.call(ctx, p, c.kind)
							re := asRemote(t, err)
							if re.Actor.Name != "worker" {
								t.Errorf("error from %v, want the worker", re.Actor)
							}
							c.check(t, h, err, re)
						})
					}
				}
			})
		})
	}
}

// TestErrorChainRelayed checks errors that cross two hops or more: a
// registered error from three levels down, and a joined error of two
// children of a grandchild's nursery, relayed through a child: each member
// keeps its own actor, type, code and value.
func TestErrorChainRelayed(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			withWorker(t, h, eps(errRoute), func(ctx context.Context, p *tractor.Portal) {
				t.Run("three levels", func(t *testing.T) {
					_, err := errRoute.Call(ctx, p, route{Kind: "quota:deep", Via: []string{"mid", "leaf"}})
					re := asRemote(t, err)
					var q *quotaError
					if !errors.As(err, &q) || q.User != "deep" || q.Limit != 3 || !errors.Is(err, fs.ErrPermission) {
						t.Fatalf("errors.As(*quotaError) = %+v in %v", q, err)
					}
					var path []string
					for _, id := range re.RelayPath {
						path = append(path, id.Name)
					}
					if re.Actor.Name != "leaf" || !slices.Equal(path, []string{"leaf", "mid", "worker"}) {
						t.Errorf("error from %v via %v, want leaf via mid and worker", re.Actor, path)
					}
					if want := "via mid: via leaf: charging: quota of deep exceeded (3)"; re.Message != want {
						t.Errorf("message %q, want %q", re.Message, want)
					}
				})
				t.Run("sentinel added by a relay", func(t *testing.T) {
					_, err := errRoute.Call(ctx, p, route{Kind: "unregistered", Via: []string{"mid"}, Denied: true})
					re := asRemote(t, err)
					if re.Actor.Name != "mid" || re.Code != "fs.permission" || !errors.Is(err, fs.ErrPermission) {
						t.Errorf("error from %v, code %q: %v; want mid's, with the code of fs.ErrPermission its relay added", re.Actor, re.Code, err)
					}
				})
				t.Run("joined", func(t *testing.T) {
					_, err := errRoute.Call(ctx, p, route{Via: []string{"mid"}, Fan: []string{"leafA=quota:a", "leafB=notexist"}})
					re := asRemote(t, err)
					var q *quotaError
					if !errors.As(err, &q) || q.User != "a" || !errors.Is(err, fs.ErrNotExist) {
						t.Fatalf("errors.As(*quotaError) = %+v, errors.Is(fs.ErrNotExist) = %v in %v", q, errors.Is(err, fs.ErrNotExist), err)
					}
					if re.Actor.Name != "mid" || len(re.Errors) != 2 {
						t.Fatalf("error from %v with %d members, want mid's joined error of 2", re.Actor, len(re.Errors))
					}
					a, b := re.Errors[0], re.Errors[1]
					if a.Actor.Name != "leafA" || a.TypeCode != "errchain_test.quota" || !errors.As(a, &q) || q.User != "a" {
						t.Errorf("first member from %v, type code %q, value %+v", a.Actor, a.TypeCode, q)
					}
					if b.Actor.Name != "leafB" || b.Code != "fs.not_exist" || b.Type != "*fmt.wrapError" || !errors.Is(b, fs.ErrNotExist) {
						t.Errorf("second member from %v, code %q, type %q", b.Actor, b.Code, b.Type)
					}
					if errors.As(b, &q) {
						t.Errorf("the second member matches the first's quota error")
					}
				})
			})
		})
	}
}

// Error types whose fields the wire cannot carry faithfully, nested: each
// refused by RegisterError.
type (
	nestedUnexported struct{ Inner struct{ x int } }
	funcsField       struct{ Hooks []func() }
	nestedError      struct{ Inner struct{ Err error } }
	readerField      struct{ R io.Reader }
)

func (nestedUnexported) Error() string { return "nested unexported" }
func (*funcsField) Error() string      { return "funcs" }
func (nestedError) Error() string      { return "nested error" }
func (readerField) Error() string      { return "reader" }

// TestErrorChainRegisterChecksFields: RegisterError checks the types of the
// fields of an error type all the way down, as a declaration's types are
// checked, and panics naming the field; an error field, and one of type
// any, are accepted.
func TestErrorChainRegisterChecksFields(t *testing.T) {
	for _, c := range []struct {
		field    string
		register func()
	}{
		{"Inner", func() { tractor.RegisterError[nestedUnexported]("errchain_test.bad1") }},
		{"Hooks", func() { tractor.RegisterError[*funcsField]("errchain_test.bad2") }},
		{"Inner", func() { tractor.RegisterError[nestedError]("errchain_test.bad3") }},
		{"R", func() { tractor.RegisterError[readerField]("errchain_test.bad4") }},
	} {
		func() {
			defer func() {
				v := recover()
				if msg := fmt.Sprint(v); v == nil || !strings.Contains(msg, "field "+c.field) {
					t.Errorf("RegisterError panicked with %v, want one naming field %s", v, c.field)
				}
			}()
			c.register()
		}()
	}
}

// TestErrorChainRemoteErrorText: a RemoteError's text names its source
// and, when it was relayed, the actors it passed through, in order; a
// death report gives its ActorDied to errors.As, which matches
// ErrActorDied and ErrActorGone only, and an error that reports no death
// gives none.
func TestErrorChainRemoteErrorText(t *testing.T) {
	a := tractor.ActorID{Name: "a", UID: "aaaaaaaa"}
	b := tractor.ActorID{Name: "b", UID: "bbbbbbbb"}
	c := tractor.ActorID{Name: "c", UID: "cccccccc"}
	for _, tc := range []struct {
		path []tractor.ActorID
		want string
	}{
		{nil, "actor a[aaaaaaaa]: boom"},
		{[]tractor.ActorID{a}, "actor a[aaaaaaaa]: boom"},
		{[]tractor.ActorID{a, b}, "actor a[aaaaaaaa] (via b[bbbbbbbb]): boom"},
		{[]tractor.ActorID{a, b, c}, "actor a[aaaaaaaa] (via b[bbbbbbbb], c[cccccccc]): boom"},
	} {
		if got := (&tractor.RemoteError{Actor: a, RelayPath: tc.path, Message: "boom"}).Error(); got != tc.want {
			t.Errorf("relayed through %v: %q, want %q", tc.path, got, tc.want)
		}
	}

	died := &tractor.ActorDied{Actor: a, Pid: 42, ExitCode: 2}
	var d *tractor.ActorDied
	if !errors.As(&tractor.RemoteError{Actor: a, Died: died}, &d) || d != died {
		t.Errorf("errors.As of a death report: %v, want %v", d, died)
	}
	if !errors.Is(died, tractor.ErrActorDied) || !errors.Is(died, tractor.ErrActorGone) || errors.Is(died, context.Canceled) {
		t.Errorf("an ActorDied matches ErrActorDied %v, ErrActorGone %v, context.Canceled %v; want true, true, false",
			errors.Is(died, tractor.ErrActorDied), errors.Is(died, tractor.ErrActorGone), errors.Is(died, context.Canceled))
	}
	d = nil
	if errors.As(&tractor.RemoteError{Actor: a, Message: "boom"}, &d) {
		t.Errorf("errors.As of a failure that is no death: %v, want false", d)
	}
}

// TestErrorChainCancelCause: the cause a nursery's Cancel gives its ctx
// matches ErrContextCancelled and context.Canceled, and nothing else: it
// is not taken for a death or for any other failure.
func TestErrorChainCancelCause(t *testing.T) {
	var cause error
	err := run(t, goroutines, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			n.Cancel()
			cause = context.Cause(ctx)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(cause, tractor.ErrContextCancelled) || !errors.Is(cause, context.Canceled) {
		t.Errorf("cause %v matches not both ErrContextCancelled and context.Canceled", cause)
	}
	for _, other := range []error{tractor.ErrActorDied, tractor.ErrActorGone, context.DeadlineExceeded, io.EOF} {
		if errors.Is(cause, other) {
			t.Errorf("cause %v matches %v", cause, other)
		}
	}
}

// TestErrorChainNilField: a registered error whose field is nil crosses
// with the field still nil.
func TestErrorChainNilField(t *testing.T) {
	withWorker(t, goroutines, eps(errFail), func(ctx context.Context, p *tractor.Portal) {
		_, err := errFail.Call(ctx, p, "detail-nil")
		var de *detailError
		if !errors.As(err, &de) || de.Detail != nil {
			t.Errorf("a detailError with a nil Detail crossed as %v (As found %v)", err, de)
		}
	})
}
