package tractor

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/tractor-go/tractor/transport"
	"github.com/vmihailenco/msgpack/v5"
)

// wireBytes is an error payload as it arrives from a wire: msgpack bytes
// that decode themselves.
type wireBytes []byte

func (b wireBytes) Decode(dst any) error { return msgpack.Unmarshal(b, dst) }

func encodeRemote(t testing.TB, re *RemoteError) wireBytes {
	t.Helper()
	b, err := msgpack.Marshal(re)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chainOf returns a tree of depth nodes, one below the other.
func chainOf(depth int) *RemoteError {
	re := &RemoteError{Type: "leaf", Message: "leaf"}
	for i := 1; i < depth; i++ {
		re = &RemoteError{Type: "node", Message: "node " + strconv.Itoa(i), Errors: []*RemoteError{re}}
	}
	return re
}

// fanOf returns a tree of a top error with n members.
func fanOf(n int) *RemoteError {
	re := &RemoteError{Type: "top"}
	for i := range n {
		re.Errors = append(re.Errors, &RemoteError{Type: "member", Message: strconv.Itoa(i)})
	}
	return re
}

// TestErrorChainTreeLimits checks that a peer's error tree over the
// limits is refused as malformed, naming the limit, and one at the limits
// is taken; a nil member is dropped.
func TestErrorChainTreeLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		re   *RemoteError
		want string // the refusal, or "" if taken
	}{
		{"deep at the limit", chainOf(maxErrorDepth), ""},
		{"too deep", chainOf(maxErrorDepth + 1), "deeper than 32"},
		{"wide at the limit", fanOf(maxErrorNodes - 1), ""},
		{"too wide", fanOf(maxErrorNodes), "more than 256 errors"},
		{"nil member", &RemoteError{Errors: []*RemoteError{nil, {Message: "m"}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			re, err := decodeRemote(encodeRemote(t, tc.re))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("decodeRemote: %v", err)
				}
				for _, m := range re.Errors {
					if m == nil {
						t.Fatal("a nil member was kept")
					}
				}
				return
			}
			if !errors.Is(err, transport.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decodeRemote: %v, want transport.ErrMalformed naming %q", err, tc.want)
			}
		})
	}
}

// TestErrorChainBoxFitsLimits checks that the sender cuts a tree over the
// limits, so that the receiver takes it, and that its members keep their
// values across the wire.
func TestErrorChainBoxFitsLimits(t *testing.T) {
	self := ActorID{Name: "self", UID: "u"}
	var wide []error
	for i := range 2 * maxErrorNodes {
		wide = append(wide, fmt.Errorf("member %d: %w", i, io.EOF))
	}
	deep := error(io.ErrUnexpectedEOF)
	for i := range 2 * maxErrorDepth {
		deep = errors.Join(deep, fmt.Errorf("level %d", i))
	}
	for _, tc := range []struct {
		name     string
		err      error
		sentinel error
	}{
		{"wide", errors.Join(wide...), io.EOF},
		{"deep", deep, io.ErrUnexpectedEOF},
	} {
		err := tc.err
		t.Run(tc.name, func(t *testing.T) {
			out := boxError(err, self)
			if d, n := treeSize(&out); d > maxErrorDepth || n > maxErrorNodes {
				t.Fatalf("boxed tree %d deep with %d errors, over the limits", d, n)
			}
			re, derr := decodeRemote(encodeRemote(t, &out))
			if derr != nil {
				t.Fatalf("decodeRemote: %v", derr)
			}
			if re.Message != err.Error() || !errors.Is(&re, tc.sentinel) {
				t.Errorf("the cut tree lost its text or its sentinels: %v", &re)
			}
		})
	}
}

// TestErrorChainUnknownCode checks that an error whose code, or type code, the
// receiver does not know, or whose fields do not decode, degrades to its
// text rather than failing.
func TestErrorChainUnknownCode(t *testing.T) {
	for _, re := range []*RemoteError{
		{Type: "x.T", Message: "text", Code: "elsewhere.sentinel", TypeCode: "elsewhere.type", Fields: map[string]any{"A": 1}},
		{Type: "*fs.PathError", Message: "text", TypeCode: "fs.path_error", Fields: map[string]any{"Op": []any{1, 2}}},
	} {
		got, err := decodeRemote(encodeRemote(t, re))
		if err != nil {
			t.Fatalf("decodeRemote: %v", err)
		}
		var pe *fs.PathError
		if got.Message != "text" || len(got.Unwrap()) != 0 || errors.As(&got, &pe) || errors.Is(&got, fs.ErrNotExist) {
			t.Errorf("got %+v, want the text alone", got)
		}
	}
}

