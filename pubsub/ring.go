package pubsub

// ring is a FIFO queue of at most max values that drops its oldest value
// to make room. Its buffer grows by doubling up to max, so a large window
// costs memory only when it is used.
type ring[T any] struct {
	buf      []T
	first, n int
	max      int
}

// push appends v and returns the oldest value if it was dropped for it.
func (r *ring[T]) push(v T) (old T, dropped bool) {
	if r.n == r.max {
		var zero T
		old = r.buf[r.first]
		r.buf[r.first] = zero
		r.first = (r.first + 1) % len(r.buf)
		r.n--
		dropped = true
	} else if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.first+r.n)%len(r.buf)] = v
	r.n++
	return old, dropped
}

func (r *ring[T]) grow() {
	size := min(max(2*len(r.buf), 16), r.max)
	buf := make([]T, size)
	for i := range r.n {
		buf[i] = r.buf[(r.first+i)%len(r.buf)]
	}
	r.buf, r.first = buf, 0
}

// pop removes and returns the oldest value.
func (r *ring[T]) pop() (T, bool) {
	var zero T
	if r.n == 0 {
		return zero, false
	}
	v := r.buf[r.first]
	r.buf[r.first] = zero
	r.first = (r.first + 1) % len(r.buf)
	r.n--
	return v, true
}

func (r *ring[T]) len() int { return r.n }

// keep drops the values for which ok is false, in order.
func (r *ring[T]) keep(ok func(T) bool) {
	var zero T
	j := 0
	for i := range r.n {
		v := r.buf[(r.first+i)%len(r.buf)]
		r.buf[(r.first+i)%len(r.buf)] = zero
		if ok(v) {
			r.buf[(r.first+j)%len(r.buf)] = v
			j++
		}
	}
	r.n = j
}

// reset empties the queue and releases its buffer.
func (r *ring[T]) reset() {
	r.buf, r.first, r.n = nil, 0, 0
}
