package engine

// chunks hands out copies of small slices (one record's JSON, one
// record's numbers) from bigger slices shared by the records of a
// request, so that a request of many records makes a few allocations
// instead of one per record. A chunk holds what the records still to map
// are likely to need (the size of this one times their number), at most
// max elements, and never less than one record; so a request of one
// record gets a slice of its exact size, and a chunk kept alive by one
// record (the recent-records cache holds records' JSON) holds no more
// than its request's records.
type chunks[T any] struct {
	buf []T
	max int
}

// copy returns a copy of v with its capacity cut to its length; left is
// how many records, this one included, are still to come.
func (c *chunks[T]) copy(v []T, left int) []T {
	if cap(c.buf)-len(c.buf) < len(v) {
		c.buf = make([]T, 0, max(len(v), min(c.max, len(v)*left)))
	}
	start := len(c.buf)
	c.buf = append(c.buf, v...)
	return c.buf[start:len(c.buf):len(c.buf)]
}

// room returns a slice of length 0 and capacity n, from a chunk, for the
// caller to append at most n elements to and then hand to keep.
func (c *chunks[T]) room(n, left int) []T {
	if cap(c.buf)-len(c.buf) < n {
		c.buf = make([]T, 0, max(n, min(c.max, n*left)))
	}
	return c.buf[len(c.buf) : len(c.buf) : len(c.buf)+n]
}

// keep takes v, built in the slice room returned, as used, and returns it
// with its capacity cut to its length.
func (c *chunks[T]) keep(v []T) []T {
	c.buf = c.buf[:len(c.buf)+len(v)]
	return v[:len(v):len(v)]
}
