package tractor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tractor-go/tractor"
)

// The types below are the cases of TestDeclarationRefusesWhatCannotCross
// and TestDeclarationAcceptsWhatCrosses.

type declInner struct{ C chan int }

type declChanDeep struct{ Inner declInner }

type declFunc struct{ F func() }

type declUnsafe struct{ P unsafe.Pointer }

type declComplex struct{ Z complex128 }

type declUnexported struct {
	Name  string
	count int
}

type declError struct{ Err error }

type declStringer struct{ S fmt.Stringer }

type declMapOfChans struct{ M map[string]chan int }

type declSliceOfFuncs struct{ Fs []func() }

type declUnexportedEmbedded struct {
	declHidden
}

type declHidden int

// declRecursiveBad is recursive and holds a chan below its recursion.
type declRecursiveBad struct {
	Next *declRecursiveBad
	Ch   chan int
}

// declNode is recursive through a pointer, a slice and a map.
type declNode struct {
	Value int
	Next  *declNode
	Kids  []declNode
	ByKey map[string]*declNode
}

// declSkipped has an unexported field and a func that msgpack skips by tag.
type declSkipped struct {
	Name  string
	cache int      `msgpack:"-"`
	Hook  func()   `msgpack:"-"`
	_     struct{} // blank fields carry nothing
}

// declBinary keeps its unexported state through its own marshaller.
type declBinary struct{ n int }

func (b declBinary) MarshalBinary() ([]byte, error) { return []byte{byte(b.n)}, nil }
func (b *declBinary) UnmarshalBinary(p []byte) error {
	b.n = int(p[0])
	return nil
}

// declCustom encodes itself with msgpack's CustomEncoder.
type declCustom struct{ ch chan int }

func (declCustom) EncodeMsgpack(e *msgpack.Encoder) error  { return e.EncodeNil() }
func (*declCustom) DecodeMsgpack(d *msgpack.Decoder) error { return d.Skip() }

type declEmbedsStruct struct {
	declEmbedded
	Extra string
}

type declEmbedded struct{ A, B int }

type declCommon struct {
	When  time.Time
	Took  time.Duration
	Bytes []byte
	Any   any
	Anys  map[string]any
	Ptr   *int
	Arr   [3]uint8
}

// declPanic returns the panic value of declare, as a string, or "".
func declPanic(declare func()) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = fmt.Sprint(p)
		}
	}()
	declare()
	return ""
}

