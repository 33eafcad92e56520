// The user's error chain across actors: the registry of error types whose
// values cross the wire (RegisterError), how a task's error is boxed as a
// tree of *RemoteError (a joined error's members each boxed with its own
// actor, type, code and value), and how a tree that arrived is checked
// against its limits and its registered values rebuilt.

package tractor

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/tractor-go/tractor/transport"
)

// The limits of a tree of boxed errors. A sender cuts the members of a
// larger tree (their text stays in their parent's Message); a receiver
// refuses a larger one as malformed, so that a peer cannot make it build
// an unbounded tree.
const (
	// maxErrorDepth bounds how deeply members nest: the top error is at
	// depth 1.
	maxErrorDepth = 32
	// maxErrorNodes bounds the errors of a tree, the top one included.
	maxErrorNodes = 256
)

// registerStandard registers the standard library's sentinels and error
// types, so that they cross actor boundaries like the library's own. The
// sentinels come after the library's: ErrContextCancelled is more
// specific than context.Canceled, which it matches.
func registerStandard() {
	for _, s := range []sentinel{
		{"io.eof", io.EOF},
		{"io.unexpected_eof", io.ErrUnexpectedEOF},
		{"fs.not_exist", fs.ErrNotExist},
		{"fs.exist", fs.ErrExist},
		{"fs.permission", fs.ErrPermission},
		{"fs.closed", fs.ErrClosed},
		{"os.deadline_exceeded", os.ErrDeadlineExceeded},
	} {
		RegisterSentinel(s.code, s.err)
	}
	RegisterError[*fs.PathError]("fs.path_error")
}

// errorType is an error type registered with RegisterError.
type errorType struct {
	code   string
	typ    reflect.Type // the registered type: a struct or a pointer to one
	strukt reflect.Type // the struct itself
}

// errorTypes maps registered error types by type and by code.
type errorTypes struct {
	byType map[reflect.Type]*errorType
	byCode map[string]*errorType
}

// registeredTypes holds the registered error types; a registration
// replaces it, under sentinelsMu.
var registeredTypes atomic.Pointer[errorTypes]

// loadTypes returns the registered error types.
func loadTypes() *errorTypes {
	if t := registeredTypes.Load(); t != nil {
		return t
	}
	return &errorTypes{}
}

var errorIface = reflect.TypeFor[error]()

// RegisterError makes values of the error type E cross actor boundaries:
// an error a task returns whose chain holds an E (by %w, or as a member
// of a joined error) reaches a caller in another process as a
// [*RemoteError] through which [errors.As] finds an E with the same
// exported fields. E is a struct, or a pointer to one, that implements
// error; its exported fields travel as any value does (an exported field
// of type error travels as its text, type and code, and matches the same
// sentinels where it arrives), its unexported fields arrive zero. In the
// process where it happened, errors.As finds the original value, of any
// type, registered or not.
//
// Call it where E is declared, at package initialisation (as endpoints are
// declared), so that every process built from the binary knows the code;
// name the code after the package ("billing.quota"). A process that does
// not know a code gets the error as its text and type name. RegisterError
// panics if code or E is already registered (as an error type or a
// sentinel), if code is empty, or if E is not a struct or pointer to one
// whose exported fields the wire carries: each, an error field excepted,
// is checked as a declaration's types are ([transport.CheckType]), nested
// fields included. A value the codec still cannot carry (a func in a field
// of type any) costs only its own error its value: it arrives as its text,
// type and code, and the rest of the error's tree as usual.
func RegisterError[E error](code string) {
	t := reflect.TypeFor[E]()
	st := t
	if st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	if code == "" || st.Kind() != reflect.Struct {
		panic(fmt.Sprintf("tractor: RegisterError[%v](%q): the code must be given, and the type must be a struct or a pointer to one", t, code))
	}
	for i := range st.NumField() {
		f := st.Field(i)
		if !f.IsExported() || f.Type == errorIface {
			continue
		}
		if err := transport.CheckType(f.Type); err != nil {
			panic(fmt.Sprintf("tractor: RegisterError[%v](%q): field %s: %v", t, code, f.Name, err))
		}
	}
	sentinelsMu.Lock()
	defer sentinelsMu.Unlock()
	old := loadTypes()
	if et, dup := old.byType[t]; dup {
		panic(fmt.Sprintf("tractor: RegisterError[%v](%q): already registered as %q", t, code, et.code))
	}
	if codeTaken(code) {
		panic(fmt.Sprintf("tractor: RegisterError[%v](%q): the code is already registered", t, code))
	}
	next := &errorTypes{byType: make(map[reflect.Type]*errorType, len(old.byType)+1), byCode: make(map[string]*errorType, len(old.byCode)+1)}
	for k, v := range old.byType {
		next.byType[k] = v
	}
	for k, v := range old.byCode {
		next.byCode[k] = v
	}
	et := &errorType{code: code, typ: t, strukt: st}
	next.byType[t], next.byCode[code] = et, et
	registeredTypes.Store(next)
}