// FuzzDecodeRemote feeds error payloads to decodeRemote: it never panics,
// and what it takes is within the limits.
func FuzzDecodeRemote(f *testing.F) {
	for _, re := range []*RemoteError{
		chainOf(3), fanOf(3),
		{TypeCode: "fs.path_error", Fields: map[string]any{"Op": "open", "Path": "/x", "Err": RemoteError{Message: "m", Code: "fs.not_exist"}}},
		{TypeCode: "fs.path_error", Fields: map[string]any{"Err": map[string]any{"Errors": []any{1}}}},
	} {
		f.Add([]byte(encodeRemote(f, re)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// b arrives as a wire delivers a payload: checked on arrival
		// (declared lengths against the bytes present), then decoded.
		m, err := transport.RoundTrip(transport.Msg{Kind: transport.KindError, CID: 1, Payload: msgpack.RawMessage(b)})
		if err != nil {
			return
		}
		re, err := decodeRemote(m.Payload)
		if err != nil {
			return
		}
		if d, n := treeSize(&re); d > maxErrorDepth || n > maxErrorNodes {
			t.Fatalf("took a tree %d deep with %d errors", d, n)
		}
		_ = re.Error()
		_ = errors.Is(&re, fs.ErrNotExist)
		var pe *fs.PathError
		_ = errors.As(&re, &pe)
	})
}

// errNumLevel and errNum are a registered error type with a named numeric
// field that nothing else decodes or declares.
type (
	errNumLevel uint8
	errNum      struct {
		L errNumLevel
		P *errNumLevel
	}
)

func (e errNum) Error() string { return fmt.Sprintf("level %d", e.L) }

// TestErrorChainFieldsNumberRule: the fields of a registered error
// type decode by the number rule, as any payload does, though no
// declaration names the type: 300 into a uint8 of its own is refused,
// where it used to arrive as 44, and 255 is taken.
func TestErrorChainFieldsNumberRule(t *testing.T) {
	RegisterError[errNum]("test.errchain_internal.errnum")
	et := loadTypes().byCode["test.errchain_internal.errnum"]
	for _, fields := range []map[string]any{{"L": int64(300)}, {"P": uint16(256)}} {
		if v, err := et.build(fields); err == nil || !strings.Contains(err.Error(), "does not fit in tractor.errNumLevel") {
			t.Errorf("build(%v) = %+v, %v; want an error saying it does not fit", fields, v, err)
		}
	}
	v, err := et.build(map[string]any{"L": int64(255), "P": int8(7)})
	if e, ok := v.(errNum); err != nil || !ok || e.L != 255 || e.P == nil || *e.P != 7 {
		t.Errorf("build = %+v, %v; want L 255, P 7", v, err)
	}
}

// TestErrorChainDropUnencodableCopies: dropping the values the codec
// cannot carry leaves the tree it was given as it was (its members may be
// shared with the error it was relayed from, still held in this process)
// and copies what it changes.
func TestErrorChainDropUnencodableCopies(t *testing.T) {
	bad := &RemoteError{Message: "bad", TypeCode: "x.bad", Fields: map[string]any{"F": func() {}}}
	good := &RemoteError{Message: "good", TypeCode: "x.good", Fields: map[string]any{"N": 1}}
	members := []*RemoteError{good, bad}
	out, dropped := dropUnencodable(RemoteError{Message: "top", Errors: members})
	if !dropped || out.Errors[1].TypeCode != "" || out.Errors[0] != good {
		t.Fatalf("dropped %v, members %+v, %+v: want the bad member's value dropped, the good one kept", dropped, out.Errors[0], out.Errors[1])
	}
	if members[1] != bad || bad.TypeCode != "x.bad" || bad.Fields == nil {
		t.Errorf("the tree given was changed: member %+v", members[1])
	}
}