// TestDeclarationRefusesWhatCannotCross: declaring an endpoint whose
// argument, result or item type a process cannot carry faithfully panics
// at once, naming the endpoint, the role, the type, the field and why.
func TestDeclarationRefusesWhatCannotCross(t *testing.T) {
	cases := []struct {
		name    string
		declare func(name string)
		want    string // after `tractor: <Kind> "<name>": `
	}{
		{"NestedChan", func(n string) {
			tractor.Func(n, func(context.Context, declChanDeep) (int, error) { return 0, nil })
		}, "argument type tractor_test.declChanDeep field .Inner.C: chan int cannot cross a process"},
		{"Func", func(n string) {
			tractor.Func(n, func(context.Context, int) (declFunc, error) { return declFunc{}, nil })
		}, "result type tractor_test.declFunc field .F: func() cannot cross a process"},
		{"TopLevelChan", func(n string) {
			tractor.Func(n, func(context.Context, chan int) (int, error) { return 0, nil })
		}, "argument type chan int: chan int cannot cross a process"},
		{"UnsafePointer", func(n string) {
			tractor.Func(n, func(context.Context, declUnsafe) (int, error) { return 0, nil })
		}, "argument type tractor_test.declUnsafe field .P: unsafe.Pointer cannot cross a process"},
		{"Complex", func(n string) {
			tractor.Func(n, func(context.Context, declComplex) (int, error) { return 0, nil })
		}, "argument type tractor_test.declComplex field .Z: complex128 cannot cross a process: the codec has no complex numbers"},
		{"UnexportedField", func(n string) {
			tractor.Func(n, func(context.Context, declUnexported) (int, error) { return 0, nil })
		}, "argument type tractor_test.declUnexported field .count: int is unexported and would be dropped silently"},
		{"UnexportedEmbeddedNonStruct", func(n string) {
			tractor.Func(n, func(context.Context, declUnexportedEmbedded) (int, error) { return 0, nil })
		}, "argument type tractor_test.declUnexportedEmbedded field .declHidden: tractor_test.declHidden is unexported"},
		{"ErrorField", func(n string) {
			tractor.Func(n, func(context.Context, int) (declError, error) { return declError{}, nil })
		}, "result type tractor_test.declError field .Err: error cannot cross a process: an interface with methods has no type to decode into"},
		{"InterfaceWithMethods", func(n string) {
			tractor.Func(n, func(context.Context, declStringer) (int, error) { return 0, nil })
		}, "argument type tractor_test.declStringer field .S: fmt.Stringer cannot cross a process"},
		{"MapValue", func(n string) {
			tractor.Func(n, func(context.Context, declMapOfChans) (int, error) { return 0, nil })
		}, "argument type tractor_test.declMapOfChans field .M[value]: chan int cannot cross a process"},
		{"SliceElement", func(n string) {
			tractor.Func(n, func(context.Context, declSliceOfFuncs) (int, error) { return 0, nil })
		}, "argument type tractor_test.declSliceOfFuncs field .Fs[]: func() cannot cross a process"},
		{"Recursive", func(n string) {
			tractor.Func(n, func(context.Context, declRecursiveBad) (int, error) { return 0, nil })
		}, "argument type tractor_test.declRecursiveBad field .Ch: chan int cannot cross a process"},
		{"StreamItem", func(n string) {
			tractor.Stream(n, func(context.Context, int, func(declFunc) error) error { return nil })
		}, "item type tractor_test.declFunc field .F: func() cannot cross a process"},
		{"StreamArgument", func(n string) {
			tractor.Stream(n, func(context.Context, declComplex, func(int) error) error { return nil })
		}, "argument type tractor_test.declComplex field .Z: complex128"},
		{"CtxArgument", func(n string) {
			tractor.Ctx(n, func(*tractor.Context, *declChanDeep) (int, error) { return 0, nil })
		}, "argument type *tractor_test.declChanDeep field .Inner.C: chan int cannot cross a process"},
		{"CtxResult", func(n string) {
			tractor.Ctx(n, func(*tractor.Context, int) (declUnexported, error) { return declUnexported{}, nil })
		}, "result type tractor_test.declUnexported field .count: int is unexported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "test.decl.refused." + tc.name
			got := declPanic(func() { tc.declare(name) })
			kind := "Func"
			switch {
			case strings.HasPrefix(tc.name, "Stream"):
				kind = "Stream"
			case strings.HasPrefix(tc.name, "Ctx"):
				kind = "Ctx"
			}
			want := fmt.Sprintf("tractor: %s %q: %s", kind, name, tc.want)
			if !strings.HasPrefix(got, want) {
				t.Fatalf("declaring panicked with\n\t%q\nwant a message starting\n\t%q", got, want)
			}
		})
	}
}

// TestDeclarationAcceptsWhatCrosses: types a process carries faithfully
// declare without a panic: plain values, recursive types, fields skipped
// by tag, types that marshal themselves (unexported fields, even a chan,
// being their own business), embedded structs, any, and the common
// library types.
func TestDeclarationAcceptsWhatCrosses(t *testing.T) {
	cases := []struct {
		name    string
		declare func(name string)
	}{
		{"Recursive", func(n string) {
			tractor.Func(n, func(context.Context, declNode) (*declNode, error) { return nil, nil })
		}},
		{"SkippedByTag", func(n string) {
			tractor.Func(n, func(context.Context, declSkipped) (int, error) { return 0, nil })
		}},
		{"BinaryMarshaler", func(n string) {
			tractor.Func(n, func(context.Context, declBinary) ([]declBinary, error) { return nil, nil })
		}},
		{"CustomEncoder", func(n string) {
			tractor.Func(n, func(context.Context, declCustom) (int, error) { return 0, nil })
		}},
		{"EmbeddedStruct", func(n string) {
			tractor.Func(n, func(context.Context, declEmbedsStruct) (int, error) { return 0, nil })
		}},
		{"Any", func(n string) {
			tractor.Func(n, func(context.Context, any) (any, error) { return nil, nil })
		}},
		{"CommonTypes", func(n string) {
			tractor.Stream(n, func(context.Context, declCommon, func(declCommon) error) error { return nil })
		}},
		{"Ctx", func(n string) {
			tractor.Ctx(n, func(*tractor.Context, map[string][]time.Time) (time.Duration, error) { return 0, nil })
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := declPanic(func() { tc.declare("test.decl.accepted." + tc.name) }); got != "" {
				t.Fatalf("declaring panicked: %s", got)
			}
		})
	}
}