// codeTaken reports whether code names a sentinel or an error type.
// sentinelsMu is held.
func codeTaken(code string) bool {
	if _, ok := loadTypes().byCode[code]; ok {
		return true
	}
	for _, s := range *sentinels.Load() {
		if s.code == code {
			return true
		}
	}
	return false
}

// registeredType returns the registration of err's dynamic type, or nil.
func registeredType(err error) *errorType {
	return loadTypes().byType[reflect.TypeOf(err)]
}

// fields returns the exported fields of err, an error of type et, as they
// cross the wire: an error field as a boxed leaf (its text, type, code).
func (et *errorType) fields(err error) map[string]any {
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	m := make(map[string]any, v.NumField())
	for i := range v.NumField() {
		f := et.strukt.Field(i)
		if !f.IsExported() {
			continue
		}
		fv := v.Field(i)
		if f.Type == errorIface {
			if !fv.IsNil() {
				m[f.Name] = boxLeaf(fv.Interface().(error))
			}
			continue
		}
		m[f.Name] = fv.Interface()
	}
	return m
}

// build makes an error of type et from the fields that crossed the wire.
func (et *errorType) build(fields map[string]any) (error, error) {
	p := reflect.New(et.strukt)
	v := p.Elem()
	for name, raw := range fields {
		f, ok := et.strukt.FieldByName(name)
		if !ok || !f.IsExported() || len(f.Index) != 1 {
			continue // a field this binary's type does not have
		}
		fv := v.Field(f.Index[0])
		if f.Type == errorIface {
			var leaf RemoteError
			if err := transport.Recode(raw, &leaf); err != nil {
				return nil, fmt.Errorf("field %s: %w", name, err)
			}
			// A leaf carries no members nor value: the limits of the
			// tree hold without counting it.
			leaf.Errors, leaf.TypeCode, leaf.Fields = nil, "", nil
			fv.Set(reflect.ValueOf(&fieldError{re: &leaf}))
			continue
		}
		if raw != nil && reflect.TypeOf(raw).AssignableTo(f.Type) {
			fv.Set(reflect.ValueOf(raw))
			continue
		}
		if err := transport.Recode(raw, fv.Addr().Interface()); err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
	}
	if et.typ.Kind() == reflect.Pointer {
		return p.Interface().(error), nil
	}
	return v.Interface().(error), nil
}

// fieldError is the value of an error field of a registered error type
// that crossed the wire: its text, and the sentinels its code names.
type fieldError struct{ re *RemoteError }

func (f *fieldError) Error() string { return f.re.Message }
func (f *fieldError) Unwrap() error { return f.re }

// boxLeaf boxes err, an error field of a registered error type, as its
// text, type and the code of the sentinel it matches.
func boxLeaf(err error) RemoteError {
	return RemoteError{Type: fmt.Sprintf("%T", err), Message: err.Error(), Code: codeOf(err), value: err}
}

// boxTree boxes err, returned by a task of actor self, as a tree: err's
// chain is followed (through a join of one) to the first *RemoteError,
// which is relayed, or to a join of several errors, whose members are
// boxed in turn. The outermost error of a registered type on the way
// gives the node its value.
func boxTree(err error, self ActorID, top bool) RemoteError {
	var reg error
	var members []error
	for e := err; e != nil; {
		if re, ok := e.(*RemoteError); ok {
			return relayError(err, re, self)
		}
		if reg == nil && registeredType(e) != nil {
			reg = e
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			e = u.Unwrap()
		case interface{ Unwrap() []error }:
			errs := u.Unwrap()
			if len(errs) == 1 {
				e = errs[0]
				continue
			}
			members, e = errs, nil
		default:
			e = nil
		}
	}
	out := RemoteError{
		Actor:     self,
		Type:      fmt.Sprintf("%T", err),
		Message:   err.Error(),
		RelayPath: []ActorID{self},
		Code:      codeOf(err),
		value:     err,
	}
	if top {
		out.Stack = string(debug.Stack())
	}
	var cc *cancelCause
	if errors.As(err, &cc) {
		out.Canceller = cc.by
		out.Code = "context_cancelled"
	}
	if reg != nil {
		et := registeredType(reg)
		out.TypeCode, out.Fields = et.code, et.fields(reg)
	}
	for _, m := range members {
		if m != nil {
			b := boxTree(m, self, false)
			out.Errors = append(out.Errors, &b)
		}
	}
	return out
}

