package tractor

import "reflect"

// EndpointFunc returns the entry address of the Go function that serves
// the endpoint named name, the fn given to [Func], [Stream] or [Ctx]; ok
// is false if no endpoint of this binary has that name. Give it to
// runtime.FuncForPC for the function's name, file and line: a debugger
// uses it to say where a task that returned an error was written, when
// the error does not carry the frames it was made in.
func EndpointFunc(name string) (pc uintptr, ok bool) {
	ep, ok := lookupEndpoint(name)
	if !ok {
		return 0, false
	}
	f, ok := ep.(interface{ fnValue() any })
	if !ok {
		return 0, false
	}
	return reflect.ValueOf(f.fnValue()).Pointer(), true
}

func (e *FuncEndpoint[A, R]) fnValue() any   { return e.fn }
func (e *StreamEndpoint[A, T]) fnValue() any { return e.fn }
func (e *CtxEndpoint[A, R]) fnValue() any    { return e.fn }
