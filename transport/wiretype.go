package transport

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Which Go types a wire connection carries faithfully. The in-memory
// backend passes any Go value, but a value of the same program is also
// meant to cross a process: [CheckType] says, from a type alone, whether it
// can, so that a program learns of a type that cannot when it declares it
// rather than when a value of it first meets a wire.
//
// A type crosses if msgpack, as this package configures it, encodes every
// value of it and decodes the encoding back into an equal value of the same
// type:
//
//   - booleans, integers, floats, strings, and arrays, slices, maps and
//     pointers of such types (a pointer travels as the value it points to,
//     so two pointers to one value arrive as two values; a nil one as nil);
//     a []byte travels as a msgpack byte string, a nil one as nil and an
//     empty one as an empty, non-nil one; a time.Duration as its int64
//     nanoseconds; numbers decode by the number rule (number.go);
//   - structs whose fields all cross, each exported or tagged
//     `msgpack:"-"` (embedded structs count by their own fields, which
//     msgpack inlines);
//   - any type that encodes itself, by implementing one of msgpack's
//     CustomEncoder or Marshaler, or encoding's BinaryMarshaler or
//     TextMarshaler (time.Time among them; see [timeExtID]): what it
//     writes is its own business;
//   - the empty interface (any), which decodes into msgpack's generic
//     types, not into the type that was sent: an integer as the sized
//     type of its encoding's width (int8 to int64, uint8 to uint64, the
//     narrowest that holds it), float32 or float64, string, []byte, []any,
//     map[string]any, time.Time (see [Decode] and the number rule for
//     reading those into a numeric type).
//
// Refused, with the path to the first field that cannot cross: channels,
// funcs, unsafe pointers and complex numbers (msgpack encodes none of them);
// unexported struct fields, which msgpack would drop without a word; and
// interfaces with methods (error among them), into which a decoder has no
// concrete type to decode. Each type is checked once per walk, so a
// recursive type (type T []T, type M map[string]M, type P *P, or structs
// that refer to each other) ends where it repeats.

// wireChecks caches [CheckType]'s answer per type: an error, or nil.
var wireChecks sync.Map // reflect.Type -> error

// CheckType reports whether values of t cross a wire connection
// faithfully, as described at the top of wiretype.go. The error, which
// matches [ErrEncode], names t, the path to the offending field (such as
// ".Inner.C" or ".Items[]") and its type. The answer is computed once per
// type.
func CheckType(t reflect.Type) error {
	if t == nil { // the type of a nil interface: any
		return nil
	}
	if err, ok := wireChecks.Load(t); ok {
		err, _ := err.(error)
		return err
	}
	var err error
	if path, bad, why := walkType(t, nil, make(map[reflect.Type]bool)); why != "" {
		where := ""
		if len(path) > 0 {
			where = " field " + strings.Join(path, "")
		}
		err = &typeError{fmt.Sprintf("type %s%s: %s %s", t, where, bad, why)}
	}
	wireChecks.Store(t, err)
	return err
}

// typeError is [CheckType]'s error: its text names the type, field and
// reason without a package prefix, for the caller to put in its own
// context, and it matches [ErrEncode].
type typeError struct{ msg string }

func (e *typeError) Error() string        { return e.msg }
func (e *typeError) Is(target error) bool { return target == ErrEncode }

// walkType checks t, reached by path, and returns the path to and the type
// of the first part that cannot cross, with the reason, or why == "".
// seen holds the composite types walked or being walked: one met again
// either crosses or is being checked further up, so a recursive type ends
// where it repeats.
func walkType(t reflect.Type, path []string, seen map[reflect.Type]bool) (_ []string, bad reflect.Type, why string) {
	if marshalsItself(t) {
		return nil, nil, ""
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Array, reflect.Slice, reflect.Map, reflect.Struct:
		if seen[t] {
			return nil, nil, ""
		}
		seen[t] = true
	}
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return path, t, "cannot cross a process"
	case reflect.Complex64, reflect.Complex128:
		return path, t, "cannot cross a process: the codec has no complex numbers"
	case reflect.Interface:
		if t.NumMethod() > 0 {
			return path, t, "cannot cross a process: an interface with methods has no type to decode into"
		}
	case reflect.Pointer:
		return walkType(t.Elem(), path, seen)
	case reflect.Array, reflect.Slice:
		return walkType(t.Elem(), append(path, "[]"), seen)
	case reflect.Map:
		if p, bad, why := walkType(t.Key(), append(path, "[key]"), seen); why != "" {
			return p, bad, why
		}
		return walkType(t.Elem(), append(path, "[value]"), seen)
	case reflect.Struct:
		return walkStruct(t, path, seen)
	}
	return nil, nil, ""
}

// walkStruct checks the fields of t as msgpack encodes them.
func walkStruct(t reflect.Type, path []string, seen map[reflect.Type]bool) (_ []string, bad reflect.Type, why string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("msgpack") == "-" || f.Name == "_" || f.Name == "_msgpack" {
			continue
		}
		fpath := append(path[:len(path):len(path)], "."+f.Name)
		if !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct) {
			return fpath, f.Type, "is unexported and would be dropped silently (export it, tag it `msgpack:\"-\"`, or give the type a marshaller)"
		}
		if p, bad, why := walkType(f.Type, fpath, seen); why != "" {
			return p, bad, why
		}
	}
	return nil, nil, ""
}