// relayError is the box of err, which is or wraps re, an error that came
// from another actor, relayed by self: re's source, with self on its relay
// path. In this process err itself stays reachable through it.
func relayError(err error, re *RemoteError, self ActorID) RemoteError {
	out := *re
	out.RelayPath = append(append([]ActorID(nil), re.RelayPath...), self)
	if err != error(re) {
		// Keep the context the relaying actor wrapped around it, and
		// the sentinel it named, if more specific.
		out.Message = strings.Replace(err.Error(), re.Error(), re.Message, 1)
		if code := codeOf(err); code != "" {
			out.Code = code
		}
		out.value = err
	}
	return out
}

// fitTree cuts the members of re's tree to the limits, copying what it
// cuts: members may be shared with the error re was relayed from.
func fitTree(re *RemoteError) {
	if depth, nodes := treeSize(re); depth <= maxErrorDepth && nodes <= maxErrorNodes {
		return
	}
	budget := maxErrorNodes
	*re = *cutTree(re, 1, &budget)
}

// treeSize returns the depth of re's tree and the number of its errors.
func treeSize(re *RemoteError) (depth, nodes int) {
	nodes = 1
	for _, m := range re.Errors {
		d, n := treeSize(m)
		depth, nodes = max(depth, d), nodes+n
	}
	return depth + 1, nodes
}

// cutTree copies re's tree, keeping members breadth of budget and depth
// of maxErrorDepth.
func cutTree(re *RemoteError, depth int, budget *int) *RemoteError {
	*budget--
	out := *re
	out.Errors = nil
	if depth >= maxErrorDepth {
		return &out
	}
	for _, m := range re.Errors {
		if *budget <= 0 {
			break
		}
		out.Errors = append(out.Errors, cutTree(m, depth+1, budget))
	}
	return &out
}

// decodeRemote decodes the payload of an error message. A payload that
// came over a wire is checked against the tree's limits and its members
// that are nil dropped, and the values of registered error types are
// rebuilt; one whose code this process does not know, or whose fields do
// not decode, stays as its text.
func decodeRemote(payload any) (RemoteError, error) {
	if re, ok := payload.(RemoteError); ok {
		return re, nil // boxed in this process, within the limits
	}
	re, err := decode[RemoteError](payload)
	if err != nil {
		return re, err
	}
	nodes := 0
	if err := resolveTree(&re, 1, &nodes); err != nil {
		return re, err
	}
	return re, nil
}

// resolveTree checks re's tree, at depth, against the limits (nodes counts
// the errors seen) and rebuilds its registered values.
func resolveTree(re *RemoteError, depth int, nodes *int) error {
	if depth > maxErrorDepth {
		return fmt.Errorf("%w: error tree deeper than %d", transport.ErrMalformed, maxErrorDepth)
	}
	if *nodes++; *nodes > maxErrorNodes {
		return fmt.Errorf("%w: error tree of more than %d errors", transport.ErrMalformed, maxErrorNodes)
	}
	if re.TypeCode != "" && re.value == nil {
		if et := loadTypes().byCode[re.TypeCode]; et != nil {
			if v, err := et.build(re.Fields); err == nil {
				re.value = v
			}
		}
	}
	members := re.Errors[:0:0]
	for _, m := range re.Errors {
		if m == nil {
			continue
		}
		if err := resolveTree(m, depth+1, nodes); err != nil {
			return err
		}
		members = append(members, m)
	}
	re.Errors = members
	return nil
}

// withoutUnencodable returns re, a tree that failed to be sent with err,
// to be sent again without the values the codec cannot carry, if err says
// it could not be encoded and re holds such values (see dropUnencodable);
// retry is false otherwise. One member's field must not cost a nursery's
// report its other members, as replacing the whole tree would.
func withoutUnencodable(re RemoteError, err error) (_ RemoteError, retry bool) {
	if !errors.Is(err, transport.ErrEncode) {
		return re, false
	}
	return dropUnencodable(re)
}

// dropUnencodable returns re's tree with the value (TypeCode and Fields)
// of every error in it whose fields the codec cannot carry dropped, each
// such error left as its text, type and code, copying the nodes on the
// way to those it changes (members may be shared); dropped says whether
// there was any.
func dropUnencodable(re RemoteError) (out RemoteError, dropped bool) {
	out = re
	if re.Fields != nil {
		if _, err := transport.RoundTrip(transport.Msg{Kind: transport.KindError, Payload: re.Fields}); err != nil {
			out.TypeCode, out.Fields, dropped = "", nil, true
		}
	}
	copied := false
	for i, m := range re.Errors {
		if m == nil {
			continue
		}
		if mo, d := dropUnencodable(*m); d {
			if !copied {
				out.Errors, copied = slices.Clone(re.Errors), true
			}
			out.Errors[i], dropped = &mo, true
		}
	}
	return out, dropped
}
